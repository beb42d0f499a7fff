#include "invoker/http/url.h"

#include <algorithm>
#include <cctype>

namespace eddy::http_invoker {
namespace {

// sizeof(sockaddr_un::sun_path) - 1 on Linux: a longer path cannot be connected to.
constexpr size_t kMaxSocketPath = 107;

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

// A file system path of one segment or more: the socket is everything up to and including the
// first segment ending in ".sock" (as StateFun does), the rest is the HTTP target.
Result<HttpUrl> ParseUnixUrl(std::string_view url, std::string_view rest, HttpUrl out) {
  const std::string quoted = "URL '" + std::string(url) + "'";
  const std::string form = std::string(out.tls ? "https" : "http") +
                           "+unix:///path/to/socket.sock/http/path";
  if (rest.empty() || rest.front() != '/') {
    return InvalidArgument(quoted + " must name an absolute socket path, as in " + form +
                           " (the authority must be empty)");
  }
  std::string_view path = rest;
  std::string_view query;
  if (size_t q = path.find_first_of("?#"); q != std::string_view::npos) {
    query = path.substr(q);
    path = path.substr(0, q);
    if (size_t hash = query.find('#'); hash != std::string_view::npos) {
      query = query.substr(0, hash);
    }
  }
  std::string socket_path;
  size_t pos = 0;
  bool found = false;
  while (pos < path.size()) {
    size_t next = path.find('/', pos + 1);
    if (next == std::string_view::npos) next = path.size();
    std::string_view segment = path.substr(pos + 1, next - pos - 1);
    pos = next;
    if (segment.empty()) continue;  // "a//b" is "a/b", as a file system path
    socket_path += "/";
    socket_path += segment;
    if (segment.size() >= 5 && segment.substr(segment.size() - 5) == ".sock") {
      found = true;
      break;
    }
  }
  if (!found) {
    return InvalidArgument(quoted + " has no socket path: one path segment must end in \".sock\"" +
                           ", as in " + form);
  }
  if (socket_path.size() > kMaxSocketPath) {
    return InvalidArgument(quoted + ": socket path '" + socket_path + "' is longer than " +
                           std::to_string(kMaxSocketPath) + " bytes (the unix socket limit)");
  }
  out.socket_path = std::move(socket_path);
  out.host_header = "localhost";
  out.server_name = "localhost";
  out.target = std::string(path.substr(pos)) + std::string(query);
  if (out.target.empty() || out.target.front() != '/') out.target.insert(0, "/");
  return out;
}

}  // namespace

std::string HttpUrl::Peer() const {
  if (unix_socket) return "unix socket " + socket_path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string HttpUrl::PoolKey() const {
  std::string scheme = tls ? "https" : "http";
  if (unix_socket) return scheme + "+unix://" + socket_path;
  return scheme + "://" + Peer();
}

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
  HttpUrl out;
  std::string_view rest;
  if (StartsWithNoCase(url, "http://")) {
    rest = url.substr(7);
  } else if (StartsWithNoCase(url, "https://")) {
    rest = url.substr(8);
    out.tls = true;
    out.port = 443;
  } else if (StartsWithNoCase(url, "http+unix://")) {
    rest = url.substr(12);
    out.unix_socket = true;
  } else if (StartsWithNoCase(url, "https+unix://")) {
    rest = url.substr(13);
    out.unix_socket = true;
    out.tls = true;
  } else {
    return InvalidArgument("URL '" + std::string(url) +
                           "' is not an http://, https://, http+unix:// or https+unix:// URL");
  }
  if (HasForbiddenChar(url)) {
    return InvalidArgument("URL '" + std::string(url) + "' contains whitespace or control bytes");
  }
  if (out.unix_socket) return ParseUnixUrl(url, rest, std::move(out));

  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }

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
  out.server_name = out.host;
  out.host_header = std::string(authority);
  out.target = target.empty() ? "/" : std::string(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  return out;
}

}  // namespace eddy::http_invoker
