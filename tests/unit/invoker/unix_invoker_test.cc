// http+unix:// and https+unix:// endpoints over real unix sockets (co-located sidecars).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/test_certs.h"
#include "invoker_fixture.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using testing::Clock;
using testing::Good;
using testing::RespondWith;
using testing::ScriptedServer;
using testing::ServerOptions;

class UnixInvokerTest : public testing::HttpInvokerTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eddy-uds-XXXXXX";  // short: socket paths are limited to 107 bytes
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  ServerOptions UnixServer() const {
    ServerOptions o;
    o.unix_socket = dir_ + "/fn.sock";
    return o;
  }

  std::string dir_;
};

TEST_F(UnixInvokerTest, GoodReplyOverUnixSocketWithKeepAlive) {
  ScriptedServer server(io_, RespondWith(Good), UnixServer());
  auto spec = Spec(server);
  spec.url_path_template = server.Url("/statefun/{function.name}");
  ASSERT_EQ(spec.url_path_template,
            "http+unix://" + dir_ + "/fn.sock/statefun/{function.name}");
  auto invoker = Make(spec);
  for (int i = 0; i < 3; ++i) ExpectModifyOne(Call(*invoker, Batch(std::to_string(i))));

  ASSERT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.requests()[0].target, "/statefun/greeter");
  EXPECT_EQ(server.requests()[0].headers.at("host"), "localhost");
  EXPECT_EQ(server.connections_accepted(), 1);  // pooled per socket path
  EXPECT_EQ(Stats(invoker).requests_on_reused_connection, 2u);
}

TEST_F(UnixInvokerTest, NoHttpPathMeansSlash) {
  ScriptedServer server(io_, RespondWith(Good), UnixServer());
  auto spec = Spec(server);
  spec.url_path_template = server.Url("");
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target, "/");
}

TEST_F(UnixInvokerTest, MissingSocketIsRetriedThenDeadlineExceeded) {
  EndpointSpec spec;
  const std::string socket = dir_ + "/absent.sock";
  spec.url_path_template = "http+unix://" + socket + "/{function.name}";
  spec.transport.call_timeout = 300ms;
  auto invoker = Make(spec);  // nothing is connected at creation
  const auto start = Clock::now();
  auto r = Call(*invoker);
  EXPECT_LT(Clock::now() - start, 1000ms);
  ExpectDeadline(r, "connect to unix socket " + socket + " failed");
  EXPECT_NE(r.status().message().find("No such file or directory"), std::string::npos)
      << r.status().message();
  EXPECT_GE(Stats(invoker).attempt_failures, 3u);
  EXPECT_EQ(Stats(invoker).open_connections, 0u);
}

// A socket file nobody listens on (a crashed sidecar leaves one behind).
TEST_F(UnixInvokerTest, StaleSocketFileIsRefused) {
  std::string socket;
  {
    ScriptedServer server(io_, RespondWith(Good), UnixServer());
    socket = dir_ + "/fn.sock";
  }
  std::ofstream(socket) << "";  // the server removed its socket; leave a plain file instead
  EndpointSpec spec;
  spec.url_path_template = "http+unix://" + socket + "/f";
  spec.transport.call_timeout = 200ms;
  auto invoker = Make(spec);
  ExpectDeadline(Call(*invoker), "connect to unix socket " + socket + " failed");
}

TEST_F(UnixInvokerTest, MalformedUnixUrlsFailAtCreation) {
  const std::vector<std::string> urls = {
      "http+unix://", "http+unix:///", "http+unix:///run/fn/statefun",
      "http+unix://fn.sock/statefun", "https+unix:///run/none/{function.name}",
      "http+unix:///" + std::string(120, 'x') + ".sock/f"};
  for (const std::string& url : urls) {
    EndpointSpec spec;
    spec.url_path_template = url;
    ExpectCreationError(spec, {"URL '"});
  }
}

TEST_F(UnixInvokerTest, HttpsOverUnixSocketVerifiesLocalhost) {
  auto certs = testing::GenerateTestCerts();
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  ServerOptions options = UnixServer();
  options.cert = certs->server_cert;  // valid for localhost
  options.key = certs->server_key;
  ScriptedServer server(io_, RespondWith(Good), options);
  auto spec = Spec(server);
  spec.url_path_template = server.Url("/f");
  ASSERT_EQ(spec.url_path_template.rfind("https+unix://", 0), 0u);
  spec.transport.trust_cacerts = certs->ca_cert;
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(server.connections_accepted(), 1);
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "localhost");

  spec.transport.trust_cacerts = certs->other_ca_cert;  // not the server's CA
  spec.transport.call_timeout = 200ms;
  auto untrusting = Make(spec);
  ExpectDeadline(Call(*untrusting), "certificate verify failed");
  std::filesystem::remove_all(certs->dir);
}

}  // namespace
}  // namespace eddy
