// io.statefun.kafka.v1/ingress and io.statefun.kafka.v1/egress (StateFun's
// RoutableKafkaIngressSpec and GenericKafkaEgressSpec). Named fields are merged into the
// librdkafka property list, overriding what `properties` says, so the Kafka code downstream can
// pass `properties` through as they are.

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "config/component_parsers.h"

namespace eddy::config_internal {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();

// Replaces the value of `key` in place (keeping the order), or appends it.
void SetProperty(KafkaProperties& props, const std::string& key, const std::string& value) {
  for (auto& [k, v] : props) {
    if (k == key) {
      v = value;
      return;
    }
  }
  props.emplace_back(key, value);
}

const std::string* FindProperty(const KafkaProperties& props, const std::string& key) {
  for (const auto& [k, v] : props) {
    if (k == key) return &v;
  }
  return nullptr;
}

// A YAML list of single-key maps: `- key: value`. Values are kept as written ("true", "100").
Result<KafkaProperties> ParseProperties(const Field& field) {
  KafkaProperties props;
  if (!field.present()) return props;
  if (!field.IsSequence()) {
    return field.Error("expected a list of single-key maps ('- key: value'), got " +
                       field.Describe());
  }
  for (const Field& item : field.Items()) {
    if (!item.IsMap() || item.node().size() != 1) {
      return item.Error("expected a single-key map ('- key: value'), got " + item.Describe());
    }
    auto entries = item.Entries();
    const auto& [key, value] = entries.front();
    if (key.empty()) return item.Error("property name must not be empty");
    if (!value.IsScalar()) {
      return value.Error("expected a scalar property value, got " + value.Describe());
    }
    SetProperty(props, key, value.node().Scalar());  // a repeated key: the last one wins
  }
  return props;
}

Status ParseOptionalNonEmpty(const Field& field, std::optional<std::string>& out) {
  if (!field.present()) return Status::Ok();
  CONFIG_ASSIGN_OR_RETURN(out, field.AsNonEmptyString());
  return Status::Ok();
}

// A typename such as "io.statefun.types/string" or "type.googleapis.com/pkg.Msg": the part
// after the last '/' and the part before it must both be non-empty.
Result<std::string> ParseValueType(const Field& field) {
  CONFIG_ASSIGN_OR_RETURN(std::string text, field.AsNonEmptyString());
  size_t slash = text.rfind('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
    return field.Error("expected a typename 'namespace/name', got '" + text + "'");
  }
  return text;
}

Result<KafkaIngressTopic> ParseTopic(const Field& item) {
  EDDY_RETURN_IF_ERROR(item.RequireMap());
  KafkaIngressTopic topic;
  CONFIG_ASSIGN_OR_RETURN(topic.topic, item.Get("topic").AsNonEmptyString());
  CONFIG_ASSIGN_OR_RETURN(topic.value_type, ParseValueType(item.Get("valueType")));
  CONFIG_ASSIGN_OR_RETURN(topic.targets, item.Get("targets").AsFunctionTypeList());
  return topic;
}

Status ParseSpecificOffsets(const Field& offsets, KafkaStartupPosition& out) {
  EDDY_RETURN_IF_ERROR(offsets.RequireSequence());
  if (offsets.node().size() == 0) {
    return offsets.Error("specific-offsets needs at least one '- \"topic/partition\": offset'");
  }
  for (const Field& item : offsets.Items()) {
    if (!item.IsMap() || item.node().size() != 1) {
      return item.Error("expected a single-key map '- \"topic/partition\": offset', got " +
                        item.Describe());
    }
    auto entries = item.Entries();
    const auto& [key, value] = entries.front();
    size_t slash = key.rfind('/');  // topic names cannot contain '/', but be lenient: last one
    int64_t partition = -1;
    if (slash != std::string::npos && slash > 0 && slash + 1 < key.size()) {
      std::string digits = key.substr(slash + 1);
      if (std::all_of(digits.begin(), digits.end(),
                      [](unsigned char c) { return std::isdigit(c) != 0; }) &&
          digits.size() <= 9) {
        partition = std::stoll(digits);
      }
    }
    if (partition < 0 || partition > kMaxInt32) {
      return value.Error("expected a key 'topic/partition' with a partition number, got '" + key +
                         "'");
    }
    CONFIG_ASSIGN_OR_RETURN(int64_t offset, value.AsInt(0, kMaxInt64));
    auto where = std::make_pair(key.substr(0, slash), static_cast<int32_t>(partition));
    if (!out.specific_offsets.emplace(where, offset).second) {
      return value.Error("offset for '" + key + "' given twice");
    }
  }
  return Status::Ok();
}

Status ParseStartupPosition(const Field& field, KafkaStartupPosition& out) {
  if (!field.present()) return Status::Ok();  // latest
  EDDY_RETURN_IF_ERROR(field.RequireMap());
  CONFIG_ASSIGN_OR_RETURN(out.type, field.Get("type").AsOneOf({"group-offsets", "earliest",
                                                               "latest", "specific-offsets",
                                                               "date"}));
  if (out.type == "specific-offsets") return ParseSpecificOffsets(field.Get("offsets"), out);
  if (out.type == "date") {
    Field date = field.Get("date");
    CONFIG_ASSIGN_OR_RETURN(std::string text, date.AsString());
    Result<int64_t> ms = ParseStartupDate(text);
    if (!ms.ok()) return date.Error(ms.status().message());
    out.date_epoch_ms = *ms;
  }
  return Status::Ok();
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

Result<KafkaIngressSpec> ParseKafkaIngress(const Field& spec, const Field& id,
                                           const SourceLocation& location) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  KafkaIngressSpec ingress;
  ingress.location = location;
  CONFIG_ASSIGN_OR_RETURN(FunctionType id_type, id.AsFunctionType("an ingress id"));
  ingress.id = id_type.ToString();

  std::optional<std::string> address, group_id;
  Field address_field = spec.Get("address");
  EDDY_RETURN_IF_ERROR(ParseOptionalNonEmpty(address_field, address));
  Field group_field = spec.Get("consumerGroupId");
  EDDY_RETURN_IF_ERROR(ParseOptionalNonEmpty(group_field, group_id));

  Field topics = spec.Get("topics");
  EDDY_RETURN_IF_ERROR(topics.RequireSequence());
  if (topics.node().size() == 0) return topics.Error("at least one topic is required");
  std::set<std::string> seen_topics;
  for (const Field& item : topics.Items()) {
    CONFIG_ASSIGN_OR_RETURN(KafkaIngressTopic topic, ParseTopic(item));
    if (!seen_topics.insert(topic.topic).second) {
      return item.Get("topic").Error("topic '" + topic.topic + "' is listed twice");
    }
    ingress.topics.push_back(std::move(topic));
  }

  // StateFun upper-cases this value before matching, so "EARLIEST" works too.
  Field reset = spec.Get("autoOffsetResetPosition");
  std::optional<std::string> explicit_reset;
  if (reset.present()) {
    CONFIG_ASSIGN_OR_RETURN(std::string text, reset.AsString());
    text = Lower(text);
    if (text != "earliest" && text != "latest") {
      return reset.Error("expected one of [earliest, latest], got '" + reset.node().Scalar() + "'");
    }
    explicit_reset = text;
  }

  EDDY_RETURN_IF_ERROR(ParseStartupPosition(spec.Get("startupPosition"), ingress.startup_position));

  Field properties = spec.Get("properties");
  CONFIG_ASSIGN_OR_RETURN(ingress.properties, ParseProperties(properties));
  if (address) SetProperty(ingress.properties, "bootstrap.servers", *address);
  if (group_id) SetProperty(ingress.properties, "group.id", *group_id);
  if (explicit_reset) {
    SetProperty(ingress.properties, "auto.offset.reset", *explicit_reset);
  } else if (!FindProperty(ingress.properties, "auto.offset.reset")) {
    SetProperty(ingress.properties, "auto.offset.reset", "latest");
  }

  const std::string* servers = FindProperty(ingress.properties, "bootstrap.servers");
  if (servers == nullptr || servers->empty()) {
    return address_field.Error(
        "missing required field (set 'address' or 'bootstrap.servers' in properties)");
  }
  const std::string* group = FindProperty(ingress.properties, "group.id");
  if (group == nullptr || group->empty()) {
    return group_field.Error(
        "missing required field (set 'consumerGroupId' or 'group.id' in properties)");
  }
  ingress.address = *servers;
  ingress.consumer_group_id = *group;
  ingress.auto_offset_reset_position = *FindProperty(ingress.properties, "auto.offset.reset");
  return ingress;
}

Result<KafkaEgressSpec> ParseKafkaEgress(const Field& spec, const Field& id,
                                         const SourceLocation& location) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  KafkaEgressSpec egress;
  egress.location = location;
  CONFIG_ASSIGN_OR_RETURN(FunctionType id_type, id.AsFunctionType("an egress id"));
  egress.id = id_type.ToString();

  std::optional<std::string> address;
  Field address_field = spec.Get("address");
  EDDY_RETURN_IF_ERROR(ParseOptionalNonEmpty(address_field, address));

  Field semantic = spec.Get("deliverySemantic");
  if (semantic.present()) {
    EDDY_RETURN_IF_ERROR(semantic.RequireMap());
    CONFIG_ASSIGN_OR_RETURN(egress.delivery_semantic,
                            semantic.Get("type").AsOneOf({"at-least-once", "exactly-once",
                                                          "none"}));
    if (egress.delivery_semantic == "exactly-once") {
      // Like StateFun, the legacy millisecond field wins when both are given.
      Field legacy = semantic.Get("transactionTimeoutMillis");
      Field timeout = semantic.Get("transactionTimeout");
      if (legacy.present()) {
        CONFIG_ASSIGN_OR_RETURN(int64_t ms, legacy.AsInt(1, kMaxInt32));
        egress.transaction_timeout = Millis(ms);
      } else if (timeout.present()) {
        CONFIG_ASSIGN_OR_RETURN(egress.transaction_timeout, timeout.AsDuration());
        if (egress.transaction_timeout.count() <= 0) {
          return timeout.Error("transaction timeout must be larger than 0");
        }
      } else {
        return semantic.Error(
            "exactly-once delivery requires 'transactionTimeout' (e.g. '15min') or "
            "'transactionTimeoutMillis'");
      }
    }
  }

  CONFIG_ASSIGN_OR_RETURN(egress.properties, ParseProperties(spec.Get("properties")));
  if (address) SetProperty(egress.properties, "bootstrap.servers", *address);
  if (egress.delivery_semantic == "exactly-once") {
    SetProperty(egress.properties, "transaction.timeout.ms",
                std::to_string(egress.transaction_timeout.count()));
  }
  const std::string* servers = FindProperty(egress.properties, "bootstrap.servers");
  if (servers == nullptr || servers->empty()) {
    return address_field.Error(
        "missing required field (set 'address' or 'bootstrap.servers' in properties)");
  }
  egress.address = *servers;
  return egress;
}

Result<int64_t> ParseStartupDate(const std::string& text) {
  static constexpr const char* kPattern = "yyyy-MM-dd HH:mm:ss.SSS Z";
  auto bad = [&](const std::string& why) -> Status {
    return InvalidArgument("invalid startup date '" + text + "': " + why +
                           "; expected the pattern " + kPattern +
                           ", e.g. '2020-02-01 04:15:00.000 -0700'");
  };
  // Fixed layout: positions of the separators, everything else is a digit (or the sign).
  static constexpr char kLayout[] = "dddd-dd-dd dd:dd:dd.ddd +dddd";
  if (text.size() != sizeof(kLayout) - 1) return bad("wrong length");
  for (size_t i = 0; i < text.size(); ++i) {
    char want = kLayout[i];
    char got = text[i];
    bool ok = want == 'd'   ? std::isdigit(static_cast<unsigned char>(got)) != 0
              : want == '+' ? (got == '+' || got == '-')
                            : got == want;
    if (!ok) return bad("unexpected character at position " + std::to_string(i + 1));
  }
  auto num = [&](size_t pos, size_t len) { return std::stoi(text.substr(pos, len)); };
  int year = num(0, 4), month = num(5, 2), day = num(8, 2);
  int hour = num(11, 2), minute = num(14, 2), second = num(17, 2), millis = num(20, 3);
  int off_hours = num(25, 2), off_minutes = num(27, 2);
  int sign = text[24] == '-' ? -1 : 1;

  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12) return bad("month out of range");
  int month_days = kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > month_days) return bad("day out of range");
  if (hour > 23 || minute > 59 || second > 59) return bad("time out of range");
  if (off_hours > 18 || off_minutes > 59 || off_hours * 60 + off_minutes > 18 * 60) {
    return bad("zone offset out of range");
  }

  // Days since 1970-01-01 in the proleptic Gregorian calendar (years counted from March so the
  // leap day is the last day of the shifted year).
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t year_of_era = y - era * 400;
  int64_t shifted_month = month > 2 ? month - 3 : month + 9;
  int64_t day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
  int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  int64_t days = era * 146097 + day_of_era - 719468;

  int64_t local_ms = ((days * 24 + hour) * 60 + minute) * 60000 + second * 1000 + millis;
  return local_ms - sign * static_cast<int64_t>(off_hours * 60 + off_minutes) * 60000;
}

}  // namespace eddy::config_internal
