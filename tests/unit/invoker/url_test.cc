#include "invoker/http/url.h"

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

TEST(HttpUrl, SchemesForLaterAreRejectedClearly) {
  for (const char* url : {"https://h/f", "http+unix:///tmp/s.sock/f", "https+unix:///s/f"}) {
    auto u = ParseHttpUrl(url);
    ASSERT_FALSE(u.ok()) << url;
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(u.status().message().find("not supported"), std::string::npos)
        << u.status().message();
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
