#include "io/kafka/kafka_util.h"

#include "statefun/sdk/egress.pb.h"

#include <librdkafka/rdkafka.h>

namespace eddy::kafka {

Status ValidateStartup(const KafkaIngressSpec& spec) {
  const std::string& reset = spec.auto_offset_reset_position;
  if (reset != "earliest" && reset != "latest") {
    return InvalidArgument("kafka ingress " + spec.id +
                           ": autoOffsetResetPosition must be "
                           "earliest or latest, not '" +
                           reset + "'");
  }
  const std::string& type = spec.startup_position.type;
  if (type != "group-offsets" && type != "earliest" && type != "latest" &&
      type != "specific-offsets" && type != "date") {
    return InvalidArgument("kafka ingress " + spec.id + ": unknown startupPosition type '" + type +
                           "' (group-offsets, earliest, latest, specific-offsets or date)");
  }
  for (const auto& [tp, offset] : spec.startup_position.specific_offsets) {
    if (offset < 0 || tp.second < 0) {
      return InvalidArgument("kafka ingress " + spec.id + ": specific offset for " + tp.first +
                             "/" + std::to_string(tp.second) + " must not be negative");
    }
  }
  if (type == "date" && spec.startup_position.date_epoch_ms < 0) {
    return InvalidArgument("kafka ingress " + spec.id + ": startupPosition date before 1970");
  }
  return Status::Ok();
}

StartOffset StartupOffsetFor(const KafkaIngressSpec& spec, const std::string& topic,
                             int32_t partition) {
  using Kind = StartOffset::Kind;
  const StartOffset reset{
      spec.auto_offset_reset_position == "earliest" ? Kind::kBeginning : Kind::kEnd, 0};
  const KafkaStartupPosition& pos = spec.startup_position;
  if (pos.type == "earliest") return {Kind::kBeginning, 0};
  if (pos.type == "latest") return {Kind::kEnd, 0};
  if (pos.type == "date") return {Kind::kTimestamp, pos.date_epoch_ms};
  if (pos.type == "specific-offsets") {
    auto it = pos.specific_offsets.find({topic, partition});
    if (it == pos.specific_offsets.end()) return reset;
    return {Kind::kAbsolute, it->second};
  }
  // group-offsets: librdkafka applies auto.offset.reset itself when nothing is committed.
  return {Kind::kCommitted, 0};
}

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is malformed (overlong forms,
// surrogates and code points above U+10FFFF are malformed too).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return len;
}

}  // namespace

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    size_t len = Utf8SequenceLength(bytes, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD, one per malformed byte
      ++i;
    } else {
      out.append(bytes.substr(i, len));
      i += len;
    }
  }
  return out;
}

Status SetProperty(rd_kafka_conf_s* conf, const std::string& name, const std::string& value,
                   const std::string& what) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    return InvalidArgument(what + ": property " + name + ": " + errstr);
  }
  return Status::Ok();
}

Status SetProperties(rd_kafka_conf_s* conf, const KafkaProperties& properties,
                     const std::string& what) {
  for (const auto& [name, value] : properties) {
    EDDY_RETURN_IF_ERROR(SetProperty(conf, name, value, what));
  }
  return Status::Ok();
}

std::string RecordSource(std::string_view topic, int32_t partition, int64_t offset) {
  std::string s = "kafka:";
  s.append(topic);
  s += "/" + std::to_string(partition) + "@" + std::to_string(offset);
  return s;
}

bool LogLimiter::Allow(uint64_t* suppressed) {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  if (logged_once_ && now - last_ < interval_) {
    ++suppressed_;
    return false;
  }
  logged_once_ = true;
  last_ = now;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

Result<KafkaRecordParts> ParseKafkaEgressRecord(const std::string& egress_id,
                                                const TypedValue& value) {
  if (value.type_name != types::kKafkaProducerRecord) {
    return InvalidArgument("kafka egress " + egress_id + " accepts only " +
                           std::string(types::kKafkaProducerRecord) + ", got '" +
                           value.type_name + "'");
  }
  io::statefun::sdk::egress::KafkaProducerRecord record;
  if (!value.has_value || !record.ParseFromString(value.value)) {
    return InvalidArgument("kafka egress " + egress_id + ": value is not a KafkaProducerRecord");
  }
  if (record.topic().empty()) {
    return InvalidArgument("kafka egress " + egress_id + ": KafkaProducerRecord without topic");
  }
  return KafkaRecordParts{record.topic(), record.key(), record.value_bytes()};
}

}  // namespace eddy::kafka
