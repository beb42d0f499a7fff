#include "io/kafka/kafka_producer.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include "eddy/runtime/progress_tracker.h"

namespace eddy::kafka {

namespace {

void* EpochToOpaque(uint64_t epoch) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(epoch));
}
uint64_t OpaqueToEpoch(void* opaque) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(opaque));
}
static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "epochs travel in the message opaque");

}  // namespace

ProducerCore::ProducerCore(ProducerOptions options, ProgressTracker* progress)
    : options_(std::move(options)), progress_(progress) {
  if (options_.delivered == nullptr) options_.delivered = &fallback_delivered_;
  if (options_.failed == nullptr) options_.failed = &fallback_failed_;
}

Result<std::unique_ptr<ProducerCore>> ProducerCore::Create(ProducerOptions options,
                                                           ProgressTracker* progress) {
  if (progress == nullptr) return InvalidArgument(options.name + ": no progress tracker");
  if (options.bootstrap.empty()) return InvalidArgument(options.name + ": empty address");
  std::unique_ptr<ProducerCore> core(new ProducerCore(std::move(options), progress));
  const ProducerOptions& opts = core->options_;

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  Status st = SetProperties(conf, opts.properties, opts.name);
  if (st.ok()) st = SetProperty(conf, "bootstrap.servers", opts.bootstrap, opts.name);
  if (st.ok()) st = SetProperties(conf, opts.enforced, opts.name);
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &ProducerCore::OnDelivery);
  rd_kafka_conf_set_opaque(conf, core.get());
  char errstr[512];
  core->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (core->rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new only takes ownership on success
    return InvalidArgument(opts.name + ": cannot create producer: " + errstr);
  }
  core->poller_ = std::thread([c = core.get()] { c->PollLoop(); });
  return core;
}

ProducerCore::~ProducerCore() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
  if (rk_ == nullptr) return;
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(options_.close_timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    int left = rd_kafka_outq_len(rk_);
    spdlog::error("kafka {}: {} records not acknowledged within {} ms at shutdown; failing them",
                  options_.name, left, options_.close_timeout.count());
    // Purged records get a delivery report with ERR__PURGE_*; like any failure they keep their
    // counts, so nothing after them is committed.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(rk_, 1000);
  }
  rd_kafka_destroy(rk_);
}

void ProducerCore::PollLoop() {
  while (!stop_.load()) rd_kafka_poll(rk_, 50);
}

void ProducerCore::OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* msg, void* opaque) {
  auto* self = static_cast<ProducerCore*>(opaque);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->progress_->Release(OpaqueToEpoch(msg->_private));
    self->options_.delivered->Inc();
    return;
  }
  // A record that definitively failed (librdkafka retried until message.timeout.ms) keeps its
  // count: its epoch never completes, so the ingress records it came from stay uncommitted and
  // are read again after a restart rather than being skipped. Ingress commits stall meanwhile,
  // which the error counter and the log make visible.
  self->options_.failed->Inc();
  uint64_t suppressed = 0;
  if (self->error_log_.Allow(&suppressed)) {
    spdlog::error("kafka {}: record to {} failed: {} ({} similar errors suppressed)",
                  self->options_.name, rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err),
                  suppressed);
  }
}

Status ProducerCore::Produce(const OutgoingRecord& record, uint64_t epoch) {
  rd_kafka_headers_t* headers = nullptr;
  if (!record.headers.empty()) {
    headers = rd_kafka_headers_new(record.headers.size());
    for (const auto& [name, value] : record.headers) {
      rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                          static_cast<ssize_t>(value.size()));
    }
  }
  std::string topic(record.topic);
  std::vector<rd_kafka_vu_t> vus;
  vus.reserve(6);
  auto add = [&](rd_kafka_vu_t vu) { vus.push_back(vu); };
  rd_kafka_vu_t vu{};
  vu.vtype = RD_KAFKA_VTYPE_TOPIC;
  vu.u.cstr = topic.c_str();
  add(vu);
  vu = {};
  vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vu.u.i = RD_KAFKA_MSG_F_COPY;
  add(vu);
  vu = {};
  vu.vtype = RD_KAFKA_VTYPE_VALUE;
  vu.u.mem.ptr = const_cast<char*>(record.value.data());
  vu.u.mem.size = record.value.size();
  add(vu);
  if (!record.key.empty()) {
    vu = {};
    vu.vtype = RD_KAFKA_VTYPE_KEY;
    vu.u.mem.ptr = const_cast<char*>(record.key.data());
    vu.u.mem.size = record.key.size();
    add(vu);
  }
  if (headers != nullptr) {
    vu = {};
    vu.vtype = RD_KAFKA_VTYPE_HEADERS;
    vu.u.headers = headers;
    add(vu);
  }
  vu = {};
  vu.vtype = RD_KAFKA_VTYPE_OPAQUE;
  vu.u.ptr = EpochToOpaque(epoch);
  add(vu);

  progress_->Acquire(epoch);
  for (;;) {
    rd_kafka_error_t* error = rd_kafka_produceva(rk_, vus.data(), vus.size());
    if (error == nullptr) return Status::Ok();  // headers now belong to the message
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    std::string message = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      // Backpressure: wait for acknowledgements to make room. Never drop.
      rd_kafka_poll(rk_, 10);
      continue;
    }
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    progress_->Release(epoch);
    options_.failed->Inc();
    std::string text = options_.name + ": cannot produce to " + topic + ": " + message;
    if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || code == RD_KAFKA_RESP_ERR__INVALID_ARG) {
      return InvalidArgument(text);
    }
    return Unavailable(text);
  }
}

Status ProducerCore::Flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_, static_cast<int>(timeout.count()));
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return DeadlineExceeded(options_.name + ": " + std::to_string(rd_kafka_outq_len(rk_)) +
                            " records not acknowledged within " + std::to_string(timeout.count()) +
                            " ms");
  }
  return Unavailable(options_.name + ": flush: " + rd_kafka_err2str(err));
}

}  // namespace eddy::kafka
