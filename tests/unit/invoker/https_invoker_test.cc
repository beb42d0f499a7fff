// https:// endpoints over real sockets: server verification (chain and name), mTLS, the TLS
// files checked at creation, keep-alive reuse and clean close over TLS.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

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
using testing::ServerConnection;
using testing::ServerOptions;
using testing::TestCerts;

class HttpsInvokerTest : public testing::HttpInvokerTest {
 protected:
  // One set of certificates for the suite: generating them costs a good part of a second.
  static void SetUpTestSuite() {
    auto made = testing::GenerateTestCerts();
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    certs_ = std::move(made).value();
  }
  static void TearDownTestSuite() {
    if (certs_) std::filesystem::remove_all(certs_->dir);
    certs_.reset();
  }
  void SetUp() override {
    if (!certs_) GTEST_SKIP() << "no test certificates";
  }

  static const TestCerts& certs() { return *certs_; }

  static ServerOptions TlsServer(bool require_client_cert = false) {
    ServerOptions o;
    o.cert = certs().server_cert;
    o.key = certs().server_key;
    if (require_client_cert) o.client_ca = certs().ca_cert;
    return o;
  }

  // Spec() for a TLS server, trusting the test CA, with a short budget so failures are fast.
  EndpointSpec TlsSpec(const ScriptedServer& server, std::chrono::milliseconds call = 300ms) {
    EndpointSpec spec = Spec(server, call);
    spec.transport.trust_cacerts = certs().ca_cert;
    return spec;
  }

  static std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = certs().dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static std::optional<TestCerts> certs_;
};

std::optional<TestCerts> HttpsInvokerTest::certs_;

TEST_F(HttpsInvokerTest, GoodReplyWithTrustedCa) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer());
  auto invoker = Make(TlsSpec(server, 2000ms));
  ExpectModifyOne(Call(*invoker));
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target, "/greeter");
  EXPECT_EQ(server.requests()[0].headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_TRUE(server.handshake_errors().empty());
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "");  // no SNI for an IP literal (RFC 6066)
  EXPECT_EQ(server.client_certificates(), 0);
}

TEST_F(HttpsInvokerTest, DnsNameIsSentAsSniAndVerified) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer());
  auto spec = TlsSpec(server, 2000ms);
  spec.url_path_template = "https://localhost:" + std::to_string(server.port()) + "/f";
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  ASSERT_EQ(server.server_names().size(), 1u);
  EXPECT_EQ(server.server_names()[0], "localhost");
}

TEST_F(HttpsInvokerTest, KeepAliveReusesOneTlsConnectionAndClosesItCleanly) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer());
  auto invoker = Make(TlsSpec(server, 2000ms));
  for (int i = 0; i < 5; ++i) ExpectModifyOne(Call(*invoker, Batch(std::to_string(i))));
  EXPECT_EQ(server.connections_accepted(), 1);
  EXPECT_EQ(server.server_names().size(), 1u);  // one handshake
  EXPECT_EQ(server.requests().size(), 5u);
  auto s = Stats(invoker);
  EXPECT_EQ(s.connections_opened, 1u);
  EXPECT_EQ(s.requests_on_reused_connection, 4u);
  EXPECT_EQ(s.idle_connections, 1u);

  invoker->Shutdown();
  // The pooled connection ends with close_notify, not a bare TCP close.
  ASSERT_TRUE(RunUntil([&] { return server.connections_closed() == 1; }, 2000ms));
  EXPECT_EQ(server.clean_tls_closes(), 1);
}

TEST_F(HttpsInvokerTest, IdleTlsConnectionExpiresWithCloseNotify) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer());
  auto spec = TlsSpec(server, 2000ms);
  spec.transport.pool_ttl = 50ms;
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  ASSERT_TRUE(RunUntil([&] { return server.connections_closed() == 1; }, 2000ms));
  EXPECT_EQ(server.clean_tls_closes(), 1);
  EXPECT_EQ(Stats(invoker).idle_connections_expired, 1u);
  EXPECT_EQ(Stats(invoker).open_connections, 0u);
}

TEST_F(HttpsInvokerTest, ServerCertificateFromAnotherCaIsRejected) {
  ServerOptions other;
  other.cert = certs().other_cert;  // valid for 127.0.0.1, but signed by other_ca
  other.key = certs().other_key;
  ScriptedServer server(io_, RespondWith(Good), other);
  auto invoker = Make(TlsSpec(server));
  const auto start = Clock::now();
  auto r = Call(*invoker);
  ExpectDeadline(r, "TLS handshake with 127.0.0.1:" + std::to_string(server.port()));
  EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("unable to get local issuer certificate"),
            std::string::npos)
      << r.status().message();
  EXPECT_LT(Clock::now() - start, 1500ms);
  EXPECT_TRUE(server.requests().empty());
  EXPECT_GE(Stats(invoker).attempt_failures, 2u);  // retried within the budget
  EXPECT_EQ(Stats(invoker).connections_opened, 0u);
}

// Without trust_cacerts the system CAs are used: they do not know the test CA.
TEST_F(HttpsInvokerTest, SystemCasDoNotTrustTheTestCa) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer());
  auto spec = TlsSpec(server);
  spec.transport.trust_cacerts.clear();
  auto invoker = Make(spec);
  ExpectDeadline(Call(*invoker), "certificate verify failed");
  EXPECT_TRUE(server.requests().empty());
}

// A certificate from the trusted CA, but for another name: only the name check can refuse it.
TEST_F(HttpsInvokerTest, HostNameMismatchIsRejected) {
  // Signed with the test CA's key (ca.key next to ca.pem, as GenerateTestCerts writes it).
  const std::string cmd =
      "cd '" + certs().dir + "' && printf 'subjectAltName=DNS:elsewhere.example\\n" +
      "extendedKeyUsage=serverAuth\\n' > elsewhere.cnf && " +
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
      "elsewhere.key -out elsewhere.csr -subj /CN=elsewhere.example > elsewhere.log 2>&1 && " +
      "openssl x509 -req -in elsewhere.csr -CA ca.pem -CAkey ca.key -CAcreateserial " +
      "-out elsewhere.pem -days 2 -extfile elsewhere.cnf >> elsewhere.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl failed, see " << certs().dir;
  ServerOptions elsewhere;
  elsewhere.cert = certs().dir + "/elsewhere.pem";
  elsewhere.key = certs().dir + "/elsewhere.key";
  ScriptedServer server(io_, RespondWith(Good), elsewhere);

  auto invoker = Make(TlsSpec(server));
  auto r = Call(*invoker);
  ExpectDeadline(r, "certificate verify failed");
  EXPECT_NE(r.status().message().find("IP address mismatch"), std::string::npos)
      << r.status().message();

  auto spec = TlsSpec(server);
  spec.url_path_template = "https://localhost:" + std::to_string(server.port()) + "/f";
  auto by_name = Make(spec);
  r = Call(*by_name);
  ExpectDeadline(r, "certificate verify failed");
  EXPECT_NE(r.status().message().find("hostname mismatch"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(server.requests().empty());
}

TEST_F(HttpsInvokerTest, MutualTlsWithClientCertificate) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer(/*require_client_cert=*/true));
  auto spec = TlsSpec(server, 2000ms);
  spec.transport.client_cert = certs().client_cert;
  spec.transport.client_key = certs().client_key;
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(server.client_certificates(), 1);
  EXPECT_TRUE(server.handshake_errors().empty());
}

TEST_F(HttpsInvokerTest, MutualTlsWithoutClientCertificateFails) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer(/*require_client_cert=*/true));
  auto invoker = Make(TlsSpec(server));
  auto r = Call(*invoker);
  // TLS 1.3: the client's handshake completes before the server checks for a certificate; the
  // server's alert arrives when the reply is read.
  ExpectDeadline(r, "certificate required");
  EXPECT_TRUE(server.requests().empty());
  EXPECT_FALSE(server.handshake_errors().empty());
  EXPECT_GE(Stats(invoker).attempt_failures, 2u);
}

TEST_F(HttpsInvokerTest, EncryptedClientKeyWithPasswordFile) {
  ScriptedServer server(io_, RespondWith(Good), TlsServer(/*require_client_cert=*/true));
  auto spec = TlsSpec(server, 2000ms);
  spec.transport.client_cert = certs().client_cert;
  spec.transport.client_key = certs().client_key_encrypted;
  spec.transport.client_key_password = certs().client_key_password_file;  // "s3cret\n"
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(server.client_certificates(), 1);
}

TEST_F(HttpsInvokerTest, WrongOrMissingKeyPasswordFailsAtCreation) {
  EndpointSpec spec;
  spec.url_path_template = "https://127.0.0.1:1/{function.name}";
  spec.transport.trust_cacerts = certs().ca_cert;
  spec.transport.client_cert = certs().client_cert;
  spec.transport.client_key = certs().client_key_encrypted;
  spec.transport.client_key_password = WriteFile("wrong.password", "not-it\n");
  ExpectCreationError(spec, {"transport.client_key '" + certs().client_key_encrypted + "'",
                             "transport.client_key_password '" + certs().dir +
                                 "/wrong.password'",
                             "bad decrypt"});

  // The trailing newline is stripped, nothing else: a password with a trailing space is wrong.
  spec.transport.client_key_password = WriteFile("spaced.password", "s3cret \n");
  ExpectCreationError(spec, {"bad decrypt"});

  spec.transport.client_key_password.clear();  // encrypted, no password: never prompts
  ExpectCreationError(spec, {"transport.client_key '" + certs().client_key_encrypted + "'",
                             "set transport.client_key_password"});
}

TEST_F(HttpsInvokerTest, BadTlsFilesFailAtCreationNamingFieldAndFile) {
  const std::string missing = certs().dir + "/missing.pem";
  const std::string garbage = WriteFile("garbage.pem", "not a certificate\n");
  auto base = [&] {
    EndpointSpec spec;
    spec.url_path_template = "https://127.0.0.1:1/{function.name}";
    spec.transport.trust_cacerts = certs().ca_cert;
    spec.transport.client_cert = certs().client_cert;
    spec.transport.client_key = certs().client_key;
    return spec;
  };
  EXPECT_TRUE(MakeHttpInvoker(io_, base()).ok());

  auto spec = base();
  spec.transport.trust_cacerts = missing;
  ExpectCreationError(spec, {"transport.trust_cacerts '" + missing + "'", "does not exist"});
  spec.transport.trust_cacerts = garbage;
  ExpectCreationError(spec, {"transport.trust_cacerts '" + garbage + "'", "no usable PEM"});
  spec.transport.trust_cacerts = certs().dir;
  ExpectCreationError(spec, {"transport.trust_cacerts", "not a regular file"});

  spec = base();
  spec.transport.client_cert = missing;
  ExpectCreationError(spec, {"transport.client_cert '" + missing + "'", "does not exist"});
  spec.transport.client_cert = garbage;
  ExpectCreationError(spec, {"transport.client_cert '" + garbage + "'"});

  spec = base();
  spec.transport.client_key = missing;
  ExpectCreationError(spec, {"transport.client_key '" + missing + "'", "does not exist"});
  spec.transport.client_key = garbage;
  ExpectCreationError(spec, {"transport.client_key '" + garbage + "'"});
  spec.transport.client_key = certs().server_key;  // a valid key, but not the certificate's
  ExpectCreationError(spec, {"transport.client_key '" + certs().server_key + "'",
                             "transport.client_cert '" + certs().client_cert + "'"});

  spec = base();
  spec.transport.client_key_password = missing;
  ExpectCreationError(spec, {"transport.client_key_password '" + missing + "'"});

  spec = base();
  spec.transport.client_key.clear();
  ExpectCreationError(spec, {"transport.client_cert", "client_key is not"});
  spec = base();
  spec.transport.client_cert.clear();
  ExpectCreationError(spec, {"transport.client_key", "client_cert is not"});

  // TLS settings on an http:// endpoint are still checked: a typo must not pass silently.
  spec = base();
  spec.url_path_template = "http://127.0.0.1:1/{function.name}";
  spec.transport.trust_cacerts = missing;
  ExpectCreationError(spec, {"transport.trust_cacerts '" + missing + "'"});
}

TEST_F(HttpsInvokerTest, PlainHttpServerFailsTheHandshake) {
  ScriptedServer plain(io_, RespondWith(Good));
  auto spec = TlsSpec(plain);
  spec.url_path_template = "https://127.0.0.1:" + std::to_string(plain.port()) + "/f";
  auto invoker = Make(spec);
  ExpectDeadline(Call(*invoker), "TLS handshake with 127.0.0.1");
}

// A server that accepts but never answers the ClientHello: connect_timeout bounds the handshake,
// so the call tries again within its budget.
TEST_F(HttpsInvokerTest, StalledHandshakeTimesOutWithConnectTimeout) {
  ScriptedServer silent(io_, [](ServerConnection& c) -> boost::asio::awaitable<void> {
    co_await c.Sleep(3000ms);
  });
  auto spec = TlsSpec(silent);
  spec.url_path_template = "https://127.0.0.1:" + std::to_string(silent.port()) + "/f";
  spec.transport.connect_timeout = 50ms;
  auto invoker = Make(spec);
  const auto start = Clock::now();
  auto r = Call(*invoker);
  EXPECT_LT(Clock::now() - start, 1000ms);
  ExpectDeadline(r, "TLS handshake with 127.0.0.1");
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().message();
  EXPECT_GE(silent.connections_accepted(), 2);
}

}  // namespace
}  // namespace eddy
