// io.eddy.generator.v1/ingress: Eddy's built-in record generator (like Flink's datagen source).
// An Eddy kind, so there is no StateFun behaviour to follow: every field is checked strictly
// (type and range), only unknown fields are ignored, as for the StateFun kinds.

#include <limits>

#include "config/component_parsers.h"

namespace eddy::config_internal {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
// Far above what one thread can produce; keeps the token-bucket arithmetic exact in a double.
constexpr int64_t kMaxRate = 1'000'000'000;

// "namespace/name" with both parts non-empty; the namespace may contain '/' (as in
// "type.googleapis.com/pkg.Msg"), like the Kafka ingress' valueType.
Result<std::string> ParseTypename(const Field& field) {
  CONFIG_ASSIGN_OR_RETURN(std::string text, field.AsNonEmptyString());
  size_t slash = text.rfind('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) {
    return field.Error("expected a typename 'namespace/name', got " + Quote(text));
  }
  return text;
}

// Optional integer field: keeps `out` (the default) when absent.
Status ParseOptionalInt(const Field& field, int64_t min, int64_t max, int64_t& out) {
  if (!field.present()) return Status::Ok();
  CONFIG_ASSIGN_OR_RETURN(out, field.AsInt(min, max));
  return Status::Ok();
}

}  // namespace

Result<GeneratorIngressSpec> ParseGeneratorIngress(const Field& spec, const Field& id,
                                                   const SourceLocation& location) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  GeneratorIngressSpec gen;
  gen.location = location;
  CONFIG_ASSIGN_OR_RETURN(FunctionType id_type, id.AsFunctionType("an ingress id"));
  gen.id = id_type.ToString();

  CONFIG_ASSIGN_OR_RETURN(gen.targets, spec.Get("targets").AsFunctionTypeList());

  EDDY_RETURN_IF_ERROR(ParseOptionalInt(spec.Get("keys"), 1, kMaxInt64, gen.keys));
  EDDY_RETURN_IF_ERROR(ParseOptionalInt(spec.Get("rate"), 0, kMaxRate, gen.rate));
  EDDY_RETURN_IF_ERROR(ParseOptionalInt(spec.Get("count"), 0, kMaxInt64, gen.count));

  Field value_type = spec.Get("valueType");
  if (value_type.present()) {
    CONFIG_ASSIGN_OR_RETURN(gen.value_type, ParseTypename(value_type));
  }
  Field key_order = spec.Get("keyOrder");
  if (key_order.present()) {
    CONFIG_ASSIGN_OR_RETURN(gen.key_order, key_order.AsOneOf({"round-robin", "random"}));
  }
  int64_t seed = static_cast<int64_t>(gen.seed);
  EDDY_RETURN_IF_ERROR(ParseOptionalInt(spec.Get("seed"), 0, kMaxInt64, seed));
  gen.seed = static_cast<uint64_t>(seed);
  return gen;
}

}  // namespace eddy::config_internal
