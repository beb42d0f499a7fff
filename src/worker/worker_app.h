#pragma once
// WorkerApp: builds the worker's object graph from a module and a worker config, starts it in
// dependency order (state, egresses, shards, router, ingresses, admin) and stops it in reverse,
// draining in-flight work first. The process entry point (src/bin) only parses arguments and
// waits for signals.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/config/worker_config.h"
#include "eddy/coordinator.pb.h"
#include "eddy/io/exactly_once_egress.h"

namespace eddy {

class EmbeddedFunctions;

// Loads the embedded function libraries (and functions linked into the binary) that the module's
// io.eddy.embedded.v1/module documents name; null when there are none. Used by Start and by
// `eddy-worker --validate`, so a library that cannot load fails validation too.
Result<std::shared_ptr<const EmbeddedFunctions>> LoadEmbeddedFunctions(const ModuleSpec& module);

// Seams for custom worker binaries (RunWorkerMain, src/bin/worker_main.h); an empty member
// keeps the default. The crash tests use them to put exactly-once egresses on an
// out-of-process fake transactional broker, because the dev broker's transactions are a stub.
struct WorkerHooks {
  // Default: MakeKafkaTransactionalProducer / MakeKafkaControlTopicReader (librdkafka).
  std::function<Result<TransactionalProducerPtr>(const KafkaEgressSpec&,
                                                 std::string transactional_id)>
      transactional_producer;
  std::function<Result<ControlTopicReaderPtr>(const KafkaEgressSpec&)> control_topic_reader;
};

class WorkerApp {
 public:
  WorkerApp(ModuleSpec module, WorkerConfig config, WorkerHooks hooks = {});
  ~WorkerApp();
  WorkerApp(const WorkerApp&) = delete;
  WorkerApp& operator=(const WorkerApp&) = delete;

  // Opens the state store, connects egresses, starts shards, ingresses and the admin endpoint.
  Status Start();
  // Called periodically by the owner (the main thread): closes progress epochs so ingresses can
  // commit the offsets of fully processed records.
  void Tick();
  // Graceful stop: ingestion stops, in-flight work finishes (up to drain_timeout), egress is
  // flushed, completed offsets are committed, RocksDB closes. Returns what went wrong, if anything.
  Status Drain(std::chrono::milliseconds drain_timeout);

  uint16_t admin_port() const { return admin_port_; }
  int64_t buffered_messages() const;
  // With checkpoints: set when the worker must stop and be restored (an exactly-once egress was
  // fenced by a newer instance). The owner stops the process with an error.
  std::optional<Status> Fatal() const;
  // The checkpoint this run restored (0: none, or checkpointing off).
  uint64_t restored_from() const;

 private:
  struct Parts;
  ModuleSpec module_;
  WorkerConfig config_;
  WorkerHooks hooks_;
  std::unique_ptr<Parts> parts_;
  uint16_t admin_port_ = 0;
  Status StartCheckpointing();
  Status StartExactlyOnceEgress(const KafkaEgressSpec& spec);

  std::chrono::steady_clock::time_point last_epoch_close_;
  std::string worker_id_;
  std::vector<coordinator::v1::KeyGroupRange> key_groups_;
  bool started_ = false;
  bool drained_ = false;
};

}  // namespace eddy
