// The HTTP function server over real sockets (127.0.0.1, port 0; a unix socket in a temp dir).
// Clients are Beast/Asio with a 5 s deadline on every operation, so a misbehaving server fails
// the test instead of hanging it.

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/model/typed_value.h"
#include "eddy/protocol/codec.h"
#include "eddy/sdk/server.h"
#include "unit/sdk/counter_registry.h"
#include "fakes/test_certs.h"

namespace eddy::sdk {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;
using Req = http::request<http::string_body>;
using Res = http::response<http::string_body>;

using test::CounterRegistry;
using test::kCounter;
using test::kSeen;

std::string ToFunction(const FunctionType& type, int64_t seen, TypedValue argument) {
  InvocationBatch batch;
  batch.target = {type, "alice"};
  batch.states.push_back({"seen", types::Long(seen)});
  batch.invocations.push_back({std::nullopt, std::move(argument)});
  return EncodeToFunction(batch);
}

std::string CounterRequest(int64_t seen) { return ToFunction(kCounter, seen, types::Long(1)); }

// The value of "seen" in a FromFunction body; nullopt when it is not a one-mutation reply.
std::optional<int64_t> SeenIn(const std::string& body) {
  Result<FunctionReply> reply = DecodeFromFunction(body);
  if (!reply.ok() || !std::holds_alternative<InvocationResponse>(*reply)) return std::nullopt;
  const auto& mutations = std::get<InvocationResponse>(*reply).state_mutations;
  if (mutations.size() != 1) return std::nullopt;
  return types::AsLong(mutations[0].value);
}

Req Post(std::string body, std::string content_type = "application/octet-stream") {
  Req req{http::verb::post, "/statefun", 11};
  req.set(http::field::host, "127.0.0.1");
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// One client connection over any Beast stream; every operation runs with a deadline.
template <typename Stream>
class Conn {
 public:
  template <typename... Args>
  explicit Conn(Args&&... args) : stream_(ioc_, std::forward<Args>(args)...) {}

  Stream& stream() { return stream_; }

  template <typename Start>
  beast::error_code Run(Start start) {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    beast::error_code out = asio::error::would_block;
    start([&out](beast::error_code ec, auto&&...) { out = ec; });
    ioc_.restart();
    ioc_.run();
    return out;
  }
  template <typename Endpoint>
  beast::error_code Connect(const Endpoint& endpoint) {
    return Run([&](auto h) { beast::get_lowest_layer(stream_).async_connect(endpoint, h); });
  }
  beast::error_code Write(const Req& req) {
    return Run([&](auto h) { http::async_write(stream_, req, h); });
  }
  beast::error_code WriteRaw(const std::string& bytes) {
    return Run([&](auto h) { asio::async_write(stream_, asio::buffer(bytes), h); });
  }
  beast::error_code Read(Res& res) {
    return Run([&](auto h) { http::async_read(stream_, buffer_, res, h); });
  }
  // Sends and reads one exchange; the status code, or -1 on any transport error.
  int Exchange(const Req& req, Res* out = nullptr) {
    Res res;
    if (Write(req) || Read(res)) return -1;
    int status = static_cast<int>(res.result_int());
    if (out != nullptr) *out = std::move(res);
    return status;
  }

 private:
  asio::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
};

using TcpConn = Conn<beast::tcp_stream>;
using UnixConn = Conn<beast::basic_stream<unix_socket>>;
using TlsConn = Conn<beast::ssl_stream<beast::tcp_stream>>;

tcp::endpoint Loopback(uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

class HttpServerTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    auto server = StartHttpServer(registry_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->Port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  FunctionRegistry registry_ = CounterRegistry();
  std::unique_ptr<FunctionServer> server_;
};

TEST_F(HttpServerTest, OkWithExactContentType) {
  Start();
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  Res res;
  ASSERT_EQ(c.Exchange(Post(CounterRequest(41)), &res), 200);
  EXPECT_EQ(res[http::field::content_type], "application/octet-stream");
  EXPECT_EQ(SeenIn(res.body()), 42);
  EXPECT_TRUE(res.keep_alive());
}

TEST_F(HttpServerTest, ErrorStatusesKeepTheConnectionUsable) {
  Start();
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  Res res;

  Req get{http::verb::get, "/statefun", 11};
  get.set(http::field::host, "127.0.0.1");
  ASSERT_EQ(c.Exchange(get, &res), 405);
  EXPECT_EQ(res[http::field::allow], "POST");

  EXPECT_EQ(c.Exchange(Post(CounterRequest(1), "text/plain")), 415);
  EXPECT_EQ(c.Exchange(Post(CounterRequest(1), "")), 415);
  EXPECT_EQ(c.Exchange(Post("")), 400);
  ASSERT_EQ(c.Exchange(Post(std::string("\xff\xff\xff\xff", 4)), &res), 400);
  EXPECT_EQ(res[http::field::content_type], "text/plain; charset=utf-8");
  ASSERT_EQ(c.Exchange(Post(ToFunction({"example", "nope"}, 1, types::Long(1))), &res), 404);
  EXPECT_NE(res.body().find("example/nope"), std::string::npos) << res.body();
  ASSERT_EQ(c.Exchange(Post(ToFunction(kCounter, 1, types::String("x"))), &res), 500);
  EXPECT_EQ(res[http::field::content_type], "text/plain; charset=utf-8");
  EXPECT_NE(res.body().find("handler blew up"), std::string::npos) << res.body();

  // Parameters and case in the media type are fine.
  ASSERT_EQ(c.Exchange(Post(CounterRequest(9), "Application/Octet-Stream; foo=bar"), &res), 200);
  EXPECT_EQ(SeenIn(res.body()), 10);
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  ServerOptions options;
  options.threads = 2;
  Start(options);
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  for (int i = 0; i < 20; ++i) {
    Res res;
    ASSERT_EQ(c.Exchange(Post(CounterRequest(i)), &res), 200);
    EXPECT_EQ(SeenIn(res.body()), i + 1);
  }
  // Two requests in one write: two responses, in order.
  std::ostringstream both;
  both << Post(CounterRequest(100)) << Post(CounterRequest(200));
  ASSERT_FALSE(c.WriteRaw(both.str()));
  Res first, second;
  ASSERT_FALSE(c.Read(first));
  ASSERT_FALSE(c.Read(second));
  EXPECT_EQ(SeenIn(first.body()), 101);
  EXPECT_EQ(SeenIn(second.body()), 201);

  // Connection: close is honoured.
  Req last = Post(CounterRequest(0));
  last.keep_alive(false);
  Res res;
  ASSERT_EQ(c.Exchange(last, &res), 200);
  EXPECT_FALSE(res.keep_alive());
  Res none;
  EXPECT_TRUE(c.Read(none));  // closed by the server
}

TEST_F(HttpServerTest, ConcurrentClients) {
  ServerOptions options;
  options.threads = 3;
  Start(options);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      TcpConn c;
      if (c.Connect(Loopback(server_->Port()))) return;
      for (int i = 0; i < 50; ++i) {
        Res res;
        if (c.Exchange(Post(CounterRequest(t * 1000 + i)), &res) == 200 &&
            SeenIn(res.body()) == t * 1000 + i + 1) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 200);
}

TEST_F(HttpServerTest, BodyLimitIs413) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  Start(options);
  {
    TcpConn c;
    ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
    Res res;
    ASSERT_EQ(c.Exchange(Post(std::string(4096, 'x')), &res), 413);
    EXPECT_FALSE(res.keep_alive());
  }
  {
    // Chunked, so the size is only discovered while reading.
    TcpConn c;
    ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
    std::string chunked =
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 4; ++i) chunked += "200\r\n" + std::string(512, 'y') + "\r\n";
    chunked += "0\r\n\r\n";
    ASSERT_FALSE(c.WriteRaw(chunked));
    Res res;
    ASSERT_FALSE(c.Read(res));
    EXPECT_EQ(res.result_int(), 413u);
  }
  // Within the limit still works.
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  EXPECT_EQ(c.Exchange(Post(CounterRequest(1))), 200);
}

TEST_F(HttpServerTest, MalformedHttpThenFreshConnectionWorks) {
  using namespace std::string_literals;
  Start();
  const std::string garbage[] = {
      "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n"s,  // TLS hello
      "NOT HTTP AT ALL\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST / HTTP/9.9\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      "POST / HTTP/1.1\r\nX: " + std::string(32 * 1024, 'a') + "\r\n\r\n",
  };
  for (const std::string& bytes : garbage) {
    TcpConn c;
    ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
    ASSERT_FALSE(c.WriteRaw(bytes));
    Res res;
    beast::error_code ec = c.Read(res);
    // A 4xx then close, or just a close: never a hang (the read has a deadline) or a 2xx.
    if (!ec) {
      EXPECT_GE(res.result_int(), 400u) << bytes.substr(0, 40);
      EXPECT_LT(res.result_int(), 500u);
      EXPECT_FALSE(res.keep_alive());
    } else {
      EXPECT_NE(ec, beast::error::timeout) << bytes.substr(0, 40);
    }
  }
  {
    // A client that sends half a request and disappears.
    TcpConn c;
    ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
    ASSERT_FALSE(c.WriteRaw("POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
  }
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  Res res;
  ASSERT_EQ(c.Exchange(Post(CounterRequest(5)), &res), 200);
  EXPECT_EQ(SeenIn(res.body()), 6);
}

TEST_F(HttpServerTest, HeaderTooLargeIs431) {
  Start();
  TcpConn c;
  ASSERT_FALSE(c.Connect(Loopback(server_->Port())));
  Req req = Post(CounterRequest(1));
  req.set("X-Padding", std::string(20 * 1024, 'p'));
  EXPECT_EQ(c.Exchange(req), 431);
}

TEST_F(HttpServerTest, StopIsIdempotentAndRefusesNewConnections) {
  Start();
  uint16_t port = server_->Port();
  TcpConn idle;
  ASSERT_FALSE(idle.Connect(Loopback(port)));
  server_->Stop();
  server_->Stop();
  Res res;
  EXPECT_TRUE(idle.Read(res));  // the open connection is closed, not left hanging
  TcpConn c;
  EXPECT_TRUE(c.Connect(Loopback(port)));
}

TEST(HttpServerOptions, InvalidOptionsFail) {
  FunctionRegistry registry = CounterRegistry();
  ServerOptions no_threads;
  no_threads.threads = 0;
  EXPECT_EQ(StartHttpServer(registry, no_threads).status().code(), StatusCode::kInvalidArgument);
  ServerOptions no_body;
  no_body.max_body_bytes = 0;
  EXPECT_EQ(StartHttpServer(registry, no_body).status().code(), StatusCode::kInvalidArgument);
  ServerOptions missing_cert;
  missing_cert.tls_cert = "/nonexistent/cert.pem";
  missing_cert.tls_key = "/nonexistent/key.pem";
  EXPECT_EQ(StartHttpServer(registry, missing_cert).status().code(),
            StatusCode::kInvalidArgument);
  ServerOptions half_tls;
  half_tls.tls_cert = "/nonexistent/cert.pem";
  EXPECT_EQ(StartHttpServer(registry, half_tls).status().code(), StatusCode::kInvalidArgument);
  ServerOptions bad_host;
  bad_host.host = "no such host.invalid";
  EXPECT_FALSE(StartHttpServer(registry, bad_host).ok());
  // A port already taken.
  auto first = StartHttpServer(registry, {});
  ASSERT_TRUE(first.ok());
  ServerOptions same_port;
  same_port.port = (*first)->Port();
  EXPECT_EQ(StartHttpServer(registry, same_port).status().code(), StatusCode::kUnavailable);
}

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-sdk-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "fn.sock").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string path_;
  FunctionRegistry registry_ = CounterRegistry();
};

TEST_F(UnixSocketTest, ServesAndReplacesAStaleSocket) {
  {
    // Leave a stale socket file behind, as a crashed server would.
    asio::io_context ioc;
    unix_socket::acceptor stale(ioc, unix_socket::endpoint(path_));
  }
  ASSERT_TRUE(std::filesystem::is_socket(path_));
  ServerOptions options;
  options.unix_socket = path_;
  auto server = StartHttpServer(registry_, options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->Port(), 0);

  // A second server must not steal the live socket.
  EXPECT_EQ(StartHttpServer(registry_, options).status().code(),
            StatusCode::kFailedPrecondition);

  for (int i = 0; i < 2; ++i) {
    UnixConn c;
    ASSERT_FALSE(c.Connect(unix_socket::endpoint(path_)));
    Res res;
    ASSERT_EQ(c.Exchange(Post(CounterRequest(7)), &res), 200);
    EXPECT_EQ(SeenIn(res.body()), 8);
    EXPECT_EQ(c.Exchange(Post("garbage")), 400);
  }
  (*server)->Stop();
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(UnixSocketTest, RefusesToReplaceARegularFile) {
  std::ofstream(path_) << "not a socket";
  ServerOptions options;
  options.unix_socket = path_;
  EXPECT_EQ(StartHttpServer(registry_, options).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto certs = eddy::testing::GenerateTestCerts();
    ASSERT_TRUE(certs.ok()) << certs.status().ToString();
    certs_ = new eddy::testing::TestCerts(std::move(certs).value());
  }
  static void TearDownTestSuite() {
    if (certs_ != nullptr) std::filesystem::remove_all(certs_->dir);
    delete certs_;
    certs_ = nullptr;
  }

  void Start(bool require_client_cert) {
    ServerOptions options;
    options.tls_cert = certs_->server_cert;
    options.tls_key = certs_->server_key;
    if (require_client_cert) options.tls_client_ca = certs_->ca_cert;
    auto server = StartHttpServer(registry_, options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // A client context trusting `ca`, presenting `cert`/`key` when given.
  static ssl::context ClientContext(const std::string& ca, const std::string& cert = "",
                                    const std::string& key = "") {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(ssl::verify_peer);
    ctx.set_verify_callback(ssl::host_name_verification("localhost"));
    if (!cert.empty()) {
      ctx.use_certificate_chain_file(cert);
      ctx.use_private_key_file(key, ssl::context::pem);
    }
    return ctx;
  }

  // Connect, handshake and one exchange: the status, or -1 when any step fails.
  int TryExchange(ssl::context& ctx) {
    TlsConn c(ctx);
    if (c.Connect(Loopback(server_->Port()))) return -2;
    if (c.Run([&](auto h) { c.stream().async_handshake(ssl::stream_base::client, h); })) return -1;
    Res res;
    int status = c.Exchange(Post(CounterRequest(1)), &res);
    if (status == 200) {
      EXPECT_EQ(SeenIn(res.body()), 2);
    }
    return status;
  }

  static eddy::testing::TestCerts* certs_;
  FunctionRegistry registry_ = CounterRegistry();
  std::unique_ptr<FunctionServer> server_;
};
eddy::testing::TestCerts* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, MutualTls) {
  Start(/*require_client_cert=*/true);
  ssl::context good = ClientContext(certs_->ca_cert, certs_->client_cert, certs_->client_key);
  EXPECT_EQ(TryExchange(good), 200);
  EXPECT_EQ(TryExchange(good), 200);

  // No client certificate: the server aborts the handshake (with TLS 1.3 the client may only
  // notice on its first read), so no response ever comes back.
  ssl::context anonymous = ClientContext(certs_->ca_cert);
  EXPECT_EQ(TryExchange(anonymous), -1);

  // A client certificate from an unrelated CA is refused too.
  ssl::context stranger = ClientContext(certs_->ca_cert, certs_->other_cert, certs_->other_key);
  EXPECT_EQ(TryExchange(stranger), -1);

  // A client that trusts the wrong CA refuses the server.
  ssl::context wrong_ca = ClientContext(certs_->other_ca_cert, certs_->client_cert,
                                        certs_->client_key);
  EXPECT_EQ(TryExchange(wrong_ca), -1);

  // Plaintext to a TLS port gets nothing useful, and the server keeps serving.
  TcpConn plain;
  ASSERT_FALSE(plain.Connect(Loopback(server_->Port())));
  EXPECT_EQ(plain.Exchange(Post(CounterRequest(1))), -1);
  EXPECT_EQ(TryExchange(good), 200);
}

TEST_F(TlsTest, ServerOnlyTls) {
  Start(/*require_client_cert=*/false);
  ssl::context anonymous = ClientContext(certs_->ca_cert);
  EXPECT_EQ(TryExchange(anonymous), 200);
  ssl::context wrong_ca = ClientContext(certs_->other_ca_cert);
  EXPECT_EQ(TryExchange(wrong_ca), -1);
}

TEST_F(TlsTest, TlsOverUnixSocket) {
  const std::string path = (std::filesystem::path(certs_->dir) / "tls.sock").string();
  ServerOptions options;
  options.unix_socket = path;
  options.tls_cert = certs_->server_cert;
  options.tls_key = certs_->server_key;
  options.tls_client_ca = certs_->ca_cert;
  auto server = StartHttpServer(registry_, options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ssl::context good = ClientContext(certs_->ca_cert, certs_->client_cert, certs_->client_key);
  Conn<beast::ssl_stream<beast::basic_stream<unix_socket>>> c(good);
  ASSERT_FALSE(c.Connect(unix_socket::endpoint(path)));
  ASSERT_FALSE(c.Run([&](auto h) { c.stream().async_handshake(ssl::stream_base::client, h); }));
  Res res;
  ASSERT_EQ(c.Exchange(Post(CounterRequest(3)), &res), 200);
  EXPECT_EQ(SeenIn(res.body()), 4);
}

}  // namespace
}  // namespace eddy::sdk
