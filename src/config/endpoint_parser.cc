// io.statefun.endpoints.v1/http and io.statefun.endpoints.v2/http. Defaults and checks follow
// StateFun 3.x (HttpEndpointBinderV1/V2, NettyRequestReplySpec, DefaultHttpRequestReplyClientSpec);
// docs/configuration.md lists them.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>

#include "config/component_parsers.h"

namespace eddy::config_internal {
namespace {

constexpr int64_t kMaxInt32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMinInt32 = std::numeric_limits<int32_t>::min();

}  // namespace

Result<FunctionTypePattern> ParseFunctionPattern(const Field& field) {
  CONFIG_ASSIGN_OR_RETURN(std::string text, field.AsNonEmptyString());
  auto bad = [&] {
    return field.Error("expected a function type 'namespace/name' or a namespace wildcard "
                       "'namespace/*', got " + Quote(text));
  };
  std::optional<FunctionType> type = FunctionType::Parse(text);
  if (!type || type->ns.find('*') != std::string::npos) return bad();
  FunctionTypePattern pattern;
  pattern.ns = type->ns;
  if (type->name == "*") {
    pattern.wildcard = true;
  } else if (type->name.find('*') != std::string::npos) {
    return bad();  // StateFun only knows "ns/*", not globs like "ns/foo*"
  } else {
    pattern.name = type->name;
  }
  return pattern;
}

namespace {

Status ValidateUrl(const Field& field, const std::string& url) {
  static constexpr std::string_view kSchemes[] = {"http://", "https://", "http+unix://",
                                                  "https+unix://"};
  auto bad = [&](const std::string& why) {
    return field.Error("expected an http://, https://, http+unix:// or https+unix:// URL, got " +
                       Quote(url) + (why.empty() ? "" : " (" + why + ")"));
  };
  std::string lower(url);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view scheme;
  for (std::string_view s : kSchemes) {
    if (lower.compare(0, s.size(), s) == 0) scheme = s;
  }
  if (scheme.empty()) return bad("");
  for (unsigned char c : url) {
    if (std::isspace(c) || std::iscntrl(c)) return bad("contains whitespace");
  }
  std::string_view rest = std::string_view(url).substr(scheme.size());
  if (scheme.find("unix") == std::string_view::npos) {
    size_t end = rest.find_first_of("/?#");
    if (rest.substr(0, end).empty()) return bad("no host");
  } else if (rest.empty() || rest.front() != '/') {
    return bad("expected an absolute socket path after the scheme");
  }
  return Status::Ok();
}

}  // namespace

// A timeout that StateFun rejects when zero ("Timeout durations must be larger than 0").
Status ParsePositiveDuration(const Field& field, Millis& out) {
  if (!field.present()) return Status::Ok();
  CONFIG_ASSIGN_OR_RETURN(Millis d, field.AsDuration());
  if (d.count() <= 0) return field.Error("timeout must be larger than 0");
  out = d;
  return Status::Ok();
}

namespace {

std::string FormatMillis(Millis d) { return std::to_string(d.count()) + "ms"; }

// okhttp client (v1 endpoints, or v2 with type io.statefun.transports.v1/okhttp).
Status ParseOkHttpTimeouts(const Field& timeouts, HttpTransportSpec& out) {
  out.type = std::string(kOkHttpTransport);
  out.call_timeout = Millis(60000);
  out.connect_timeout = Millis(10000);
  out.read_timeout = Millis(10000);
  out.write_timeout = Millis(10000);
  if (!timeouts.present()) return Status::Ok();
  EDDY_RETURN_IF_ERROR(timeouts.RequireMap());
  EDDY_RETURN_IF_ERROR(ParsePositiveDuration(timeouts.Get("call"), out.call_timeout));
  struct Bounded {
    const char* key;
    Millis* value;
  } bounded[] = {{"connect", &out.connect_timeout},
                 {"read", &out.read_timeout},
                 {"write", &out.write_timeout}};
  for (const Bounded& b : bounded) {
    Field f = timeouts.Get(b.key);
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(f, *b.value));
    if (*b.value > out.call_timeout) {
      return f.Error(std::string(b.key) + " timeout (" + FormatMillis(*b.value) +
                     (f.present() ? "" : ", the default") +
                     ") cannot be larger than the call timeout (" +
                     FormatMillis(out.call_timeout) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace

Status ParseOptionalString(const Field& field, std::string& out) {
  if (!field.present()) return Status::Ok();
  CONFIG_ASSIGN_OR_RETURN(out, field.AsString());
  return Status::Ok();
}

namespace {

// The default v2 transport: io.statefun.transports.v1/async (Netty in StateFun).
Status ParseAsyncTransport(const Field& transport, HttpTransportSpec& out) {
  EDDY_RETURN_IF_ERROR(ParsePositiveDuration(transport.Get("call"), out.call_timeout));
  EDDY_RETURN_IF_ERROR(ParsePositiveDuration(transport.Get("connect"), out.connect_timeout));
  Field pool_ttl = transport.Get("pool_ttl");
  if (pool_ttl.present()) {
    CONFIG_ASSIGN_OR_RETURN(out.pool_ttl, pool_ttl.AsDuration());
  }
  Field pool_size = transport.Get("pool_size");
  if (pool_size.present()) {
    CONFIG_ASSIGN_OR_RETURN(int64_t v, pool_size.AsInt(1, kMaxInt32));
    out.pool_size = static_cast<int>(v);
  }
  Field payload = transport.Get("payload_max_bytes");
  if (payload.present()) {
    CONFIG_ASSIGN_OR_RETURN(out.payload_max_bytes, payload.AsInt(1, kMaxInt32));
  }
  EDDY_RETURN_IF_ERROR(ParseOptionalString(transport.Get("trust_cacerts"), out.trust_cacerts));
  EDDY_RETURN_IF_ERROR(ParseOptionalString(transport.Get("client_cert"), out.client_cert));
  EDDY_RETURN_IF_ERROR(ParseOptionalString(transport.Get("client_key"), out.client_key));
  EDDY_RETURN_IF_ERROR(
      ParseOptionalString(transport.Get("client_key_password"), out.client_key_password));

  // A nested `timeouts` object wins over `call`/`connect`, with its own defaults (1m/10s).
  Field timeouts = transport.Get("timeouts");
  if (timeouts.present()) {
    EDDY_RETURN_IF_ERROR(timeouts.RequireMap());
    out.call_timeout = Millis(60000);
    out.connect_timeout = Millis(10000);
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(timeouts.Get("call"), out.call_timeout));
    EDDY_RETURN_IF_ERROR(ParsePositiveDuration(timeouts.Get("connect"), out.connect_timeout));
  }
  return Status::Ok();
}

Status ParseTransport(const Field& transport, HttpTransportSpec& out) {
  if (!transport.present()) return Status::Ok();  // all async defaults
  EDDY_RETURN_IF_ERROR(transport.RequireMap());
  Field type = transport.Get("type");
  if (type.present()) {
    CONFIG_ASSIGN_OR_RETURN(
        out.type, type.AsOneOf({kAsyncTransport.data(), kOkHttpTransport.data()}));
  }
  if (out.type == kOkHttpTransport) return ParseOkHttpTimeouts(transport.Get("timeouts"), out);
  return ParseAsyncTransport(transport, out);
}

}  // namespace

Result<EndpointSpec> ParseHttpEndpoint(std::string_view kind, const Field& spec,
                                           const SourceLocation& location) {
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  EndpointSpec endpoint;
  endpoint.location = location;
  endpoint.kind = std::string(kind);

  CONFIG_ASSIGN_OR_RETURN(endpoint.functions, ParseFunctionPattern(spec.Get("functions")));

  Field url = spec.Get("urlPathTemplate");
  CONFIG_ASSIGN_OR_RETURN(endpoint.url_path_template, url.AsNonEmptyString());
  EDDY_RETURN_IF_ERROR(ValidateUrl(url, endpoint.url_path_template));

  Field max_batch = spec.Get("maxNumBatchRequests");
  if (max_batch.present()) {
    CONFIG_ASSIGN_OR_RETURN(int64_t v, max_batch.AsInt(kMinInt32, kMaxInt32));
    endpoint.max_num_batch_requests = static_cast<int>(v);
  }

  if (kind == kHttpEndpointV1Kind) {
    // v1 endpoints always use the okhttp client, configured by a top-level `timeouts`.
    EDDY_RETURN_IF_ERROR(ParseOkHttpTimeouts(spec.Get("timeouts"), endpoint.transport));
  } else {
    EDDY_RETURN_IF_ERROR(ParseTransport(spec.Get("transport"), endpoint.transport));
  }
  return endpoint;
}

}  // namespace eddy::config_internal
