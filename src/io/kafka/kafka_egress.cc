// MakeKafkaEgress and MakeKafkaDeadLetterSink: thin adapters over ProducerCore.

#include <spdlog/spdlog.h>

#include <atomic>

#include "eddy/io/kafka.h"
#include "eddy/metrics/metrics.h"
#include "eddy/model/typed_value.h"
#include "io/kafka/kafka_producer.h"
#include "statefun/sdk/egress.pb.h"

namespace eddy {

namespace {

using kafka::OutgoingRecord;
using kafka::ProducerCore;
using kafka::ProducerOptions;

class KafkaEgress final : public Egress {
 public:
  KafkaEgress(std::string id, std::unique_ptr<ProducerCore> core)
      : id_(std::move(id)), core_(std::move(core)) {}

  Status Validate(const TypedValue& value) const override { return Parse(value).status(); }

  Status Send(const TypedValue& value, uint64_t epoch) override {
    auto record = Parse(value);
    if (!record.ok()) return record.status();
    return core_->Produce(
        OutgoingRecord{record->topic, record->key, record->value, {}}, epoch);
  }

  Status Flush(std::chrono::milliseconds timeout) override { return core_->Flush(timeout); }

 private:
  Result<kafka::KafkaRecordParts> Parse(const TypedValue& value) const {
    return kafka::ParseKafkaEgressRecord(id_, value);
  }

  std::string id_;
  std::unique_ptr<ProducerCore> core_;
};

class KafkaDeadLetterSink final : public DeadLetterSink {
 public:
  KafkaDeadLetterSink(std::string topic, std::unique_ptr<ProducerCore> core)
      : topic_(std::move(topic)), core_(std::move(core)) {}

  Status Send(const DeadLetter& letter, uint64_t epoch) override {
    return core_->Produce(OutgoingRecord{topic_,
                                         letter.key,
                                         letter.value,
                                         {{"eddy-reason", letter.reason},
                                          {"eddy-source", letter.source},
                                          {"eddy-value-type", letter.value_type}}},
                          epoch);
  }

  Status Flush(std::chrono::milliseconds timeout) override { return core_->Flush(timeout); }

 private:
  std::string topic_;
  std::unique_ptr<ProducerCore> core_;
};

// Settings that make a delivery semantic; applied after the user's properties so a stray
// property cannot silently weaken the guarantee.
Result<KafkaProperties> SemanticProperties(const KafkaEgressSpec& spec) {
  const std::string& s = spec.delivery_semantic;
  if (s == "none") return KafkaProperties{{"acks", "1"}, {"enable.idempotence", "false"}};
  if (s == "at-least-once" || s == "exactly-once") {
    if (s == "exactly-once") {
      static std::atomic<bool> warned{false};
      if (!warned.exchange(true)) {
        spdlog::warn(
            "kafka egress {}: exactly-once needs checkpointing (worker config "
            "checkpoint.embedded or checkpoint.coordinator), which is off; delivering "
            "at-least-once with an idempotent producer",
            spec.id);
      }
    }
    return KafkaProperties{{"enable.idempotence", "true"}, {"acks", "all"}};
  }
  return InvalidArgument("kafka egress " + spec.id + ": unknown deliverySemantic '" + s +
                         "' (at-least-once, exactly-once or none)");
}

}  // namespace

Result<EgressPtr> MakeKafkaEgress(const KafkaEgressSpec& spec, ProgressTracker* progress,
                                  MetricsRegistry* metrics) {
  Result<KafkaProperties> enforced = SemanticProperties(spec);
  if (!enforced.ok()) return enforced.status();
  ProducerOptions options;
  options.name = "egress " + spec.id;
  options.bootstrap = spec.address;
  options.properties = spec.properties;
  options.enforced = std::move(enforced).value();
  if (metrics != nullptr) {
    Labels labels{{"egress", spec.id}};
    options.delivered = &metrics->GetCounter("eddy_egress_records_total", labels,
                                             "Records acknowledged by the Kafka egress's broker.");
    options.failed = &metrics->GetCounter("eddy_egress_errors_total", labels,
                                          "Records the Kafka egress failed to deliver.");
  }
  auto core = ProducerCore::Create(std::move(options), progress);
  if (!core.ok()) return core.status();
  return EgressPtr(std::make_unique<KafkaEgress>(spec.id, std::move(core).value()));
}

Result<DeadLetterSinkPtr> MakeKafkaDeadLetterSink(std::string bootstrap, std::string topic,
                                                  ProgressTracker* progress) {
  if (topic.empty()) return InvalidArgument("kafka dead-letter sink: empty topic");
  ProducerOptions options;
  options.name = "dead-letter " + topic;
  options.bootstrap = std::move(bootstrap);
  options.enforced = {{"enable.idempotence", "true"}, {"acks", "all"}};
  auto core = ProducerCore::Create(std::move(options), progress);
  if (!core.ok()) return core.status();
  return DeadLetterSinkPtr(
      std::make_unique<KafkaDeadLetterSink>(std::move(topic), std::move(core).value()));
}

}  // namespace eddy
