#pragma once
// The eddy-worker command line (arguments, config, signals, exit codes) as a function, so a
// custom worker binary can pass WorkerHooks. Binaries that do not need hooks just link
// eddy_worker_main, whose default main() (worker_default_main.cc) calls this.

#include "worker/worker_app.h"

namespace eddy {

int RunWorkerMain(int argc, char** argv, WorkerHooks hooks = {});

}  // namespace eddy
