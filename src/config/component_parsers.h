#pragma once
// Private to src/config: one parser per supported module.yaml kind. Each takes the `spec` map of
// one component (already located by the module loader, which handles both the kind/spec format
// and the legacy version 3.0 format) and returns the plain struct, or an error naming the field.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/yaml_field.h"
#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"

namespace eddy::config_internal {

inline constexpr std::string_view kHttpEndpointV2Kind = "io.statefun.endpoints.v2/http";
inline constexpr std::string_view kHttpEndpointV1Kind = "io.statefun.endpoints.v1/http";
inline constexpr std::string_view kKafkaIngressKind = "io.statefun.kafka.v1/ingress";
inline constexpr std::string_view kKafkaEgressKind = "io.statefun.kafka.v1/egress";
// Eddy's own kinds (io.eddy.*), never StateFun's.
inline constexpr std::string_view kGeneratorIngressKind = "io.eddy.generator.v1/ingress";
inline constexpr std::string_view kGrpcEndpointKind = "io.eddy.endpoints.v1/grpc";
inline constexpr std::string_view kEmbeddedModuleKind = "io.eddy.embedded.v1/module";
inline constexpr std::string_view kAsyncTransport = "io.statefun.transports.v1/async";
inline constexpr std::string_view kOkHttpTransport = "io.statefun.transports.v1/okhttp";

// `kind` is one of the two endpoint kinds.
Result<EndpointSpec> ParseHttpEndpoint(std::string_view kind, const Field& spec,
                                           const SourceLocation& location);

// io.eddy.endpoints.v1/grpc.
Result<EndpointSpec> ParseGrpcEndpoint(const Field& spec, const SourceLocation& location);
// io.eddy.embedded.v1/module: one EndpointSpec per entry of `functions` (a list or one string);
// `bindings` receives the field of each entry, for duplicate-binding errors.
Result<std::vector<EndpointSpec>> ParseEmbeddedModule(const Field& spec,
                                                      const SourceLocation& location,
                                                      std::vector<Field>& bindings);

// "ns/name" or "ns/*" (shared by every endpoint kind).
Result<FunctionTypePattern> ParseFunctionPattern(const Field& field);
// An optional string field into `out`.
Status ParseOptionalString(const Field& field, std::string& out);
// An optional duration that must be > 0 into `out`.
Status ParsePositiveDuration(const Field& field, Millis& out);

// `id` is spec.id in the kind/spec format and ingress.meta.id in the legacy format.
Result<KafkaIngressSpec> ParseKafkaIngress(const Field& spec, const Field& id,
                                           const SourceLocation& location);
Result<KafkaEgressSpec> ParseKafkaEgress(const Field& spec, const Field& id,
                                         const SourceLocation& location);
Result<GeneratorIngressSpec> ParseGeneratorIngress(const Field& spec, const Field& id,
                                                   const SourceLocation& location);

// "yyyy-MM-dd HH:mm:ss.SSS Z" (e.g. "2020-02-01 04:15:00.000 -0700") -> epoch milliseconds.
Result<int64_t> ParseStartupDate(const std::string& text);

}  // namespace eddy::config_internal
