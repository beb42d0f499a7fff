// MakeExactlyOnceEgressAdapter: the shard-facing Egress over ExactlyOnceEgress.

#include "eddy/io/exactly_once_egress.h"
#include "eddy/model/typed_value.h"
#include "io/kafka/kafka_util.h"

namespace eddy {

namespace {

class ExactlyOnceEgressAdapter final : public Egress {
 public:
  ExactlyOnceEgressAdapter(std::string id, ExactlyOnceEgress* egress)
      : id_(std::move(id)), egress_(egress) {}

  Status Validate(const TypedValue& value) const override { return Parse(value).status(); }

  // The ProgressTracker epoch is not used: records become visible when their checkpoint
  // completes, so no count is held (and offsets are not committed from it).
  Status Send(const TypedValue& value, uint64_t /*epoch*/) override {
    Result<EgressRecord> record = Parse(value);
    if (!record.ok()) return record.status();
    return egress_->Append(std::move(record).value());
  }

  // Nothing to flush: records wait for their checkpoint, not for the broker.
  Status Flush(std::chrono::milliseconds) override { return Status::Ok(); }

 private:
  // Same rules as the at-least-once Kafka egress (one shared parser).
  Result<EgressRecord> Parse(const TypedValue& value) const {
    auto parts = kafka::ParseKafkaEgressRecord(id_, value);
    if (!parts.ok()) return parts.status();
    return EgressRecord{std::move(parts->topic), std::move(parts->key), std::move(parts->value), {}};
  }

  std::string id_;
  ExactlyOnceEgress* egress_;
};

}  // namespace

EgressPtr MakeExactlyOnceEgressAdapter(std::string id, ExactlyOnceEgress* egress) {
  return std::make_unique<ExactlyOnceEgressAdapter>(std::move(id), egress);
}

}  // namespace eddy
