#pragma once
// URL handling for the HTTP invoker (private to src/invoker/http).

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy::http_invoker {

struct HttpUrl {
  std::string host;         // without brackets for IPv6 literals
  uint16_t port = 80;
  std::string host_header;  // the authority as written, e.g. "fn.example:8000" or "[::1]:80"
  std::string target;       // path and query, at least "/"
};

// "{function.name}" in `url_template` replaced by `function_name` (every occurrence).
std::string ExpandUrlTemplate(std::string_view url_template, std::string_view function_name);

// Parses http://host[:port][/path][?query]. https, http+unix and https+unix are recognised and
// rejected as not supported yet; anything else that is not a plain http URL is InvalidArgument.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

}  // namespace eddy::http_invoker
