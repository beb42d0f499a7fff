#include "eddy/model/typed_value.h"

#include "statefun/sdk/types.pb.h"

namespace eddy::types {
namespace {

template <typename Wrapper, typename V>
TypedValue Make(std::string_view type_name, V v) {
  Wrapper w;
  w.set_value(v);
  return TypedValue{std::string(type_name), true, w.SerializeAsString()};
}

template <typename Wrapper>
std::optional<Wrapper> Parse(const TypedValue& v, std::string_view type_name) {
  if (v.type_name != type_name) return std::nullopt;
  Wrapper w;
  if (!w.ParseFromString(v.value)) return std::nullopt;
  return w;
}

}  // namespace

TypedValue Bool(bool v) { return Make<io::statefun::sdk::types::BooleanWrapper>(kBool, v); }
TypedValue Int(int32_t v) { return Make<io::statefun::sdk::types::IntWrapper>(kInt, v); }
TypedValue Long(int64_t v) { return Make<io::statefun::sdk::types::LongWrapper>(kLong, v); }
TypedValue Float(float v) { return Make<io::statefun::sdk::types::FloatWrapper>(kFloat, v); }
TypedValue Double(double v) { return Make<io::statefun::sdk::types::DoubleWrapper>(kDouble, v); }
TypedValue String(std::string_view v) {
  return Make<io::statefun::sdk::types::StringWrapper>(kString, std::string(v));
}

std::optional<bool> AsBool(const TypedValue& v) {
  auto w = Parse<io::statefun::sdk::types::BooleanWrapper>(v, kBool);
  return w ? std::optional<bool>(w->value()) : std::nullopt;
}
std::optional<int32_t> AsInt(const TypedValue& v) {
  auto w = Parse<io::statefun::sdk::types::IntWrapper>(v, kInt);
  return w ? std::optional<int32_t>(w->value()) : std::nullopt;
}
std::optional<int64_t> AsLong(const TypedValue& v) {
  auto w = Parse<io::statefun::sdk::types::LongWrapper>(v, kLong);
  return w ? std::optional<int64_t>(w->value()) : std::nullopt;
}
std::optional<double> AsDouble(const TypedValue& v) {
  auto w = Parse<io::statefun::sdk::types::DoubleWrapper>(v, kDouble);
  return w ? std::optional<double>(w->value()) : std::nullopt;
}
std::optional<std::string> AsString(const TypedValue& v) {
  auto w = Parse<io::statefun::sdk::types::StringWrapper>(v, kString);
  return w ? std::optional<std::string>(w->value()) : std::nullopt;
}

}  // namespace eddy::types
