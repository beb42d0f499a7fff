// TransactionalProducer over librdkafka's transactional API. Every rule followed here is from
// librdkafka 2.0.2's own documentation (rdkafka.h "Transactional producer API",
// INTRODUCTION.md "Transactional Producer", CONFIGURATION.md), cited at each call.

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>

#include "eddy/io/exactly_once_egress.h"
#include "io/kafka/kafka_util.h"

namespace eddy {

namespace {

bool IsFencedCode(rd_kafka_resp_err_t code) {
  // INTRODUCTION.md "Old producer fencing": a fenced instance gets a fatal error with
  // RD_KAFKA_RESP_ERR__FENCED; the broker-side codes are PRODUCER_FENCED and (older brokers)
  // INVALID_PRODUCER_EPOCH (rdkafka.h, commit/abort "fenced by a newer producer instance").
  return code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
         code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

class KafkaTransactionalProducer final : public TransactionalProducer {
 public:
  static Result<TransactionalProducerPtr> Create(const KafkaEgressSpec& spec,
                                                 std::string transactional_id) {
    if (transactional_id.empty()) return InvalidArgument("empty transactional.id");
    if (spec.address.empty()) return InvalidArgument("kafka egress " + spec.id + ": no address");
    std::unique_ptr<KafkaTransactionalProducer> p(
        new KafkaTransactionalProducer(spec.id, std::move(transactional_id)));
    const std::string what = "exactly-once egress " + spec.id;

    KafkaProperties enforced = {
        {"bootstrap.servers", spec.address},
        // CONFIGURATION.md transactional.id: "Enables the transactional producer ... any zombie
        // instances are fenced off".
        {"transactional.id", p->id_},
        // Transactions run on the idempotent producer (rdkafka.h: "The transactional producer
        // operates on top of the idempotent producer"); set it explicitly, with acks=all, which
        // idempotence requires, so a user property cannot weaken either.
        {"enable.idempotence", "true"},
        {"acks", "all"},
    };
    if (spec.transaction_timeout.count() > 0) {
      // StateFun's transactionTimeout. CONFIGURATION.md: the coordinator aborts a transaction
      // idle longer than this; it must not exceed the broker's transaction.max.timeout.ms
      // (init_transactions then fails with INVALID_TRANSACTION_TIMEOUT), and message.timeout.ms
      // is adjusted to it unless set explicitly (then it must not be larger; rd_kafka_new
      // enforces that, INTRODUCTION.md "Configuration considerations").
      enforced.push_back(
          {"transaction.timeout.ms", std::to_string(spec.transaction_timeout.count())});
    }
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    Status st = kafka::SetProperties(conf, spec.properties, what);  // user's first
    if (st.ok()) st = kafka::SetProperties(conf, enforced, what);   // then ours win
    if (!st.ok()) {
      rd_kafka_conf_destroy(conf);
      return st;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaTransactionalProducer::OnDelivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaTransactionalProducer::OnError);
    rd_kafka_conf_set_opaque(conf, p.get());
    char errstr[512];
    p->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (p->rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);  // ownership passes to rd_kafka_new only on success
      return InvalidArgument(what + ": cannot create producer: " + errstr);
    }
    return TransactionalProducerPtr(std::move(p));
  }

  ~KafkaTransactionalProducer() override {
    if (rk_ == nullptr) return;
    // An open transaction is left to the broker: the next instance's init_transactions aborts
    // it, or transaction.timeout.ms does. Purge what is still queued so destroy does not wait.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_, 0);
    rd_kafka_destroy(rk_);
  }

  const std::string& transactional_id() const override { return id_; }

  TxnStatus InitTransactions(std::chrono::milliseconds timeout) override {
    // rdkafka.h rd_kafka_init_transactions: blocking; acquires the producer id, aborts a stale
    // transaction of a previous instance and fences it; a retriable timeout may be resumed by
    // calling it again. We pass a finite timeout (not -1, which would mean 2 x
    // transaction.timeout.ms) so a dead coordinator is reported early.
    return Classify(rd_kafka_init_transactions(rk_, static_cast<int>(timeout.count())),
                    "init_transactions");
  }

  TxnStatus BeginTransaction() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      delivery_error_.reset();
    }
    // rdkafka.h rd_kafka_begin_transaction: only __STATE / fatal errors; no retriable ones.
    return Classify(rd_kafka_begin_transaction(rk_), "begin_transaction");
  }

  TxnStatus Produce(const EgressRecord& record) override {
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& [name, value] : record.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()),
                            value.data(), static_cast<ssize_t>(value.size()));
      }
    }
    rd_kafka_vu_t vus[5] = {};
    size_t n = 0;
    vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vus[n++].u.cstr = record.topic.c_str();
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n].u.mem.ptr = const_cast<char*>(record.value.data());
    vus[n++].u.mem.size = record.value.size();
    if (!record.key.empty()) {
      vus[n].vtype = RD_KAFKA_VTYPE_KEY;
      vus[n].u.mem.ptr = const_cast<char*>(record.key.data());
      vus[n++].u.mem.size = record.key.size();
    }
    if (headers != nullptr) {
      vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      vus[n++].u.headers = headers;
    }
    for (;;) {
      // rdkafka.h begin_transaction remark: produce is only allowed inside a transaction; a
      // produce outside one, or in a failed transaction, returns an error object that carries
      // the fatal / abortable flags.
      rd_kafka_error_t* error = rd_kafka_produceva(rk_, vus, n);
      if (error == nullptr) {
        rd_kafka_poll(rk_, 0);  // serve delivery reports as we go
        return TxnStatus::Ok();  // the headers now belong to the message
      }
      if (rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // Local queue full: wait for acknowledgements, never drop (as ProducerCore does).
        rd_kafka_error_destroy(error);
        rd_kafka_poll(rk_, 10);
        continue;
      }
      if (headers != nullptr) rd_kafka_headers_destroy(headers);
      return Classify(error, "produce to " + record.topic);
    }
  }

  TxnStatus CommitTransaction() override {
    // rdkafka.h rd_kafka_commit_transaction: flushes outstanding messages first (serving
    // delivery reports on this thread, since we use no event queue); a permanently failed
    // message puts the transaction in the abortable state. "It is strongly recommended to always
    // pass -1 (remaining transaction time)"; a retriable timeout may be resumed by calling again.
    TxnStatus st = Classify(rd_kafka_commit_transaction(rk_, -1), "commit_transaction");
    if (st.error_class == TxnErrorClass::kAbortable) {
      std::lock_guard<std::mutex> lock(mu_);
      if (delivery_error_) {
        st.status = Unavailable(st.status.message() + " (first delivery error: " +
                                *delivery_error_ + ")");
      }
    }
    return st;
  }

  TxnStatus AbortTransaction() override {
    // rdkafka.h rd_kafka_abort_transaction: also the way out of an abortable error; purges
    // outstanding messages; -1 recommended, as for commit; resumable on a retriable timeout.
    return Classify(rd_kafka_abort_transaction(rk_, -1), "abort_transaction");
  }

 private:
  KafkaTransactionalProducer(std::string egress, std::string id)
      : egress_(std::move(egress)), id_(std::move(id)) {}

  // rdkafka.h "Error handling": fatal (rd_kafka_error_is_fatal) -> the instance is unusable;
  // abortable (rd_kafka_error_txn_requires_abort) -> abort and redo; retriable
  // (rd_kafka_error_is_retriable) -> call again; "treat all other errors as fatal errors".
  // Destroys `error`.
  TxnStatus Classify(rd_kafka_error_t* error, const std::string& op) {
    if (error == nullptr) return TxnStatus::Ok();
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    std::string text = "kafka " + op + " (" + id_ + "): " + rd_kafka_error_name(error) + ": " +
                       rd_kafka_error_string(error);
    bool fatal = rd_kafka_error_is_fatal(error) != 0;
    bool abortable = rd_kafka_error_txn_requires_abort(error) != 0;
    bool retriable = rd_kafka_error_is_retriable(error) != 0;
    rd_kafka_error_destroy(error);
    bool fenced = IsFencedCode(code);
    if (fatal || code == RD_KAFKA_RESP_ERR__FATAL) {
      // The originating error of a fatal state (rdkafka.h rd_kafka_fatal_error).
      char reason[512];
      rd_kafka_resp_err_t origin = rd_kafka_fatal_error(rk_, reason, sizeof(reason));
      if (origin != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fenced = fenced || IsFencedCode(origin);
        text += std::string(" (fatal: ") + rd_kafka_err2name(origin) + ": " + reason + ")";
      }
      return TxnStatus::Fatal(text, fenced);
    }
    if (abortable) return TxnStatus::Abortable(text);
    if (retriable) return TxnStatus::Retriable(text);
    return TxnStatus::Fatal(text, fenced);
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
    auto* self = static_cast<KafkaTransactionalProducer*>(opaque);
    std::lock_guard<std::mutex> lock(self->mu_);
    if (!self->delivery_error_) {
      self->delivery_error_ = std::string(rd_kafka_topic_name(msg->rkt)) + ": " +
                              rd_kafka_err2str(msg->err);
    }
  }

  static void OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaTransactionalProducer*>(opaque);
    // Fatal errors are raised through error_cb (rdkafka.h "Fatal errors"); the next
    // transactional call reports them too, classified above. Others are informational.
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      spdlog::error("exactly-once egress {} ({}): fatal kafka error: {}", self->egress_,
                    self->id_, reason);
    } else {
      uint64_t suppressed = 0;
      if (self->error_log_.Allow(&suppressed)) {
        spdlog::warn("exactly-once egress {} ({}): kafka: {} ({} similar suppressed)",
                     self->egress_, self->id_, reason, suppressed);
      }
    }
  }

  std::string egress_;
  std::string id_;
  rd_kafka_t* rk_ = nullptr;
  std::mutex mu_;  // delivery_error_ (written by delivery reports during flush/poll)
  std::optional<std::string> delivery_error_;
  kafka::LogLimiter error_log_{std::chrono::seconds(5)};
};

}  // namespace

Result<TransactionalProducerPtr> MakeKafkaTransactionalProducer(const KafkaEgressSpec& spec,
                                                                std::string transactional_id) {
  return KafkaTransactionalProducer::Create(spec, std::move(transactional_id));
}

}  // namespace eddy
