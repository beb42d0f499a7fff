#pragma once
// Kafka ingress and egress (StateFun's io.statefun.kafka.v1/ingress and /egress) plus a Kafka
// dead-letter sink. librdkafka stays inside src/io/kafka; this header only names Eddy types.
//
// Delivery: at-least-once without checkpoints. The ingress commits a partition's offset only
// once every message derived from the records before it is processed, using the epochs of
// ProgressTracker (see progress_tracker.h); egress and dead-letter records hold a count on their
// epoch until the broker acknowledges them.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/runtime/dead_letter.h"
#include "eddy/runtime/egress.h"
#include "eddy/runtime/ingress_context.h"  // IngressContext, shared by every ingress

namespace eddy {

class Router;
class FlowControl;
class ProgressTracker;
class MetricsRegistry;

struct PartitionPosition {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;  // offset after the last record routed
  friend bool operator==(const PartitionPosition&, const PartitionPosition&) = default;
};

// Checkpoint mode (docs/design/checkpoints.md): ingress positions come from checkpoints.
struct KafkaIngressOptions {
  // No offsets are committed for progress (ProgressTracker); CommitPositions commits the
  // positions of a completed checkpoint, for monitoring and as the start of a fresh job only.
  // Every assigned partition gets a concrete position at assignment (logical startup positions
  // are resolved to offsets), so a cut reports partitions that have not routed a record yet.
  bool checkpointing = false;
  // Restore: partitions listed here start at these offsets instead of the committed group offset
  // or the startup position.
  std::vector<PartitionPosition> start_positions;
};

// One Kafka consumer (one group member) on its own thread. For every record: key (UTF-8) is the
// function id, and one Envelope per target type of the record's topic goes to the Router,
// carrying TypedValue{valueType, raw record value} and the epoch the record was pinned on.
// Records with a null or empty key go to the dead-letter sink (or are logged) and counted.
//
// Lifecycle: Create -> Start -> [StopFetching -> (drain) -> CommitCompleted] -> Stop. Stop (or
// the destructor) commits what is complete and leaves the group. All methods are thread-safe.
class KafkaIngress {
 public:
  // Validates the spec (address, group id, topics, startup position, properties) and creates
  // the consumer; nothing connects before Start.
  static Result<std::unique_ptr<KafkaIngress>> Create(const KafkaIngressSpec& spec,
                                                      IngressContext context);
  static Result<std::unique_ptr<KafkaIngress>> Create(const KafkaIngressSpec& spec,
                                                      IngressContext context,
                                                      KafkaIngressOptions options);
  ~KafkaIngress();
  KafkaIngress(const KafkaIngress&) = delete;
  KafkaIngress& operator=(const KafkaIngress&) = delete;

  // Starts the consumer thread, which subscribes. FailedPrecondition if called twice or after
  // Stop.
  Status Start();
  // Stops routing new records (partitions are paused, group membership is kept); returns at
  // once. Records fetched but not routed are not committed, so they are read again next time.
  void StopFetching();
  // Synchronously commits the positions of completed epochs. DeadlineExceeded/Unavailable when
  // the broker does not confirm in time; OK when there is nothing new to commit.
  Status CommitCompleted(std::chrono::milliseconds timeout);
  // Stops fetching, joins the thread, commits what is complete and closes the consumer.
  // Idempotent.
  void Stop();
  // Per assigned partition: the next offset after the last routed record.
  std::vector<PartitionPosition> Positions() const;

  // Checkpoint cut: waits until the consumer thread is between two records (at most `timeout`)
  // and keeps it there until Resume, so no record is routed meanwhile; returns Positions() as of
  // that boundary. DeadlineExceeded (and not paused) when the thread did not get there in time.
  // Pause and Resume must be called from the same thread.
  Result<std::vector<PartitionPosition>> PauseAtBoundary(std::chrono::milliseconds timeout);
  void Resume();
  // Commits these offsets for the consumer group, asynchronously; failures are only logged
  // (informational in checkpoint mode).
  void CommitPositions(const std::vector<PartitionPosition>& positions);

  class Impl;

 private:
  explicit KafkaIngress(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

using KafkaIngressPtr = std::unique_ptr<KafkaIngress>;

// Accepts TypedValues of type types::kKafkaProducerRecord (typed_value.h) and produces each to
// its record's topic. at-least-once and (for now) exactly-once use an idempotent producer with
// acks=all; none uses acks=1 without idempotence. metrics may be null; progress must outlive the
// egress.
Result<EgressPtr> MakeKafkaEgress(const KafkaEgressSpec& spec, ProgressTracker* progress,
                                  MetricsRegistry* metrics);

// Produces dead letters to `topic`: key = letter.key (none when empty), value = letter.value,
// headers eddy-reason, eddy-source, eddy-value-type.
Result<DeadLetterSinkPtr> MakeKafkaDeadLetterSink(std::string bootstrap, std::string topic,
                                                  ProgressTracker* progress);

}  // namespace eddy
