#include "invoker/http/url.h"

#include <algorithm>
#include <cctype>

namespace eddy::http_invoker {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

// Characters that would let a URL smuggle bytes into the request line or headers.
bool HasForbiddenChar(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

}  // namespace

std::string ExpandUrlTemplate(std::string_view url_template, std::string_view function_name) {
  static constexpr std::string_view kPlaceholder = "{function.name}";
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = url_template.find(kPlaceholder, pos);
    if (hit == std::string_view::npos) break;
    out.append(url_template.substr(pos, hit - pos));
    out.append(function_name);
    pos = hit + kPlaceholder.size();
  }
  out.append(url_template.substr(pos));
  return out;
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  for (std::string_view later : {"https+unix://", "http+unix://", "https://"}) {
    if (StartsWithNoCase(url, later)) {
      return InvalidArgument("URL '" + std::string(url) + "': " +
                             std::string(later.substr(0, later.size() - 3)) +
                             " endpoints are not supported by the HTTP invoker yet");
    }
  }
  static constexpr std::string_view kHttp = "http://";
  if (!StartsWithNoCase(url, kHttp)) {
    return InvalidArgument("URL '" + std::string(url) + "' is not an http:// URL");
  }
  if (HasForbiddenChar(url)) {
    return InvalidArgument("URL '" + std::string(url) + "' contains whitespace or control bytes");
  }
  std::string_view rest = url.substr(kHttp.size());
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (size_t hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);

  HttpUrl out;
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgument("URL '" + std::string(url) + "': user info is not supported");
  }
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgument("URL '" + std::string(url) + "': unterminated IPv6 literal");
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return InvalidArgument("URL '" + std::string(url) + "': junk after IPv6 literal");
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgument("URL '" + std::string(url) + "' has no host");
  if (authority.find(':') != std::string_view::npos && port_text.empty() &&
      authority.front() != '[') {
    return InvalidArgument("URL '" + std::string(url) + "' has an empty port");
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5 ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      return InvalidArgument("URL '" + std::string(url) + "' has an invalid port");
    }
    int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      return InvalidArgument("URL '" + std::string(url) + "' has a port out of range");
    }
    out.port = static_cast<uint16_t>(port);
  }
  out.host = std::string(host);
  out.host_header = std::string(authority);
  out.target = target.empty() ? "/" : std::string(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  return out;
}

}  // namespace eddy::http_invoker
