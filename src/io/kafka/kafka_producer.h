#pragma once
// ProducerCore: the librdkafka producer shared by the Kafka egress and the dead-letter sink.
// Every record holds one ProgressTracker count on its epoch from Produce() until its delivery
// report (success, or final failure, which is logged and counted), so an ingress never commits
// offsets whose derived records could still be lost. A background thread serves delivery
// reports. Thread-safe. Private to src/io/kafka.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/metrics/metrics.h"
#include "io/kafka/kafka_util.h"

struct rd_kafka_s;
struct rd_kafka_message_s;

namespace eddy {
class ProgressTracker;
}

namespace eddy::kafka {

struct ProducerOptions {
  std::string name;                               // for log lines, e.g. "egress ns/out"
  std::string bootstrap;                          // bootstrap.servers
  KafkaProperties properties;                     // user properties, applied first
  KafkaProperties enforced;                       // applied last (delivery semantics)
  Counter* delivered = nullptr;                   // may be null
  Counter* failed = nullptr;                      // may be null
  std::chrono::milliseconds close_timeout{5000};  // how long the destructor waits for acks
};

struct OutgoingRecord {
  std::string_view topic;
  std::string_view key;  // empty -> record without key
  std::string_view value;
  std::vector<std::pair<std::string, std::string>> headers;
};

class ProducerCore {
 public:
  static Result<std::unique_ptr<ProducerCore>> Create(ProducerOptions options,
                                                      ProgressTracker* progress);
  ~ProducerCore();
  ProducerCore(const ProducerCore&) = delete;
  ProducerCore& operator=(const ProducerCore&) = delete;

  // Acquires a count on `epoch` and enqueues the record; while librdkafka's queue is full it
  // serves delivery reports and retries (backpressure on the caller, never a drop). On an
  // immediate failure the count is released and the error returned (and counted).
  Status Produce(const OutgoingRecord& record, uint64_t epoch);
  Status Flush(std::chrono::milliseconds timeout);

 private:
  ProducerCore(ProducerOptions options, ProgressTracker* progress);
  static void OnDelivery(rd_kafka_s* rk, const rd_kafka_message_s* msg, void* opaque);
  void PollLoop();

  ProducerOptions options_;
  ProgressTracker* progress_;
  Counter fallback_delivered_;
  Counter fallback_failed_;
  rd_kafka_s* rk_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  LogLimiter error_log_{std::chrono::seconds(1)};
};

}  // namespace eddy::kafka
