#pragma once
// TypedValue as in the StateFun protocol, plus helpers for the built-in types, whose payload is
// the serialized protobuf wrapper (int 1 -> 0d 01 00 00 00; zero values -> empty bytes).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

struct TypedValue {
  std::string type_name;
  bool has_value = false;
  std::string value;  // raw bytes

  friend bool operator==(const TypedValue&, const TypedValue&) = default;
};

namespace types {
inline constexpr std::string_view kBool = "io.statefun.types/bool";
inline constexpr std::string_view kInt = "io.statefun.types/int";
inline constexpr std::string_view kLong = "io.statefun.types/long";
inline constexpr std::string_view kFloat = "io.statefun.types/float";
inline constexpr std::string_view kDouble = "io.statefun.types/double";
inline constexpr std::string_view kString = "io.statefun.types/string";
inline constexpr std::string_view kUnset = "io.statefun.types/unset";
inline constexpr std::string_view kKafkaProducerRecord =
    "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord";
inline constexpr std::string_view kKinesisEgressRecord =
    "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord";

TypedValue Bool(bool v);
TypedValue Int(int32_t v);
TypedValue Long(int64_t v);
TypedValue Float(float v);
TypedValue Double(double v);
TypedValue String(std::string_view v);

// Decoders return nullopt when the type name differs or the bytes are not a valid wrapper.
std::optional<bool> AsBool(const TypedValue& v);
std::optional<int32_t> AsInt(const TypedValue& v);
std::optional<int64_t> AsLong(const TypedValue& v);
std::optional<double> AsDouble(const TypedValue& v);
std::optional<std::string> AsString(const TypedValue& v);
}  // namespace types

}  // namespace eddy
