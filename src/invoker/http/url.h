#pragma once
// URL handling for the HTTP invoker (private to src/invoker/http).

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy::http_invoker {

struct HttpUrl {
  bool tls = false;          // https:// or https+unix://
  bool unix_socket = false;  // http+unix:// or https+unix://
  std::string host;          // TCP: without brackets for IPv6 literals; unix: empty
  uint16_t port = 80;        // TCP only (443 by default for https)
  std::string socket_path;   // unix only: absolute file system path ending in ".sock"
  std::string host_header;   // TCP: the authority as written, e.g. "fn.example:8000"; unix:
                             // "localhost"
  std::string target;        // path and query, at least "/"
  // TLS: the name (or IP literal) the server certificate must match; sent as SNI when a name.
  // The host for TCP, "localhost" for https+unix.
  std::string server_name;

  // For messages: "fn.example:8000" or "unix socket /run/fn.sock".
  std::string Peer() const;
  // Connections are pooled by this: scheme and peer ("https://fn.example:443").
  std::string PoolKey() const;
};

// "{function.name}" in `url_template` replaced by `function_name` (every occurrence).
std::string ExpandUrlTemplate(std::string_view url_template, std::string_view function_name);

// Parses, scheme case-insensitively:
//   http[s]://host[:port][/path][?query]
//   http[s]+unix:///path/to/socket.sock[/path][?query]
// For the unix forms (StateFun's UnixDomainHttpEndpoint) the socket is the path up to and
// including the first segment that ends in ".sock"; the rest is the HTTP path ("/" if none).
// Anything else is InvalidArgument with the reason.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace eddy::http_invoker
