#pragma once
// Exactly-once Kafka egress (docs/design/checkpoints.md, "Exactly-once egress"; operator notes in
// docs/exactly-once-egress.md). A library the checkpointing worker drives; librdkafka stays in
// src/io/kafka/eos, this header only names Eddy types.
//
// Protocol, per worker and exactly-once egress:
//   * records of the open epoch are Append()ed to an in-memory log (bounded);
//   * at cut N, SealEpoch(N) closes the epoch and returns bytes the worker stores in checkpoint N
//     (they hold every sealed epoch not yet known committed, so N-1 travels with N when its
//     commit has not finished);
//   * on CheckpointComplete(N), OnCheckpointComplete(N) produces each pending epoch <= N, in
//     order, in its own Kafka transaction together with one marker record {transactional id, run,
//     epoch} on the control topic, and commits;
//   * after a restore from checkpoint N, Recover(N, bytes) first fences older producers
//     (InitTransactions), then reads the control topic read_committed and produces again, with
//     the marker, only the epochs whose marker is absent.
// at-least-once and none keep using MakeKafkaEgress (kafka.h); see docs/exactly-once-egress.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/runtime/egress.h"
#include "eddy/runtime/flow_control.h"

namespace eddy {

// One record for a Kafka topic. An empty key means "no key" (as in the at-least-once egress).
struct EgressRecord {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  friend bool operator==(const EgressRecord&, const EgressRecord&) = default;
};

// How a transactional call failed, following librdkafka's classes (rdkafka.h, "Transactional
// producer API"): retriable -> call the same operation again; abortable -> AbortTransaction and
// redo the whole transaction; fatal -> the producer instance is unusable (e.g. fenced by a newer
// instance with the same transactional.id), the worker must stop and restart from a checkpoint.
enum class TxnErrorClass { kNone, kRetriable, kAbortable, kFatal };

struct [[nodiscard]] TxnStatus {
  TxnErrorClass error_class = TxnErrorClass::kNone;
  bool fenced = false;  // fatal because a newer producer took the transactional.id
  Status status;        // OK, or the error text (Unavailable / FailedPrecondition)

  bool ok() const { return error_class == TxnErrorClass::kNone; }
  static TxnStatus Ok() { return {}; }
  static TxnStatus Retriable(std::string message);
  static TxnStatus Abortable(std::string message);
  static TxnStatus Fatal(std::string message, bool fenced = false);
  std::string ToString() const;
};

const char* TxnErrorClassName(TxnErrorClass c);

// A transactional Kafka producer bound to one transactional.id. Not thread-safe: one caller at a
// time (ExactlyOnceEgress serializes its calls). Call order: InitTransactions once, then
// (BeginTransaction, Produce*, CommitTransaction | AbortTransaction)*.
class TransactionalProducer {
 public:
  virtual ~TransactionalProducer() = default;
  virtual const std::string& transactional_id() const = 0;
  // Fences every older instance with the same transactional.id and aborts its open transaction
  // (waits for a commit that had already begun). Retriable on timeout: call again.
  virtual TxnStatus InitTransactions(std::chrono::milliseconds timeout) = 0;
  virtual TxnStatus BeginTransaction() = 0;
  // Enqueues a record in the open transaction (asynchronous). Delivery failures surface later:
  // CommitTransaction then returns an abortable error.
  virtual TxnStatus Produce(const EgressRecord& record) = 0;
  // Delivers everything produced in the transaction and commits it. Retriable: call again (the
  // commit continues in the background); abortable: AbortTransaction, then redo.
  virtual TxnStatus CommitTransaction() = 0;
  virtual TxnStatus AbortTransaction() = 0;
};
using TransactionalProducerPtr = std::unique_ptr<TransactionalProducer>;

struct ControlRecord {
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
};

// Reads a whole topic as a read_committed consumer sees it: committed (and non-transactional)
// records only, up to the end as of the call. A topic that does not exist reads as empty.
// Thread-compatible.
class ControlTopicReader {
 public:
  virtual ~ControlTopicReader() = default;
  // Unavailable / DeadlineExceeded when the end could not be reached: never a partial answer,
  // because a missing marker would make the caller produce an epoch twice.
  virtual Result<std::vector<ControlRecord>> ReadCommitted(const std::string& topic,
                                                           std::chrono::milliseconds timeout) = 0;
};
using ControlTopicReaderPtr = std::unique_ptr<ControlTopicReader>;

inline constexpr std::string_view kDefaultEgressControlTopic = "eddy-egress-commits";

// "eddy-<job>-<worker>" or "eddy-<job>-<worker>-<egress id>". Must be unique per producer: the
// caller chooses names that do not collide once joined with '-'.
std::string EosTransactionalId(std::string_view job, std::string_view worker,
                               std::string_view egress_id = {});

struct ExactlyOnceEgressOptions {
  std::string job;
  std::string worker;
  std::string egress_id;  // informational, written into markers
  std::string control_topic = std::string(kDefaultEgressControlTopic);
  // Bound on the open epoch plus the sealed, not yet committed epochs (approximate bytes:
  // topic + key + value + headers). A soft bound: Append never drops a record (the function
  // that produced it has already changed its state); instead, from the bound until commits
  // bring the buffer to half of it, the egress holds `flow` (FlowControl::Hold), so the
  // ingresses stop and only work already inside the worker (bounded by its message bound)
  // can add more.
  size_t max_buffered_bytes = size_t{64} << 20;
  FlowControl* flow = nullptr;  // may be null (no back-pressure); must outlive the egress
  std::chrono::milliseconds init_timeout{30000};
  std::chrono::milliseconds read_timeout{30000};
  // Attempts per call on retriable errors, and whole-transaction attempts on abortable errors.
  int max_attempts = 5;
  std::chrono::milliseconds retry_backoff{200};
  // Identifies the lineage of checkpoints (a fresh start begins a new run; restores keep the run
  // stored in the sealed bytes). Empty: Start() draws a random one. Markers of other runs are
  // ignored, so a job restarted from scratch never skips an epoch because of an old marker.
  std::string run_id;
};

// Lifecycle: Create -> Start() (fresh job) or Recover(N, bytes) (restored from checkpoint N) ->
// { Append* ; SealEpoch(N) at the cut ; OnCheckpointComplete(N) later }*. Append, the size
// getters and SealEpoch are thread-safe and never wait for Kafka; Start, Recover and
// OnCheckpointComplete block on the broker (run them off the shard threads) and are serialized
// with each other. After a fatal producer error (e.g. fenced) every call fails with
// FailedPrecondition: the worker must stop and restore.
class ExactlyOnceEgress {
 public:
  static Result<std::unique_ptr<ExactlyOnceEgress>> Create(ExactlyOnceEgressOptions options,
                                                           TransactionalProducerPtr producer,
                                                           ControlTopicReaderPtr reader);
  ~ExactlyOnceEgress();
  ExactlyOnceEgress(const ExactlyOnceEgress&) = delete;
  ExactlyOnceEgress& operator=(const ExactlyOnceEgress&) = delete;

  // Fresh start (no checkpoint to restore): InitTransactions (fences zombies of a previous
  // instance), begins a new run. FailedPrecondition when already started.
  Status Start();
  // After restoring checkpoint `checkpoint_id` whose snapshot holds `sealed` (from SealEpoch):
  // InitTransactions, read the control topic, produce each contained epoch whose marker is
  // absent, in order. DataLoss for malformed bytes, InvalidArgument when they belong to another
  // checkpoint. On a Kafka error the uncommitted epochs stay pending: OnCheckpointComplete(N)
  // retries them.
  Status Recover(uint64_t checkpoint_id, std::string_view sealed);

  // Adds a record to the open epoch (holding options.flow once the buffer bound is reached).
  // InvalidArgument for an empty topic, FailedPrecondition before Start/Recover or after a
  // fatal error.
  Status Append(EgressRecord record);
  // Closes the open epoch as `checkpoint_id` (> every earlier one) and returns the bytes to store
  // in that checkpoint: a version byte, the run id and every sealed epoch not yet committed.
  Result<std::string> SealEpoch(uint64_t checkpoint_id);
  // Commits every pending epoch <= checkpoint_id in order, one transaction each (empty epochs
  // need none). OK when there is nothing to do (already committed). On error the remaining
  // epochs stay pending and a later call retries them.
  Status OnCheckpointComplete(uint64_t checkpoint_id);

  size_t BufferedBytes() const;    // open + pending
  size_t OpenRecords() const;      // records of the open epoch
  size_t PendingEpochs() const;    // sealed, not yet committed (non-empty ones)
  uint64_t LastCommittedEpoch() const;  // 0 when none in this run
  std::string run_id() const;

  class Impl;

 private:
  explicit ExactlyOnceEgress(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};
using ExactlyOnceEgressPtr = std::unique_ptr<ExactlyOnceEgress>;

// librdkafka producer with transactional.id, enable.idempotence=true, acks=all and
// transaction.timeout.ms from spec.transaction_timeout (StateFun's transactionTimeout), applied
// after spec.properties. Nothing connects before InitTransactions.
Result<TransactionalProducerPtr> MakeKafkaTransactionalProducer(const KafkaEgressSpec& spec,
                                                                std::string transactional_id);

// librdkafka consumer with isolation.level=read_committed that assigns every partition of the
// topic (no consumer group) and reads to the end. `properties` (e.g. TLS settings) apply first.
Result<ControlTopicReaderPtr> MakeKafkaControlTopicReader(std::string bootstrap,
                                                          KafkaProperties properties = {});

// Adapts ExactlyOnceEgress to the Egress interface used by shards: accepts
// types::kKafkaProducerRecord values (like MakeKafkaEgress) and Appends them; the ProgressTracker
// epoch is ignored (the checkpoint, not the offsets, carries the guarantee) and no count is held.
// Flush is a no-op. `egress` must outlive the adapter.
EgressPtr MakeExactlyOnceEgressAdapter(std::string id, ExactlyOnceEgress* egress);

}  // namespace eddy
