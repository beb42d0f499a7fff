#pragma once
// CheckpointAgent: the worker's side of checkpoints (docs/design/checkpoints.md). It is the
// CheckpointParticipant of the coordinator client and runs, on its own thread, the cut of each
// triggered checkpoint: ingresses paused at a record boundary, every shard stopped at the top of
// its loop (CutBarrier), state caches flushed, mailboxes/in-flight batches/inboxes serialized,
// the RocksDB checkpoint taken (hard links, no memtable flush), exactly-once egress epochs
// sealed, then everything released. Upload (IncrementalUploader) and the Ack run in the
// background. Complete commits the exactly-once egress of the checkpoint; Complete and Abort
// remove local checkpoint directories.
//
// Lifecycle: Create -> WaitForAssignment (startup: restore or fresh) -> Activate(targets) once
// shards and ingresses exist -> Stop (before any target is destroyed). Triggers that arrive
// before Activate are declined ("starting"). Private to src/worker.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dispatch/shard.h"
#include "eddy/checkpoint/incremental_uploader.h"
#include "eddy/checkpoint/worker_snapshot.h"
#include "eddy/coordinator/client.h"
#include "eddy/io/exactly_once_egress.h"
#include "eddy/io/generator.h"
#include "eddy/io/kafka.h"
#include "eddy/metrics/metrics.h"
#include "eddy/runtime/dead_letter.h"
#include "eddy/runtime/egress.h"
#include "eddy/state/state_backend.h"
#include "eddy/storage/object_store.h"

namespace eddy {

// What a cut touches. Plain pointers into the WorkerApp, valid until CheckpointAgent::Stop.
struct CheckpointTargets {
  StateBackend* state = nullptr;
  std::vector<Shard*> shards;
  std::vector<std::pair<std::string, KafkaIngress*>> kafka;  // ingress id
  std::vector<std::pair<std::string, GeneratorIngress*>> generators;
  std::vector<std::pair<std::string, ExactlyOnceEgress*>> exactly_once;  // egress id
  // Flushed before the Ack (at-least-once egress and dead letters are durable at the cut).
  std::vector<Egress*> flush_egresses;
  DeadLetterSink* dead_letter = nullptr;
};

struct CheckpointAgentOptions {
  std::string worker_id;
  std::string checkpoint_dir;  // local RocksDB checkpoints: <checkpoint_dir>/chk-<N>
  std::chrono::milliseconds pause_timeout{5000};  // ingress boundary + shard stop, each
  std::chrono::milliseconds flush_timeout{30000};
  int upload_threads = 2;
};

// The generator's position in a snapshot: topic "generator", partition 0, offset = sequence.
inline constexpr const char* kGeneratorTopic = "generator";

class CheckpointAgent : public coordinator::CheckpointParticipant {
 public:
  CheckpointAgent(CheckpointAgentOptions options, storage::ObjectStore* store,
                  MetricsRegistry* metrics);
  ~CheckpointAgent() override;

  // Starts the coordinator client (connects in the background).
  Status Connect(const coordinator::CoordinatorClientOptions& options);
  // The first assignment, or DeadlineExceeded.
  Result<coordinator::v1::Assignment> WaitForAssignment(std::chrono::milliseconds timeout);
  // From now on triggers are served. `key_groups` go into every Ack.
  void Activate(CheckpointTargets targets,
                std::vector<coordinator::v1::KeyGroupRange> key_groups);
  // Stops the client, the agent thread and pending uploads. Idempotent.
  void Stop();
  // Set when the worker must stop and restore (an exactly-once egress was fenced).
  std::optional<Status> fatal() const;

  // Test hook: called on the agent thread right after the RocksDB checkpoint directory of
  // checkpoint N was written (before the upload).
  void set_after_local_checkpoint(std::function<void(uint64_t, const std::string&)> hook) {
    after_local_checkpoint_ = std::move(hook);
  }

  // CheckpointParticipant (client session thread).
  void OnAssignment(const coordinator::v1::Assignment& assignment) override;
  void OnTrigger(uint64_t checkpoint_id, int64_t timestamp_unix_ms) override;
  void OnComplete(uint64_t checkpoint_id) override;
  void OnAbort(uint64_t checkpoint_id, const std::string& reason) override;
  void OnRejected(const std::string& reason) override;
  void OnConnectionChanged(bool connected) override;

 private:
  struct Local {
    std::string dir;
    size_t envelopes = 0;  // captured messages
    bool uploading = false;
    bool aborted = false;
    std::vector<PartitionPosition> kafka_positions;       // in `targets_.kafka` order,
    std::vector<std::vector<PartitionPosition>> by_ingress;  // for the informational commit
  };

  void Post(std::function<void()> task);
  void Run();
  void Cut(uint64_t id);
  void Complete(uint64_t id);
  void Abort(uint64_t id, const std::string& reason);
  void Decline(uint64_t id, const std::string& reason);
  void Uploaded(uint64_t id, std::chrono::steady_clock::time_point started,
                Result<checkpoint::UploadResult> result);
  void RemoveDir(const std::string& dir);
  Status EnsureUploader();

  const CheckpointAgentOptions options_;
  storage::ObjectStore* store_;
  coordinator::CoordinatorClientPtr client_;

  // Agent thread and its queue.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  bool active_ = false;
  std::thread thread_;
  std::optional<coordinator::v1::Assignment> assignment_;
  std::optional<Status> fatal_;
  std::map<uint64_t, Local> locals_;  // by checkpoint id, guarded by mu_
  bool uploader_stale_ = false;       // guarded by mu_
  int uploads_in_flight_ = 0;         // guarded by mu_

  // Agent-thread state.
  CheckpointTargets targets_;
  std::vector<coordinator::v1::KeyGroupRange> key_groups_;
  std::unique_ptr<checkpoint::IncrementalUploader> uploader_;
  // Cuts whose capture did not finish in time: their buffers stay alive for the late shards.
  std::vector<std::shared_ptr<std::vector<ShardCut>>> abandoned_;
  std::function<void(uint64_t, const std::string&)> after_local_checkpoint_;

  Histogram* pause_ms_;
  Histogram* upload_ms_;
  Counter* upload_bytes_;
  Counter* reused_bytes_;
  Counter* acked_;
  Counter* declined_;
  Counter* completed_;
  Counter* aborted_;
  Gauge* last_completed_;
  Gauge* pending_envelopes_;
};

}  // namespace eddy
