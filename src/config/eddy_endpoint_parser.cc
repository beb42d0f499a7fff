// Eddy's own endpoint kinds: io.eddy.endpoints.v1/grpc (remote functions over gRPC) and
// io.eddy.embedded.v1/module (C++ functions inside the worker). Field names follow the StateFun
// endpoint kinds where the meaning is the same (functions, maxNumBatchRequests, timeouts,
// trust_cacerts/client_cert/client_key); docs/configuration.md lists them.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>

#include "config/component_parsers.h"

namespace eddy::config_internal {
namespace {

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMinInt32 = std::numeric_limits<int32_t>::min();

Status ParseMaxBatch(const Field& spec, EndpointSpec& endpoint) {
  Field max_batch = spec.Get("maxNumBatchRequests");
  if (!max_batch.present()) return Status::Ok();
  CONFIG_ASSIGN_OR_RETURN(int64_t v, max_batch.AsInt(kMinInt32, kMaxInt32));
  endpoint.max_num_batch_requests = static_cast<int>(v);
  return Status::Ok();
}

// gRPC target URIs (https://github.com/grpc/grpc/blob/master/doc/naming.md): dns:[//authority/]
// host[:port], ipv4:addr:port, ipv6:..., unix:path, unix-abstract:..., or a bare host:port.
Status ValidateGrpcTarget(const Field& field, const std::string& target) {
  for (unsigned char c : target) {
    if (c <= ' ' || c == 0x7f) return field.Error("gRPC target contains whitespace: " + Quote(target));
  }
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    return field.Error("expected a gRPC target such as dns:///functions:9000 or 127.0.0.1:9000, "
                       "not a URL (TLS is configured with `tls`), got " + Quote(target));
  }
  return Status::Ok();
}

Status ParseGrpcTls(const Field& tls, GrpcTransportSpec& out) {
  if (!tls.present()) return Status::Ok();
  EDDY_RETURN_IF_ERROR(tls.RequireMap());
  out.tls = true;
  EDDY_RETURN_IF_ERROR(ParseOptionalString(tls.Get("trust_cacerts"), out.trust_cacerts));
  EDDY_RETURN_IF_ERROR(ParseOptionalString(tls.Get("client_cert"), out.client_cert));
  EDDY_RETURN_IF_ERROR(ParseOptionalString(tls.Get("client_key"), out.client_key));
  EDDY_RETURN_IF_ERROR(ParseOptionalString(tls.Get("authority"), out.authority));
  if (out.client_cert.empty() != out.client_key.empty()) {
    return tls.Error("client_cert and client_key must be given together (mutual TLS)");
  }
  return Status::Ok();
}

}  // namespace

Result<EndpointSpec> ParseGrpcEndpoint(const Field& spec, const SourceLocation& location) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  EndpointSpec endpoint;
  endpoint.location = location;
  endpoint.kind = std::string(kGrpcEndpointKind);
  endpoint.protocol = EndpointProtocol::kGrpc;
  CONFIG_ASSIGN_OR_RETURN(endpoint.functions, ParseFunctionPattern(spec.Get("functions")));
  GrpcTransportSpec& grpc = endpoint.grpc;
  Field target = spec.Get("target");
  CONFIG_ASSIGN_OR_RETURN(grpc.target, target.AsNonEmptyString());
  EDDY_RETURN_IF_ERROR(ValidateGrpcTarget(target, grpc.target));
  EDDY_RETURN_IF_ERROR(ParseMaxBatch(spec, endpoint));

  Field timeouts = spec.Get("timeouts");
  if (timeouts.present()) {
    EDDY_RETURN_IF_ERROR(timeouts.RequireMap());
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(timeouts.Get("call"), grpc.call_timeout));
    Field connect = timeouts.Get("connect");
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(connect, grpc.connect_timeout));
    if (!connect.present()) {
      grpc.connect_timeout = std::min(grpc.connect_timeout, grpc.call_timeout);  // the default
    } else if (grpc.connect_timeout > grpc.call_timeout) {
      return connect.Error("connect timeout cannot be larger than the call timeout");
    }
  }
  Field lb = spec.Get("loadBalancing");
  if (lb.present()) {
    CONFIG_ASSIGN_OR_RETURN(grpc.load_balancing, lb.AsOneOf({"round_robin", "pick_first"}));
  }
  Field max_bytes = spec.Get("maxMessageBytes");
  if (max_bytes.present()) {
    CONFIG_ASSIGN_OR_RETURN(grpc.max_message_bytes, max_bytes.AsInt(1, kMaxInt32));
  }
  EDDY_RETURN_IF_ERROR(ParseGrpcTls(spec.Get("tls"), grpc));
  return endpoint;
}

Result<std::vector<EndpointSpec>> ParseEmbeddedModule(const Field& spec,
                                                      const SourceLocation& location,
                                                      std::vector<Field>& bindings) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  EndpointSpec base;
  base.location = location;
  base.kind = std::string(kEmbeddedModuleKind);
  base.protocol = EndpointProtocol::kEmbedded;
  Field library = spec.Get("library");
  if (library.present()) {
    CONFIG_ASSIGN_OR_RETURN(base.embedded.library, library.AsNonEmptyString());
    // A relative path is relative to the module file, not to the worker's working directory.
    std::filesystem::path path(base.embedded.library);
    std::filesystem::path module_dir = std::filesystem::path(location.file).parent_path();
    if (path.is_relative() && !module_dir.empty()) {
      base.embedded.library = (module_dir / path).lexically_normal().string();
    }
  }
  EDDY_RETURN_IF_ERROR(ParseMaxBatch(spec, base));
  Field timeouts = spec.Get("timeouts");
  if (timeouts.present()) {
    EDDY_RETURN_IF_ERROR(timeouts.RequireMap());
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(timeouts.Get("call"), base.embedded.call_timeout));
  }

  Field functions = spec.Get("functions");
  if (!functions.present()) return functions.MissingError();
  std::vector<Field> entries;
  if (functions.IsSequence()) {
    entries = functions.Items();
    if (entries.empty()) return functions.Error("expected at least one function type");
  } else {
    entries.push_back(functions);
  }
  std::vector<EndpointSpec> endpoints;
  for (const Field& entry : entries) {
    EndpointSpec endpoint = base;
    CONFIG_ASSIGN_OR_RETURN(endpoint.functions, ParseFunctionPattern(entry));
    endpoints.push_back(std::move(endpoint));
    bindings.push_back(entry);
  }
  return endpoints;
}

}  // namespace eddy::config_internal
