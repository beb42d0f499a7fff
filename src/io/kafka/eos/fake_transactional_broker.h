#pragma once
// FAKE, for tests only (target eddy_kafka_eos_fake, never linked into the worker).
//
// Why a fake: librdkafka's mock cluster (our dev broker) implements transactions as a stub: every
// call succeeds, read_committed consumers see aborted and open records, and a second producer with
// the same transactional.id does not fence the first (see /work/shared/reference/test-infra.md).
// The exactly-once protocol needs exactly those behaviours to be tested, so this in-process model
// of Kafka's transaction rules stands behind the same TransactionalProducer/ControlTopicReader
// interfaces as the librdkafka implementations:
//   * per topic/partition logs with offsets; transactional records and COMMIT/ABORT control
//     markers take offsets, as in Kafka;
//   * read_uncommitted returns every data record; read_committed returns committed and
//     non-transactional records below the last stable offset (the first offset of a still open
//     transaction), so open and aborted records are invisible;
//   * producer epochs per transactional.id: InitTransactions bumps the epoch, aborts the open
//     transaction of the previous instance, and fences it (its later calls fail fatal,
//     PRODUCER_FENCED);
//   * optional transaction timeout (the coordinator aborts; the producer then gets an abortable
//     error), driven by a clock tests advance with AdvanceTime;
//   * one-shot fault injection per transactional.id and operation (retriable, abortable, fatal,
//     failed delivery, or a crash that leaves the transaction open on the broker).
// Not modelled: replication, consumer groups, offsets in transactions, compaction.
// Thread-safe; producers and readers must not outlive the broker.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "eddy/io/exactly_once_egress.h"

namespace eddy::eos {

enum class Isolation { kReadUncommitted, kReadCommitted };

struct FakeRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class FakeOp { kInit, kBegin, kProduce, kCommit, kAbort };
enum class FakeFault {
  kRetriable,        // the call fails retriably and changes nothing
  kAbortable,        // the transaction enters the abortable state
  kFatal,            // the producer instance is dead
  kDeliveryFailure,  // (kProduce) accepted, never written; the commit then fails abortable
  kCrash,            // the call fails fatal and the transaction stays open on the broker, as if
                     // the process had died there
  kCrashAfter,       // (kCommit) the commit takes effect, then the call fails fatal: the process
                     // died before it learned that its transaction committed
};

struct FakeTxnStats {
  int inits = 0;
  int commits = 0;
  int aborts = 0;           // by the producer
  int coordinator_aborts = 0;  // by InitTransactions of a newer instance, or a timeout
};

class FakeTransactionalBroker {
 public:
  explicit FakeTransactionalBroker(int default_partitions = 1);
  ~FakeTransactionalBroker();
  FakeTransactionalBroker(const FakeTransactionalBroker&) = delete;
  FakeTransactionalBroker& operator=(const FakeTransactionalBroker&) = delete;

  // Topics are auto-created with default_partitions on first produce; this sets a count first.
  void CreateTopic(const std::string& topic, int partitions);

  // Data records of the topic (control markers excluded), by partition then offset.
  std::vector<FakeRecord> Read(const std::string& topic, Isolation isolation) const;

  // `transaction_timeout` <= 0 disables the timeout.
  TransactionalProducerPtr NewProducer(std::string transactional_id,
                                       std::chrono::milliseconds transaction_timeout =
                                           std::chrono::milliseconds(60000));
  ControlTopicReaderPtr NewReader(Isolation isolation = Isolation::kReadCommitted);

  // The next `times` calls of `op` by producers of `transactional_id` fail with `fault`.
  void InjectFault(const std::string& transactional_id, FakeOp op, FakeFault fault,
                   int times = 1);
  // The next `times` reads by any reader fail with Unavailable.
  void FailReads(int times);
  void AdvanceTime(std::chrono::milliseconds delta);

  FakeTxnStats Stats(const std::string& transactional_id) const;
  // Number of produce calls accepted (records and markers), across all producers.
  int64_t ProducedRecords() const;

  class Producer;
  class Reader;

 private:
  enum class TxnState { kOpen, kCommitted, kAborted };
  struct Entry {
    int64_t offset = 0;
    bool control = false;   // a COMMIT/ABORT marker, never returned by Read
    int64_t txn = -1;       // transaction number, -1 for non-transactional records
    std::string key;
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  struct Txn {
    std::string transactional_id;
    TxnState state = TxnState::kOpen;
    std::set<std::pair<std::string, int32_t>> partitions;
    bool delivery_failed = false;
    std::chrono::steady_clock::time_point begun;
  };
  struct IdState {
    int32_t epoch = -1;
    std::optional<int64_t> open_txn;
    std::chrono::milliseconds timeout{0};
    FakeTxnStats stats;
    std::map<FakeOp, std::pair<FakeFault, int>> faults;
  };

  std::chrono::steady_clock::time_point NowLocked() const;
  void ExpireLocked();
  void EndTxnLocked(int64_t txn, TxnState state);
  std::vector<Entry>& PartitionLocked(const std::string& topic, int32_t partition);
  int PartitionCountLocked(const std::string& topic);
  std::optional<FakeFault> TakeFaultLocked(IdState& id, FakeOp op);

  mutable std::mutex mu_;
  int default_partitions_;
  std::chrono::milliseconds time_offset_{0};
  std::map<std::string, std::vector<std::vector<Entry>>> topics_;
  std::map<std::string, uint64_t> round_robin_;
  std::map<int64_t, Txn> txns_;
  int64_t next_txn_ = 0;
  std::map<std::string, IdState> ids_;
  int read_failures_ = 0;
  int64_t produced_ = 0;
};

}  // namespace eddy::eos
