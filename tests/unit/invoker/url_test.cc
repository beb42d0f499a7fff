#include "invoker/http/url.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace eddy::http_invoker {
namespace {

TEST(UrlTemplate, ReplacesEveryPlaceholder) {
  EXPECT_EQ(ExpandUrlTemplate("http://h:1/{function.name}", "greeter"), "http://h:1/greeter");
  EXPECT_EQ(ExpandUrlTemplate("http://h/{function.name}/x/{function.name}", "f"),
            "http://h/f/x/f");
  EXPECT_EQ(ExpandUrlTemplate("http://h/static", "f"), "http://h/static");
  EXPECT_EQ(ExpandUrlTemplate("http://h/{function.nam}", "f"), "http://h/{function.nam}");
}

TEST(HttpUrl, ParsesHostPortAndTarget) {
  auto u = ParseHttpUrl("http://fn.example:8000/statefun?x=1");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->host, "fn.example");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->host_header, "fn.example:8000");
  EXPECT_EQ(u->target, "/statefun?x=1");

  u = ParseHttpUrl("HTTP://127.0.0.1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");

  u = ParseHttpUrl("http://[::1]:9000/a#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->host_header, "[::1]:9000");
  EXPECT_EQ(u->target, "/a");

  u = ParseHttpUrl("http://h?q");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->target, "/?q");
}

TEST(HttpUrl, Https) {
  auto u = ParseHttpUrl("HTTPS://fn.example/statefun");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_TRUE(u->tls);
  EXPECT_FALSE(u->unix_socket);
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->server_name, "fn.example");
  EXPECT_EQ(u->host_header, "fn.example");
  EXPECT_EQ(u->PoolKey(), "https://fn.example:443");

  u = ParseHttpUrl("https://[::1]:8443/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->server_name, "::1");
  EXPECT_EQ(u->Peer(), "[::1]:8443");

  u = ParseHttpUrl("http://fn.example:8443/");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->PoolKey(), "http://fn.example:8443");  // never shares a pool with https
}

TEST(HttpUrl, UnixSocketSplitsAtTheSockSegment) {
  auto u = ParseHttpUrl("http+unix:///var/run/fn.sock/statefun/greeter?x=1#f");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_TRUE(u->unix_socket);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->socket_path, "/var/run/fn.sock");
  EXPECT_EQ(u->target, "/statefun/greeter?x=1");
  EXPECT_EQ(u->host_header, "localhost");
  EXPECT_EQ(u->Peer(), "unix socket /var/run/fn.sock");
  EXPECT_EQ(u->PoolKey(), "http+unix:///var/run/fn.sock");

  u = ParseHttpUrl("http+unix:///fn.sock");  // no HTTP path: "/"
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->socket_path, "/fn.sock");
  EXPECT_EQ(u->target, "/");

  u = ParseHttpUrl("http+unix:///fn.sock?q");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->target, "/?q");

  // As StateFun: the first segment ending in ".sock"; empty segments collapse.
  u = ParseHttpUrl("HTTP+UNIX:////a//b.sock/c.sock/d");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->socket_path, "/a/b.sock");
  EXPECT_EQ(u->target, "/c.sock/d");

  // ".sockets" is not ".sock": the segment must end with it.
  u = ParseHttpUrl("http+unix:///run/x.sockets/s.sock/f");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->socket_path, "/run/x.sockets/s.sock");

  u = ParseHttpUrl("https+unix:///run/fn.sock/f");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->server_name, "localhost");
  EXPECT_EQ(u->PoolKey(), "https+unix:///run/fn.sock");
}

TEST(HttpUrl, MalformedUnixUrlsAreRejected) {
  struct Case {
    std::string url;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"http+unix://", "absolute socket path"},
      {"http+unix:///", "no socket path"},
      {"http+unix:///run/fn/statefun", "must end in \".sock\""},
      {"http+unix:///run/fn.socket", "no socket path"},
      {"http+unix://run/fn.sock/f", "absolute socket path"},  // a host, not a path
      {"http+unix://%2Frun%2Ffn.sock/f", "absolute socket path"},
      {"https+unix:///run/fn/f", "https+unix:///path/to/socket.sock"},
      {"http+unix:///run/a b.sock/f", "whitespace"},
      {"http+unix:///" + std::string(120, 'x') + ".sock/f", "longer than 107 bytes"},
  };
  for (const auto& c : cases) {
    auto u = ParseHttpUrl(c.url);
    ASSERT_FALSE(u.ok()) << "'" << c.url << "' was accepted";
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(u.status().message().find(c.needle), std::string::npos) << u.status().message();
  }
}

TEST(HttpUrl, MalformedUrlsAreRejected) {
  for (const char* url :
       {"", "ftp://h/", "h:80/f", "http://", "http:///path", "http://h:/f", "http://h:0/",
        "http://h:65536/", "http://h:12a/", "http://h:123456/", "http://user@h/",
        "http://[::1/", "http://[::1]x/", "http://h/a b", "http://h/a\r\nX: y"}) {
    auto u = ParseHttpUrl(url);
    EXPECT_FALSE(u.ok()) << "'" << url << "' was accepted";
    if (!u.ok()) {
      EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace eddy::http_invoker
