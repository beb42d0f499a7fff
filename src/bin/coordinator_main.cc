// eddy-coordinator: coordinates checkpoints of eddy workers. See `eddy-coordinator --help`.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "eddy/common/logging.h"
#include "eddy/coordinator/coordinator.h"
#include "eddy/coordinator/coordinator_config.h"

namespace {

// Documented in docs/coordinator.md.
constexpr int kExitOk = 0;
constexpr int kExitBadConfig = 2;  // also usage errors
constexpr int kExitRuntimeError = 3;

constexpr const char* kUsage =
    R"(Usage: eddy-coordinator --config FILE [--set KEY=VALUE]... [--validate]
       eddy-coordinator --help | --version

Coordinates the checkpoints of eddy workers: assigns key groups, triggers a checkpoint every
checkpoint.interval, writes chk-N/manifest.pb and LATEST to storage, deletes old checkpoints,
and on start restores the newest checkpoint that verifies.

Options:
  --config FILE      settings (YAML; keys in docs/coordinator.md)
  --set KEY=VALUE    override one setting, e.g. --set checkpoint.interval=5s (repeatable,
                     applied after --config; --config may then be left out)
  --validate         check the settings and exit
  --help             this text
  --version          the version

Signals: SIGTERM or SIGINT stops the coordinator (no checkpoint completes after that) and exits 0.
Exit codes: 0 success; 2 invalid settings or usage; 3 runtime error (storage, recovery, bind).
)";

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> overrides;
  bool validate = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (a == "--version") {
      std::printf("eddy-coordinator %s\n", EDDY_VERSION);
      return kExitOk;
    } else if (a == "--validate") {
      validate = true;
    } else if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--set" && i + 1 < argc) {
      overrides.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "eddy-coordinator: %s '%s'\n%s",
                   a == "--config" || a == "--set" ? "missing value for" : "unknown argument",
                   a.c_str(), kUsage);
      return kExitBadConfig;
    }
  }
  eddy::coordinator::CoordinatorConfig config;
  if (!config_path.empty()) {
    auto loaded = eddy::coordinator::LoadCoordinatorConfigFile(config_path);
    if (!loaded.ok()) {
      std::fprintf(stderr, "eddy-coordinator: %s\n", loaded.status().message().c_str());
      return kExitBadConfig;
    }
    config = std::move(loaded).value();
  }
  for (const auto& o : overrides) {
    if (eddy::Status st = eddy::coordinator::ApplyCoordinatorOverride(config, o); !st.ok()) {
      std::fprintf(stderr, "eddy-coordinator: %s\n", st.message().c_str());
      return kExitBadConfig;
    }
  }
  if (eddy::Status st = eddy::coordinator::ValidateCoordinatorConfig(config); !st.ok()) {
    std::fprintf(stderr, "eddy-coordinator: %s%s\n",
                 config_path.empty() ? "" : (config_path + ": ").c_str(), st.message().c_str());
    return kExitBadConfig;
  }
  if (eddy::Status st = eddy::ConfigureLogging(config.log_level, config.log_format); !st.ok()) {
    std::fprintf(stderr, "eddy-coordinator: %s\n", st.message().c_str());
    return kExitBadConfig;
  }
  if (validate) {
    // Opening checks the storage URI and settings without contacting S3.
    auto store = eddy::storage::OpenObjectStore(config.storage);
    if (!store.ok()) {
      std::fprintf(stderr, "eddy-coordinator: storage: %s\n", store.status().message().c_str());
      return kExitBadConfig;
    }
    std::printf("%s: OK (listen %s, %u worker(s), storage %s)\n",
                config_path.empty() ? "settings" : config_path.c_str(),
                config.listen_address.c_str(), config.checkpoint.expected_workers,
                (*store)->Describe().c_str());
    return kExitOk;
  }

  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // sigwait below is the only place that receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto handle = eddy::coordinator::StartEmbeddedCoordinator(config);
  if (!handle.ok()) {
    spdlog::error("eddy-coordinator: {}", handle.status().ToString());
    bool bad_config = handle.status().code() == eddy::StatusCode::kInvalidArgument;
    return bad_config ? kExitBadConfig : kExitRuntimeError;
  }
  // The bound address on stdout, for scripts and tests that asked for port 0.
  std::printf("listening on %s\n", (*handle)->address().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("eddy-coordinator: signal {}, stopping", sig);
  (*handle)->Stop();
  return kExitOk;
}
