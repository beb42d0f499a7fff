#include "io/kafka/eos/fake_transactional_broker.h"

#include <functional>

namespace eddy::eos {

class FakeTransactionalBroker::Producer final : public TransactionalProducer {
 public:
  Producer(FakeTransactionalBroker* broker, std::string id, std::chrono::milliseconds timeout)
      : broker_(broker), id_(std::move(id)), timeout_(timeout) {}
  // Dropping a producer is a crash: an open transaction stays open until a newer instance's
  // InitTransactions or the transaction timeout aborts it.
  ~Producer() override = default;

  const std::string& transactional_id() const override { return id_; }

  TxnStatus InitTransactions(std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> lock(broker_->mu_);
    broker_->ExpireLocked();
    if (state_ == State::kFatal) return Dead();
    IdState& id = broker_->ids_[id_];
    if (auto fault = broker_->TakeFaultLocked(id, FakeOp::kInit)) return Inject(*fault);
    if (state_ != State::kUninit) return FatalState("InitTransactions called twice");
    // Fence the previous instance: abort its open transaction and bump the epoch.
    if (id.open_txn) {
      broker_->EndTxnLocked(*id.open_txn, TxnState::kAborted);
      ++id.stats.coordinator_aborts;
    }
    ++id.epoch;
    id.timeout = timeout_;
    ++id.stats.inits;
    epoch_ = id.epoch;
    state_ = State::kReady;
    return TxnStatus::Ok();
  }

  TxnStatus BeginTransaction() override {
    std::lock_guard<std::mutex> lock(broker_->mu_);
    IdState* id = nullptr;
    if (TxnStatus st = Check(&id); !st.ok()) return st;
    if (auto fault = broker_->TakeFaultLocked(*id, FakeOp::kBegin)) return Inject(*fault);
    if (state_ != State::kReady) return FatalState("BeginTransaction outside the ready state");
    int64_t txn = broker_->next_txn_++;
    Txn& t = broker_->txns_[txn];
    t.transactional_id = id_;
    t.begun = broker_->NowLocked();
    id->open_txn = txn;
    txn_ = txn;
    state_ = State::kInTxn;
    return TxnStatus::Ok();
  }

  TxnStatus Produce(const EgressRecord& record) override {
    std::lock_guard<std::mutex> lock(broker_->mu_);
    IdState* id = nullptr;
    if (TxnStatus st = Check(&id); !st.ok()) return st;
    if (state_ == State::kAbortable) return RequiresAbort();
    if (state_ != State::kInTxn) return FatalState("Produce outside a transaction");
    if (auto fault = broker_->TakeFaultLocked(*id, FakeOp::kProduce)) {
      if (*fault != FakeFault::kDeliveryFailure) return Inject(*fault);
      broker_->txns_[txn_].delivery_failed = true;  // "sent", never written
      return TxnStatus::Ok();
    }
    if (record.topic.empty()) return TxnStatus::Fatal("Produce: empty topic");
    int partitions = broker_->PartitionCountLocked(record.topic);
    int32_t partition;
    if (record.key.empty()) {
      partition = static_cast<int32_t>(broker_->round_robin_[record.topic]++ % partitions);
    } else {
      partition = static_cast<int32_t>(std::hash<std::string>{}(record.key) % partitions);
    }
    std::vector<Entry>& log = broker_->PartitionLocked(record.topic, partition);
    log.push_back(Entry{static_cast<int64_t>(log.size()), false, txn_, record.key, record.value,
                        record.headers});
    broker_->txns_[txn_].partitions.insert({record.topic, partition});
    ++broker_->produced_;
    return TxnStatus::Ok();
  }

  TxnStatus CommitTransaction() override {
    std::lock_guard<std::mutex> lock(broker_->mu_);
    IdState* id = nullptr;
    if (TxnStatus st = Check(&id); !st.ok()) return st;
    if (state_ == State::kAbortable) return RequiresAbort();
    if (state_ != State::kInTxn) return FatalState("CommitTransaction outside a transaction");
    std::optional<FakeFault> fault = broker_->TakeFaultLocked(*id, FakeOp::kCommit);
    if (fault && *fault != FakeFault::kCrashAfter) return Inject(*fault);
    if (broker_->txns_[txn_].delivery_failed) {
      state_ = State::kAbortable;
      return TxnStatus::Abortable("a record of the transaction failed delivery; abort");
    }
    broker_->EndTxnLocked(txn_, TxnState::kCommitted);
    id->open_txn.reset();
    ++id->stats.commits;
    state_ = State::kReady;
    if (fault) return Inject(*fault);  // kCrashAfter: committed, but the caller never hears it
    return TxnStatus::Ok();
  }

  TxnStatus AbortTransaction() override {
    std::lock_guard<std::mutex> lock(broker_->mu_);
    IdState* id = nullptr;
    if (TxnStatus st = Check(&id); !st.ok()) return st;
    if (state_ != State::kInTxn && state_ != State::kAbortable) {
      return FatalState("AbortTransaction outside a transaction");
    }
    if (auto fault = broker_->TakeFaultLocked(*id, FakeOp::kAbort)) return Inject(*fault);
    // A transaction the coordinator already aborted (timeout) needs no second marker.
    if (broker_->txns_[txn_].state == TxnState::kOpen) {
      broker_->EndTxnLocked(txn_, TxnState::kAborted);
    }
    id->open_txn.reset();
    ++id->stats.aborts;
    state_ = State::kReady;
    return TxnStatus::Ok();
  }

 private:
  enum class State { kUninit, kReady, kInTxn, kAbortable, kFatal };

  // Requires broker mu_. Expires timed-out transactions, then checks this instance is alive and
  // current (not fenced); a transaction aborted by the coordinator turns into the abortable state.
  TxnStatus Check(IdState** out) {
    broker_->ExpireLocked();
    if (state_ == State::kFatal) return Dead();
    if (state_ == State::kUninit) return FatalState("InitTransactions first");
    IdState& id = broker_->ids_[id_];
    if (id.epoch != epoch_) {
      state_ = State::kFatal;
      fenced_ = true;
      return Dead();
    }
    if (state_ == State::kInTxn && broker_->txns_[txn_].state == TxnState::kAborted) {
      state_ = State::kAbortable;  // the coordinator aborted it (transaction timeout)
    }
    *out = &id;
    return TxnStatus::Ok();
  }

  TxnStatus Inject(FakeFault fault) {
    switch (fault) {
      case FakeFault::kRetriable:
        return TxnStatus::Retriable("injected retriable error (e.g. COORDINATOR_NOT_AVAILABLE)");
      case FakeFault::kAbortable:
      case FakeFault::kDeliveryFailure:
        if (state_ == State::kInTxn) state_ = State::kAbortable;
        return TxnStatus::Abortable("injected abortable error");
      case FakeFault::kFatal:
      case FakeFault::kCrash:
      case FakeFault::kCrashAfter:
        state_ = State::kFatal;
        return TxnStatus::Fatal("injected fatal error");
    }
    return TxnStatus::Fatal("unknown fault");
  }

  TxnStatus Dead() const {
    if (fenced_) {
      return TxnStatus::Fatal(
          "PRODUCER_FENCED: a newer producer with transactional.id " + id_ + " exists", true);
    }
    return TxnStatus::Fatal("producer is in a fatal state");
  }
  TxnStatus FatalState(const std::string& what) {
    state_ = State::kFatal;
    return TxnStatus::Fatal("__STATE: " + what);
  }
  static TxnStatus RequiresAbort() {
    return TxnStatus::Abortable("transaction failed (e.g. TRANSACTION_TIMED_OUT); abort it");
  }

  FakeTransactionalBroker* broker_;
  std::string id_;
  std::chrono::milliseconds timeout_;
  State state_ = State::kUninit;
  bool fenced_ = false;
  int32_t epoch_ = -1;
  int64_t txn_ = -1;
};

class FakeTransactionalBroker::Reader final : public ControlTopicReader {
 public:
  Reader(FakeTransactionalBroker* broker, Isolation isolation)
      : broker_(broker), isolation_(isolation) {}

  Result<std::vector<ControlRecord>> ReadCommitted(const std::string& topic,
                                                   std::chrono::milliseconds) override {
    {
      std::lock_guard<std::mutex> lock(broker_->mu_);
      if (broker_->read_failures_ > 0) {
        --broker_->read_failures_;
        return Unavailable("injected read failure");
      }
    }
    std::vector<ControlRecord> out;
    for (FakeRecord& r : broker_->Read(topic, isolation_)) {
      out.push_back({r.partition, r.offset, std::move(r.key), std::move(r.value)});
    }
    return out;
  }

 private:
  FakeTransactionalBroker* broker_;
  Isolation isolation_;
};

FakeTransactionalBroker::FakeTransactionalBroker(int default_partitions)
    : default_partitions_(default_partitions < 1 ? 1 : default_partitions) {}
FakeTransactionalBroker::~FakeTransactionalBroker() = default;

void FakeTransactionalBroker::CreateTopic(const std::string& topic, int partitions) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& parts = topics_[topic];
  if (static_cast<int>(parts.size()) < partitions) parts.resize(partitions);
}

int FakeTransactionalBroker::PartitionCountLocked(const std::string& topic) {
  auto& parts = topics_[topic];
  if (parts.empty()) parts.resize(default_partitions_);
  return static_cast<int>(parts.size());
}

std::vector<FakeTransactionalBroker::Entry>& FakeTransactionalBroker::PartitionLocked(
    const std::string& topic, int32_t partition) {
  PartitionCountLocked(topic);
  return topics_[topic][partition];
}

std::chrono::steady_clock::time_point FakeTransactionalBroker::NowLocked() const {
  return std::chrono::steady_clock::now() + time_offset_;
}

void FakeTransactionalBroker::AdvanceTime(std::chrono::milliseconds delta) {
  std::lock_guard<std::mutex> lock(mu_);
  time_offset_ += delta;
  ExpireLocked();
}

void FakeTransactionalBroker::ExpireLocked() {
  auto now = NowLocked();
  for (auto& [name, id] : ids_) {
    if (!id.open_txn || id.timeout.count() <= 0) continue;
    Txn& t = txns_[*id.open_txn];
    if (now - t.begun > id.timeout) {
      // Kafka's coordinator proactively aborts a transaction older than transaction.timeout.ms.
      EndTxnLocked(*id.open_txn, TxnState::kAborted);
      ++id.stats.coordinator_aborts;
      id.open_txn.reset();
    }
  }
}

void FakeTransactionalBroker::EndTxnLocked(int64_t txn, TxnState state) {
  Txn& t = txns_[txn];
  t.state = state;
  for (const auto& [topic, partition] : t.partitions) {
    std::vector<Entry>& log = topics_[topic][partition];
    log.push_back(Entry{static_cast<int64_t>(log.size()), true, txn, {}, {}, {}});
  }
}

std::optional<FakeFault> FakeTransactionalBroker::TakeFaultLocked(IdState& id, FakeOp op) {
  auto it = id.faults.find(op);
  if (it == id.faults.end()) return std::nullopt;
  FakeFault fault = it->second.first;
  if (--it->second.second <= 0) id.faults.erase(it);
  return fault;
}

std::vector<FakeRecord> FakeTransactionalBroker::Read(const std::string& topic,
                                                      Isolation isolation) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<FakeRecord> out;
  auto it = topics_.find(topic);
  if (it == topics_.end()) return out;
  for (size_t p = 0; p < it->second.size(); ++p) {
    const std::vector<Entry>& log = it->second[p];
    for (const Entry& e : log) {
      bool open = e.txn >= 0 && txns_.at(e.txn).state == TxnState::kOpen;
      // read_committed stops at the last stable offset: the first record of an open
      // transaction, even when later records are committed.
      if (isolation == Isolation::kReadCommitted && open) break;
      if (e.control) continue;
      if (isolation == Isolation::kReadCommitted && e.txn >= 0 &&
          txns_.at(e.txn).state != TxnState::kCommitted) {
        continue;
      }
      out.push_back({topic, static_cast<int32_t>(p), e.offset, e.key, e.value, e.headers});
    }
  }
  return out;
}

TransactionalProducerPtr FakeTransactionalBroker::NewProducer(
    std::string transactional_id, std::chrono::milliseconds transaction_timeout) {
  return std::make_unique<Producer>(this, std::move(transactional_id), transaction_timeout);
}

ControlTopicReaderPtr FakeTransactionalBroker::NewReader(Isolation isolation) {
  return std::make_unique<Reader>(this, isolation);
}

void FakeTransactionalBroker::InjectFault(const std::string& transactional_id, FakeOp op,
                                          FakeFault fault, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  ids_[transactional_id].faults[op] = {fault, times};
}

void FakeTransactionalBroker::FailReads(int times) {
  std::lock_guard<std::mutex> lock(mu_);
  read_failures_ = times;
}

FakeTxnStats FakeTransactionalBroker::Stats(const std::string& transactional_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ids_.find(transactional_id);
  return it == ids_.end() ? FakeTxnStats{} : it->second.stats;
}

int64_t FakeTransactionalBroker::ProducedRecords() const {
  std::lock_guard<std::mutex> lock(mu_);
  return produced_;
}

}  // namespace eddy::eos
