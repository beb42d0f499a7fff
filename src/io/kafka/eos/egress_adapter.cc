// MakeExactlyOnceEgressAdapter: the shard-facing Egress over ExactlyOnceEgress.

#include "eddy/io/exactly_once_egress.h"
#include "eddy/model/typed_value.h"
#include "statefun/sdk/egress.pb.h"

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
  // Same rules as the at-least-once Kafka egress (kafka_egress.cc): exact typename, parseable
  // KafkaProducerRecord, non-empty topic; empty key means no key.
  Result<EgressRecord> Parse(const TypedValue& value) const {
    if (value.type_name != types::kKafkaProducerRecord) {
      return InvalidArgument("kafka egress " + id_ + " accepts only " +
                             std::string(types::kKafkaProducerRecord) + ", got '" +
                             value.type_name + "'");
    }
    io::statefun::sdk::egress::KafkaProducerRecord record;
    if (!value.has_value || !record.ParseFromString(value.value)) {
      return InvalidArgument("kafka egress " + id_ + ": value is not a KafkaProducerRecord");
    }
    if (record.topic().empty()) {
      return InvalidArgument("kafka egress " + id_ + ": KafkaProducerRecord without topic");
    }
    return EgressRecord{record.topic(), record.key(), record.value_bytes(), {}};
  }

  std::string id_;
  ExactlyOnceEgress* egress_;
};

}  // namespace

EgressPtr MakeExactlyOnceEgressAdapter(std::string id, ExactlyOnceEgress* egress) {
  return std::make_unique<ExactlyOnceEgressAdapter>(std::move(id), egress);
}

}  // namespace eddy
