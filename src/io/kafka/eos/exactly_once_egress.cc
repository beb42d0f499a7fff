// ExactlyOnceEgress: the epoch log and the commit/recovery protocol of
// docs/design/checkpoints.md ("Exactly-once egress"). Kafka is reached only through
// TransactionalProducer and ControlTopicReader, so the protocol runs unchanged against the
// in-project fake broker in tests.

#include "eddy/io/exactly_once_egress.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "io/kafka/eos/eos_codec.h"

namespace eddy {

TxnStatus TxnStatus::Retriable(std::string message) {
  return {TxnErrorClass::kRetriable, false, Unavailable(std::move(message))};
}
TxnStatus TxnStatus::Abortable(std::string message) {
  return {TxnErrorClass::kAbortable, false, Unavailable(std::move(message))};
}
TxnStatus TxnStatus::Fatal(std::string message, bool fenced) {
  return {TxnErrorClass::kFatal, fenced, FailedPrecondition(std::move(message))};
}
std::string TxnStatus::ToString() const {
  if (ok()) return "OK";
  return std::string(TxnErrorClassName(error_class)) + (fenced ? " (fenced)" : "") + ": " +
         status.message();
}

const char* TxnErrorClassName(TxnErrorClass c) {
  switch (c) {
    case TxnErrorClass::kNone: return "ok";
    case TxnErrorClass::kRetriable: return "retriable";
    case TxnErrorClass::kAbortable: return "abortable";
    case TxnErrorClass::kFatal: return "fatal";
  }
  return "?";
}

std::string EosTransactionalId(std::string_view job, std::string_view worker,
                               std::string_view egress_id) {
  std::string id = "eddy-";
  id.append(job);
  id += "-";
  id.append(worker);
  if (!egress_id.empty()) {
    id += "-";
    id.append(egress_id);
  }
  return id;
}

using eos::SealedEpoch;
using EpochPtr = std::shared_ptr<const SealedEpoch>;

class ExactlyOnceEgress::Impl {
 public:
  Impl(ExactlyOnceEgressOptions options, TransactionalProducerPtr producer,
       ControlTopicReaderPtr reader)
      : options_(std::move(options)), producer_(std::move(producer)), reader_(std::move(reader)) {}
  ~Impl() {
    if (holding_) options_.flow->Hold(-1);
  }

  Status Start() {
    std::lock_guard<std::mutex> commit(commit_mu_);
    EDDY_RETURN_IF_ERROR(CheckNotStarted());
    EDDY_RETURN_IF_ERROR(Init());
    std::string run = options_.run_id.empty() ? RandomRunId() : options_.run_id;
    std::lock_guard<std::mutex> lock(mu_);
    run_id_ = std::move(run);
    started_ = true;
    return Status::Ok();
  }

  Status Recover(uint64_t checkpoint_id, std::string_view sealed) {
    std::lock_guard<std::mutex> commit(commit_mu_);
    EDDY_RETURN_IF_ERROR(CheckNotStarted());
    Result<eos::SealedLog> log = eos::DecodeSealedLog(sealed);
    if (!log.ok()) return log.status();
    if (log->checkpoint_id != checkpoint_id) {
      return InvalidArgument("sealed egress log belongs to checkpoint " +
                             std::to_string(log->checkpoint_id) + ", not " +
                             std::to_string(checkpoint_id));
    }
    // Fence first, read second: once InitTransactions returns, no older instance can commit
    // any more (a commit it had begun is finished by then), so the control topic read below
    // cannot miss a marker that appears afterwards.
    EDDY_RETURN_IF_ERROR(Init());
    Result<uint64_t> committed = ReadLastCommittedEpoch(log->run_id);
    if (!committed.ok()) return committed.status();

    size_t skipped = 0;
    size_t to_produce = 0;
    // Restored an older checkpoint than the newest committed epoch (e.g. the newest manifest was
    // corrupt): epochs after it were committed and will be recomputed (duplicates, logged), and
    // their numbers will be reused. Continue under a new run id, so the old markers cannot make a
    // later recovery skip one of the new epochs.
    const bool fork = *committed > checkpoint_id;
    if (fork) {
      spdlog::warn("exactly-once egress {}: restored checkpoint {} but epoch {} was already "
                   "committed; output of epochs {}..{} will be produced again; continuing as a "
                   "new run",
                   producer_->transactional_id(), checkpoint_id, *committed, checkpoint_id + 1,
                   *committed);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      run_id_ = fork ? RandomRunId() : log->run_id;
      last_sealed_ = checkpoint_id;
      last_committed_ = fork ? checkpoint_id : *committed;
      for (eos::SealedEpoch& e : log->epochs) {
        if (e.epoch <= *committed) {
          ++skipped;  // its transaction committed before the crash
          continue;
        }
        if (e.records.empty()) continue;
        size_t bytes = 0;
        for (const EgressRecord& r : e.records) bytes += eos::RecordBytes(r);
        buffered_bytes_ += bytes;
        pending_.push_back({std::make_shared<const SealedEpoch>(std::move(e)), bytes});
      }
      to_produce = pending_.size();
      started_ = true;
      UpdateHoldLocked();
    }
    spdlog::info("exactly-once egress {}: recovering checkpoint {} of run {}: last committed "
                 "epoch {}, {} epoch(s) already committed, {} to produce again",
                 producer_->transactional_id(), checkpoint_id, log->run_id, *committed, skipped,
                 to_produce);
    return CommitPendingThrough(checkpoint_id);
  }

  Status Append(EgressRecord record) {
    if (record.topic.empty()) return InvalidArgument("exactly-once egress: record without topic");
    size_t bytes = eos::RecordBytes(record);
    std::lock_guard<std::mutex> lock(mu_);
    EDDY_RETURN_IF_ERROR(CheckUsable());
    buffered_bytes_ += bytes;
    open_bytes_ += bytes;
    open_.push_back(std::move(record));
    UpdateHoldLocked();
    return Status::Ok();
  }

  Result<std::string> SealEpoch(uint64_t checkpoint_id) {
    std::lock_guard<std::mutex> lock(mu_);
    EDDY_RETURN_IF_ERROR(CheckUsable());
    if (checkpoint_id <= last_sealed_) {
      return FailedPrecondition("exactly-once egress: cannot seal epoch " +
                                std::to_string(checkpoint_id) + " after epoch " +
                                std::to_string(last_sealed_));
    }
    last_sealed_ = checkpoint_id;
    if (!open_.empty()) {
      auto epoch = std::make_shared<SealedEpoch>();
      epoch->epoch = checkpoint_id;
      epoch->records = std::move(open_);
      pending_.push_back({std::move(epoch), open_bytes_});
      open_.clear();
      open_bytes_ = 0;
    }
    std::vector<EpochPtr> epochs;
    epochs.reserve(pending_.size());
    for (const Pending& p : pending_) epochs.push_back(p.epoch);
    return eos::EncodeSealedLog(run_id_, checkpoint_id, epochs);
  }

  Status OnCheckpointComplete(uint64_t checkpoint_id) {
    std::lock_guard<std::mutex> commit(commit_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      EDDY_RETURN_IF_ERROR(CheckUsable());
      if (checkpoint_id > last_sealed_) {
        return FailedPrecondition("exactly-once egress: checkpoint " +
                                  std::to_string(checkpoint_id) +
                                  " completed but the newest sealed epoch is " +
                                  std::to_string(last_sealed_));
      }
    }
    return CommitPendingThrough(checkpoint_id);
  }

  size_t BufferedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return buffered_bytes_;
  }
  size_t OpenRecords() const {
    std::lock_guard<std::mutex> lock(mu_);
    return open_.size();
  }
  size_t PendingEpochs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pending_.size();
  }
  uint64_t LastCommittedEpoch() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_committed_;
  }
  std::string run_id() const {
    std::lock_guard<std::mutex> lock(mu_);
    return run_id_;
  }

 private:
  struct Pending {
    // Shared with SealEpoch's encoder and the commit path, so committing (which runs without
    // mu_, for seconds) never copies an epoch and Append/SealEpoch never wait for Kafka.
    EpochPtr epoch;
    size_t bytes = 0;
  };

  Status CheckNotStarted() {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return FailedPrecondition(failure_);
    if (started_) return FailedPrecondition("exactly-once egress already started");
    return Status::Ok();
  }

  // Requires mu_. Holds the ingresses from the bound until the buffer is back to half of it
  // (hysteresis, so a commit does not resume ingestion for a few records only).
  void UpdateHoldLocked() {
    if (options_.flow == nullptr) return;
    if (!holding_ && buffered_bytes_ >= options_.max_buffered_bytes) {
      holding_ = true;
      options_.flow->Hold(+1);
      spdlog::warn("exactly-once egress {}: {} bytes wait for their checkpoint (bound {}): "
                   "ingestion held until commits free half of it",
                   producer_->transactional_id(), buffered_bytes_, options_.max_buffered_bytes);
    } else if (holding_ && buffered_bytes_ <= options_.max_buffered_bytes / 2) {
      holding_ = false;
      options_.flow->Hold(-1);
      spdlog::info("exactly-once egress {}: buffer down to {} bytes, ingestion released",
                   producer_->transactional_id(), buffered_bytes_);
    }
  }

  // Requires mu_.
  Status CheckUsable() const {
    if (failed_) return FailedPrecondition(failure_);
    if (!started_) return FailedPrecondition("exactly-once egress: Start or Recover first");
    return Status::Ok();
  }

  // A fatal producer error ends this instance: the worker must restore from a checkpoint.
  Status Fail(const TxnStatus& st, const std::string& what) {
    std::string text = "exactly-once egress " + producer_->transactional_id() + ": " + what +
                       ": " + st.ToString() +
                       (st.fenced ? " (a newer instance took over; stop this worker)" : "");
    spdlog::error("{}", text);
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    failure_ = text;
    return FailedPrecondition(text);
  }

  void Backoff() const {
    if (options_.retry_backoff.count() > 0) std::this_thread::sleep_for(options_.retry_backoff);
  }

  // Calls `op` again while it fails retriably, up to max_attempts.
  template <typename Op>
  TxnStatus WithRetries(Op op) {
    TxnStatus st;
    for (int attempt = 1;; ++attempt) {
      st = op();
      if (st.error_class != TxnErrorClass::kRetriable || attempt >= options_.max_attempts) {
        return st;
      }
      Backoff();
    }
  }

  // Requires commit_mu_. Once per producer: librdkafka refuses a second init_transactions
  // (RD_KAFKA_RESP_ERR__STATE), so a Recover retried after a failed read must not call it again.
  Status Init() {
    if (initialized_) return Status::Ok();
    TxnStatus st =
        WithRetries([&] { return producer_->InitTransactions(options_.init_timeout); });
    if (st.ok()) {
      initialized_ = true;
      return Status::Ok();
    }
    if (st.error_class == TxnErrorClass::kRetriable) {
      return Unavailable("exactly-once egress " + producer_->transactional_id() +
                         ": InitTransactions: " + st.ToString());
    }
    return Fail(st, "InitTransactions");
  }

  // Highest epoch whose marker for (our transactional id, run) is committed; 0 when none.
  Result<uint64_t> ReadLastCommittedEpoch(const std::string& run_id) {
    Result<std::vector<ControlRecord>> records = Status::Ok();
    for (int attempt = 1;; ++attempt) {
      records = reader_->ReadCommitted(options_.control_topic, options_.read_timeout);
      if (records.ok() || attempt >= options_.max_attempts) break;
      Backoff();
    }
    if (!records.ok()) {
      return Unavailable("exactly-once egress " + producer_->transactional_id() +
                         ": cannot read control topic " + options_.control_topic + ": " +
                         records.status().ToString());
    }
    uint64_t last = 0;
    size_t foreign = 0;
    for (const ControlRecord& r : *records) {
      if (r.key != producer_->transactional_id()) continue;
      Result<eos::CommitMarker> marker = eos::DecodeMarker(r.value);
      if (!marker.ok()) {
        // Someone else wrote to the control topic under our key: not ours, cannot be trusted.
        ++foreign;
        continue;
      }
      if (marker->transactional_id != producer_->transactional_id() || marker->run_id != run_id) {
        continue;  // another producer or an earlier run of the job
      }
      last = std::max(last, marker->epoch);
    }
    if (foreign > 0) {
      spdlog::warn("exactly-once egress {}: ignored {} undecodable record(s) with our key on {}",
                   producer_->transactional_id(), foreign, options_.control_topic);
    }
    return last;
  }

  // Requires commit_mu_. Commits pending epochs <= checkpoint_id in order; stops at the first
  // failure so epochs never commit out of order (recovery relies on "marker N => all <= N").
  Status CommitPendingThrough(uint64_t checkpoint_id) {
    for (;;) {
      EpochPtr next;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (failed_) return FailedPrecondition(failure_);
        if (pending_.empty() || pending_.front().epoch->epoch > checkpoint_id) {
          last_committed_ = std::max(last_committed_, checkpoint_id);
          return Status::Ok();
        }
        next = pending_.front().epoch;
      }
      EDDY_RETURN_IF_ERROR(CommitEpoch(*next));
      std::lock_guard<std::mutex> lock(mu_);
      buffered_bytes_ -= pending_.front().bytes;
      pending_.pop_front();
      UpdateHoldLocked();
      last_committed_ = std::max(last_committed_, next->epoch);
    }
  }

  // One transaction: the epoch's records plus its marker. Abortable errors abort and redo the
  // whole transaction (librdkafka: "abort ... and attempt a new transaction").
  Status CommitEpoch(const SealedEpoch& epoch) {
    const std::string marker_value = eos::EncodeMarker(
        {producer_->transactional_id(), run_id(), options_.job, options_.worker,
         options_.egress_id, epoch.epoch});
    const EgressRecord marker{options_.control_topic, producer_->transactional_id(), marker_value,
                              {}};
    const std::string what = "epoch " + std::to_string(epoch.epoch);
    TxnStatus last;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      last = RunTransaction(epoch, marker);
      if (last.ok()) {
        spdlog::debug("exactly-once egress {}: committed {} ({} records)",
                      producer_->transactional_id(), what, epoch.records.size());
        return Status::Ok();
      }
      if (last.error_class == TxnErrorClass::kFatal) return Fail(last, "committing " + what);
      spdlog::warn("exactly-once egress {}: transaction for {} failed ({}), attempt {} of {}",
                   producer_->transactional_id(), what, last.ToString(), attempt,
                   options_.max_attempts);
      if (last.error_class == TxnErrorClass::kAbortable) {
        TxnStatus aborted = WithRetries([&] { return producer_->AbortTransaction(); });
        if (!aborted.ok()) {
          // An abort that keeps failing leaves the producer in an unknown state; treat it as
          // fatal (rdkafka.h: errors neither retriable nor abortable are to be treated so).
          return Fail(aborted, "aborting " + what);
        }
      }
      Backoff();
    }
    return Unavailable("exactly-once egress " + producer_->transactional_id() + ": " + what +
                       " not committed after " + std::to_string(options_.max_attempts) +
                       " attempts: " + last.ToString());
  }

  // Returns OK, or the first error; a retriable error from Begin/Produce after the retries is
  // reported as abortable so the caller aborts the half-built transaction and redoes it.
  TxnStatus RunTransaction(const SealedEpoch& epoch, const EgressRecord& marker) {
    TxnStatus st = producer_->BeginTransaction();
    if (!st.ok()) {
      // Begin has no retriable errors in librdkafka; anything else is a state error (fatal).
      if (st.error_class != TxnErrorClass::kFatal) return TxnStatus::Fatal(st.status.message());
      return st;
    }
    auto produce = [&](const EgressRecord& r) -> TxnStatus {
      TxnStatus p = WithRetries([&] { return producer_->Produce(r); });
      if (p.error_class == TxnErrorClass::kRetriable) {
        return TxnStatus::Abortable(p.status.message());
      }
      return p;
    };
    for (const EgressRecord& r : epoch.records) {
      st = produce(r);
      if (!st.ok()) return st;
    }
    st = produce(marker);
    if (!st.ok()) return st;
    // Commit is resumable after a retriable error (rdkafka.h): call it again.
    st = WithRetries([&] { return producer_->CommitTransaction(); });
    if (st.error_class == TxnErrorClass::kRetriable) {
      // Still unknown whether it committed: aborting is safe (a commit that already completed
      // makes the abort fail with a state error, which we then treat as fatal, and recovery
      // reads the marker). Report it as abortable so the transaction is aborted and redone.
      return TxnStatus::Abortable(st.status.message());
    }
    return st;
  }

  static std::string RandomRunId() {
    std::random_device rd;
    std::string id;
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 4; ++i) {
      uint32_t v = rd();
      for (int k = 0; k < 8; ++k) id.push_back(kHex[(v >> (4 * k)) & 0xF]);
    }
    return id;
  }

  const ExactlyOnceEgressOptions options_;
  TransactionalProducerPtr producer_;  // used only under commit_mu_
  ControlTopicReaderPtr reader_;       // used only under commit_mu_

  std::mutex commit_mu_;  // serializes Start, Recover and commits (held while talking to Kafka)
  bool initialized_ = false;  // guarded by commit_mu_
  mutable std::mutex mu_;  // guards everything below; never held while talking to Kafka
  bool started_ = false;
  bool failed_ = false;
  std::string failure_;
  std::string run_id_;
  uint64_t last_sealed_ = 0;
  uint64_t last_committed_ = 0;
  std::vector<EgressRecord> open_;
  size_t open_bytes_ = 0;
  std::deque<Pending> pending_;
  size_t buffered_bytes_ = 0;
  bool holding_ = false;  // options_.flow is held (UpdateHoldLocked)
};

Result<std::unique_ptr<ExactlyOnceEgress>> ExactlyOnceEgress::Create(
    ExactlyOnceEgressOptions options, TransactionalProducerPtr producer,
    ControlTopicReaderPtr reader) {
  if (producer == nullptr || reader == nullptr) {
    return InvalidArgument("exactly-once egress: producer and control topic reader are required");
  }
  if (producer->transactional_id().empty()) {
    return InvalidArgument("exactly-once egress: empty transactional id");
  }
  if (options.control_topic.empty()) {
    return InvalidArgument("exactly-once egress: empty control topic");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  if (options.max_buffered_bytes == 0) {
    return InvalidArgument("exactly-once egress: max_buffered_bytes must be positive");
  }
  return std::unique_ptr<ExactlyOnceEgress>(new ExactlyOnceEgress(
      std::make_unique<Impl>(std::move(options), std::move(producer), std::move(reader))));
}

ExactlyOnceEgress::ExactlyOnceEgress(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExactlyOnceEgress::~ExactlyOnceEgress() = default;

Status ExactlyOnceEgress::Start() { return impl_->Start(); }
Status ExactlyOnceEgress::Recover(uint64_t checkpoint_id, std::string_view sealed) {
  return impl_->Recover(checkpoint_id, sealed);
}
Status ExactlyOnceEgress::Append(EgressRecord record) { return impl_->Append(std::move(record)); }
Result<std::string> ExactlyOnceEgress::SealEpoch(uint64_t checkpoint_id) {
  return impl_->SealEpoch(checkpoint_id);
}
Status ExactlyOnceEgress::OnCheckpointComplete(uint64_t checkpoint_id) {
  return impl_->OnCheckpointComplete(checkpoint_id);
}
size_t ExactlyOnceEgress::BufferedBytes() const { return impl_->BufferedBytes(); }
size_t ExactlyOnceEgress::OpenRecords() const { return impl_->OpenRecords(); }
size_t ExactlyOnceEgress::PendingEpochs() const { return impl_->PendingEpochs(); }
uint64_t ExactlyOnceEgress::LastCommittedEpoch() const { return impl_->LastCommittedEpoch(); }
std::string ExactlyOnceEgress::run_id() const { return impl_->run_id(); }

}  // namespace eddy
