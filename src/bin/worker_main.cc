// eddy-worker: runs StateFun functions from a module.yaml. See `eddy-worker --help`.
#include "bin/worker_main.h"

#include <signal.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "eddy/common/logging.h"
#include "eddy/config/module_spec.h"
#include "eddy/config/worker_config.h"
#include "worker/worker_app.h"

namespace {

// Documented in docs/operations.md.
constexpr int kExitOk = 0;
constexpr int kExitRuntimeError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInvalidConfig = 3;

constexpr const char* kUsage = R"(Usage: eddy-worker --module FILE [--config FILE] [--set KEY=VALUE]...
       eddy-worker --validate FILE [--config FILE]
       eddy-worker --help | --version

Runs StateFun 3.x functions described by a module.yaml: reads the Kafka ingresses, invokes the
functions with their state (kept in RocksDB under state_dir), and writes the Kafka egresses.

Options:
  --module FILE      the StateFun module.yaml (kinds io.statefun.endpoints.v2/http, .v1/http,
                     io.statefun.kafka.v1/ingress, io.statefun.kafka.v1/egress, and Eddy's
                     io.eddy.generator.v1/ingress)
  --config FILE      worker settings (YAML; see config/worker.example.yaml)
  --set KEY=VALUE    override one worker setting, e.g. --set admin_port=0 (repeatable,
                     applied after --config)
  --validate FILE    check a module.yaml (and --config if given) and exit
  --help             this text
  --version          the version

Signals: SIGTERM or SIGINT drains (ingestion stops, in-flight work finishes, egress is flushed,
offsets are committed, state is closed) and exits 0. With checkpoints (checkpoint.embedded or
checkpoint.coordinator) a restart restores the last completed checkpoint instead.

Exit codes: 0 success; 1 runtime error (startup failed, or drain incomplete);
            2 usage error; 3 invalid module or config.
)";

struct Args {
  std::string module;
  std::string config;
  std::vector<std::string> overrides;
  bool validate = false;
};

int ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "eddy-worker: %s needs a value\n%s", flag, kUsage);
        return nullptr;
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (a == "--version") {
      std::printf("eddy-worker %s\n", EDDY_VERSION);
      return kExitOk;
    } else if (a == "--module") {
      const char* v = value("--module");
      if (!v) return kExitUsage;
      args.module = v;
    } else if (a == "--validate") {
      const char* v = value("--validate");
      if (!v) return kExitUsage;
      args.module = v;
      args.validate = true;
    } else if (a == "--config") {
      const char* v = value("--config");
      if (!v) return kExitUsage;
      args.config = v;
    } else if (a == "--set") {
      const char* v = value("--set");
      if (!v) return kExitUsage;
      args.overrides.push_back(v);
    } else {
      std::fprintf(stderr, "eddy-worker: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return kExitUsage;
    }
  }
  if (args.module.empty()) {
    std::fprintf(stderr, "eddy-worker: --module is required\n%s", kUsage);
    return kExitUsage;
  }
  return -1;  // continue
}

}  // namespace

namespace eddy {

int RunWorkerMain(int argc, char** argv, WorkerHooks hooks) {
  Args args;
  if (int rc = ParseArgs(argc, argv, args); rc >= 0) return rc;

  eddy::WorkerConfig config;
  if (!args.config.empty()) {
    auto loaded = eddy::LoadWorkerConfigFile(args.config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "eddy-worker: %s\n", loaded.status().message().c_str());
      return kExitInvalidConfig;
    }
    config = std::move(loaded).value();
  }
  for (const auto& o : args.overrides) {
    eddy::Status st = eddy::ApplyWorkerOverride(config, o);
    if (!st.ok()) {
      std::fprintf(stderr, "eddy-worker: %s\n", st.message().c_str());
      return kExitInvalidConfig;
    }
  }
  if (eddy::Status st = eddy::ValidateWorkerConfig(config); !st.ok()) {
    std::fprintf(stderr, "eddy-worker: %s\n", st.message().c_str());
    return kExitInvalidConfig;
  }
  auto module = eddy::LoadModuleFile(args.module);
  if (!module.ok()) {
    std::fprintf(stderr, "eddy-worker: %s\n", module.status().message().c_str());
    return kExitInvalidConfig;
  }
  if (args.validate) {
    // Loading the embedded libraries is part of validation: a broken library fails here.
    auto embedded = eddy::LoadEmbeddedFunctions(module.value());
    if (!embedded.ok()) {
      std::fprintf(stderr, "eddy-worker: %s\n", embedded.status().message().c_str());
      return kExitInvalidConfig;
    }
    std::printf("%s: OK (%zu endpoints, %zu Kafka ingresses, %zu generator ingresses, "
                "%zu egresses)\n",
                args.module.c_str(), module->endpoints.size(),
                module->kafka_ingresses.size(), module->generator_ingresses.size(),
                module->kafka_egresses.size());
    return kExitOk;
  }
  if (eddy::Status st = eddy::ConfigureLogging(config.log_level, config.log_format); !st.ok()) {
    std::fprintf(stderr, "eddy-worker: %s\n", st.message().c_str());
    return kExitInvalidConfig;
  }

  // Signals are taken synchronously by this thread; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  eddy::WorkerApp app(std::move(module).value(), config, std::move(hooks));
  if (eddy::Status st = app.Start(); !st.ok()) {
    spdlog::critical("startup failed: {}", st.ToString());
    (void)app.Drain(std::chrono::milliseconds(0));
    return kExitRuntimeError;
  }
  for (;;) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
    app.Tick();
    if (std::optional<eddy::Status> fatal = app.Fatal()) {
      spdlog::critical("stopping: {}", fatal->ToString());
      (void)app.Drain(std::chrono::milliseconds(0));
      return kExitRuntimeError;
    }
  }
  eddy::Status st = app.Drain(config.drain_timeout);
  return st.ok() ? kExitOk : kExitRuntimeError;
}

}  // namespace eddy
