// The default main() of eddy_worker_main. In its own object file so that a binary defining its
// own main() (to pass WorkerHooks to RunWorkerMain) does not pull this one from the archive.
#include "bin/worker_main.h"

int main(int argc, char** argv) { return eddy::RunWorkerMain(argc, argv); }
