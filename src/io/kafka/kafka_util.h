#pragma once
// Small pieces of the Kafka adapters that do not need a broker: startup-position rules, UTF-8
// key sanitising, property application and log rate limiting. Private to src/io/kafka.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/model/typed_value.h"

struct rd_kafka_conf_s;

namespace eddy::kafka {

// Where a newly assigned partition starts reading.
struct StartOffset {
  enum class Kind { kAbsolute, kBeginning, kEnd, kCommitted, kTimestamp };
  Kind kind = Kind::kCommitted;
  int64_t value = 0;  // offset for kAbsolute, epoch millis for kTimestamp
  friend bool operator==(const StartOffset&, const StartOffset&) = default;
};

// InvalidArgument unless type is one of group-offsets|earliest|latest|specific-offsets|date and
// auto_offset_reset_position is earliest|latest.
Status ValidateStartup(const KafkaIngressSpec& spec);

// The startup rule for a partition assigned for the first time in this process:
// group-offsets -> committed (auto.offset.reset when none), earliest, latest, date -> lookup by
// timestamp, specific-offsets -> the listed offset, or auto.offset.reset when not listed.
StartOffset StartupOffsetFor(const KafkaIngressSpec& spec, const std::string& topic,
                             int32_t partition);

// Kafka keys are bytes; StateFun decodes them as UTF-8 (Java replaces malformed sequences with
// U+FFFD). Function ids travel in protobuf `string` fields, which must be valid UTF-8, so do the
// same. Returns the input unchanged when it is already valid.
std::string SanitizeUtf8(std::string_view bytes);

// Applies properties in order; InvalidArgument naming the property librdkafka rejected.
Status SetProperty(rd_kafka_conf_s* conf, const std::string& name, const std::string& value,
                   const std::string& what);
Status SetProperties(rd_kafka_conf_s* conf, const KafkaProperties& properties,
                     const std::string& what);

// "kafka:<topic>/<partition>@<offset>", the dead-letter source of an ingress record.
std::string RecordSource(std::string_view topic, int32_t partition, int64_t offset);

// Lets one log line through per interval, so a broken broker or a stream of bad records does not
// flood the log; counts what it suppressed. Thread-safe.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::milliseconds interval) : interval_(interval) {}
  // True when the caller should log now; *suppressed gets the number skipped since last time.
  bool Allow(uint64_t* suppressed);

 private:
  std::mutex mu_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_{};
  bool logged_once_ = false;
  uint64_t suppressed_ = 0;
};

// A function's egress record for a Kafka egress, checked like StateFun's Kafka egress binder:
// exact typename io.statefun.sdk.egress.KafkaProducerRecord, parseable, non-empty topic. An empty
// key means "no key". `egress_id` names the egress in errors. Shared by the at-least-once and the
// exactly-once egress so both refuse exactly the same records.
struct KafkaRecordParts {
  std::string topic;
  std::string key;
  std::string value;
};
Result<KafkaRecordParts> ParseKafkaEgressRecord(const std::string& egress_id,
                                                const TypedValue& value);

}  // namespace eddy::kafka
