#pragma once
// The worker's own settings (everything that is not the StateFun module): a YAML file, then
// command-line overrides. docs/configuration.md documents every key.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"

namespace eddy {

// Checkpoints and exactly-once recovery (docs/design/checkpoints.md, docs/operations.md). Off
// unless `coordinator` is set or `embedded` is true; then state, in-flight messages and ingress
// positions come from checkpoints instead of committed Kafka offsets.
struct WorkerCheckpointConfig {
  std::string coordinator;  // "host:port" of an external eddy-coordinator
  bool embedded = false;    // run the coordinator inside this worker (single-worker jobs)
  // The embedded coordinator's settings (an external one has its own file).
  Millis interval{10000};
  Millis timeout{60000};  // also bounds the wait for the coordinator's assignment at startup
  uint32_t retain = 3;
  // Where checkpoints live; required in both modes (the worker uploads its own files).
  std::string storage_uri;  // file:///path or s3://bucket/prefix
  std::string storage_endpoint;
  std::string storage_region;  // empty: AWS_REGION / AWS_DEFAULT_REGION / us-east-1
  std::string storage_access_key_id;
  std::string storage_secret_access_key;
  std::string worker_id;    // empty: the host name; [A-Za-z0-9._~-]
  std::string job = "eddy";  // names exactly-once transactional ids: eddy-<job>-<worker>-<egress>

  bool enabled() const { return embedded || !coordinator.empty(); }
};

struct WorkerConfig {
  std::string state_dir = "./eddy-state";
  uint32_t max_parallelism = 128;   // number of key groups, fixed for the life of the state
  uint32_t shards = 0;              // worker threads owning key groups; 0 = number of cores
  std::string admin_address = "127.0.0.1";
  uint16_t admin_port = 8558;       // 0 = pick a free port (written to the log)

  // Limits.
  uint64_t max_buffered_messages = 100000;  // all mailboxes together; ingestion pauses above it
  uint64_t max_inflight_per_shard = 32768;  // like statefun.async.max-per-task

  // Write-back state cache over all shards (0 = off: every reply is written to RocksDB at
  // once); nullopt ("auto") = StateCacheBytesFor(AvailableMemoryBytes()). Without checkpoints
  // dirty state is written every state_flush_interval (or when it fills the cache) and offsets
  // wait for it; with checkpoints it is written at cuts (or when it fills the cache).
  std::optional<uint64_t> state_cache_bytes;
  Millis state_flush_interval{5000};

  // What happens to a batch whose function kept failing for the whole call budget.
  // "retry": keep the messages and retry the address with backoff (nothing is dropped; the
  //          address stays blocked, other addresses flow).
  // "dead-letter": send each message to the dead-letter Kafka topic, then move on.
  std::string failure_policy = "retry";
  Millis retry_backoff_max{30000};
  std::string dead_letter_topic;    // required with dead-letter; also receives null-key records
  std::string dead_letter_address;  // bootstrap servers; default: the first ingress's address

  // Offsets of fully processed ingress records are committed to Kafka this often.
  Millis commit_interval{1000};

  // How long SIGTERM waits for in-flight work before giving up (uncommitted records are then
  // read again after restart).
  Millis drain_timeout{30000};

  WorkerCheckpointConfig checkpoint;  // checkpoint.*

  std::string log_level = "info";   // trace|debug|info|warn|error
  std::string log_format = "text";  // text|json
};

// The "auto" state cache size for a process that may use `available_memory` bytes: a quarter
// of it (RocksDB's memtables and block cache, buffers and the functions need the rest), at least
// 64 MiB.
uint64_t StateCacheBytesFor(uint64_t available_memory);

// Reads a worker config YAML. Unknown keys are errors (typos should not be silent).
Result<WorkerConfig> LoadWorkerConfigFile(const std::string& path);
Result<WorkerConfig> LoadWorkerConfigString(const std::string& yaml, const std::string& file_name);

// Applies "key=value" overrides (same key names as the YAML, e.g. admin_port=0). Checks the one
// value; rules that span keys (dead-letter needs dead_letter_topic) are left to
// ValidateWorkerConfig, so overrides can be given in any order.
Status ApplyWorkerOverride(WorkerConfig& config, const std::string& key_equals_value);

// Checks every value and the rules between keys. The loaders call it; call it again after the
// last ApplyWorkerOverride.
Status ValidateWorkerConfig(const WorkerConfig& config);

}  // namespace eddy
