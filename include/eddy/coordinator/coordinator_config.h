#pragma once
// eddy-coordinator's configuration: a YAML file plus `key=value` overrides, both going through one
// table of dotted keys (docs/coordinator.md lists them), so the file and --set accept exactly the
// same names and values. Unknown keys are errors.

#include <string>

#include "eddy/common/status.h"
#include "eddy/coordinator/checkpoint_coordinator.h"
#include "eddy/storage/object_store.h"

namespace eddy::coordinator {

struct CoordinatorConfig {
  // host:port for the gRPC service; port 0 picks a free port (the handle reports it).
  std::string listen_address = "0.0.0.0:6123";
  // checkpoint.*, plus expected_workers, max_parallelism and heartbeat_timeout.
  CoordinatorOptions checkpoint;
  storage::StorageConfig storage;  // storage.*
  std::string log_level = "info";
  std::string log_format = "text";
};

// Errors name the file, the line and the key: "coord.yaml:7: checkpoint.interval: ...". Only
// the values are checked here; call ValidateCoordinatorConfig after the overrides.
Result<CoordinatorConfig> LoadCoordinatorConfigFile(const std::string& path);
Result<CoordinatorConfig> LoadCoordinatorConfigString(const std::string& yaml,
                                                      const std::string& file_name);
// "checkpoint.interval=5s". Errors name the override.
Status ApplyCoordinatorOverride(CoordinatorConfig& config, const std::string& key_equals_value);
// Cross-field checks after all overrides (storage.uri set, options in range).
Status ValidateCoordinatorConfig(const CoordinatorConfig& config);

}  // namespace eddy::coordinator
