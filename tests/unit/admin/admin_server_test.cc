#include "eddy/admin/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace eddy {
namespace {

using Clock = std::chrono::steady_clock;

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A deliberately dumb blocking HTTP/1.1 client over a raw socket, so tests can send exactly
// the bytes they want (garbage included). Every receive times out after 5 s: a server bug shows
// up as a failed assertion, never a hung test.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one response; the body is read by Content-Length (none for HEAD).
  std::optional<HttpResponse> ReadResponse(bool head = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    HttpResponse res;
    std::string header = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (header.compare(0, 9, "HTTP/1.1 ") != 0 && header.compare(0, 9, "HTTP/1.0 ") != 0) {
      return std::nullopt;
    }
    res.status = std::stoi(header.substr(9, 3));
    size_t pos = header.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = header.find("\r\n", pos + 2);
      std::string line = header.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                                           : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        res.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      }
      pos = next;
    }
    size_t length = head ? 0 : std::stoul(res.headers["content-length"]);
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    res.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return res;
  }

  // True when the server closes the connection (EOF or reset) before the receive timeout,
  // with no further response bytes.
  bool ClosedByPeer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    if (n == 0) return buf_.empty();
    return n < 0 && (errno == ECONNRESET || errno == EPIPE);
  }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view path, std::string_view method = "GET",
                std::string_view extra_headers = "") {
  return std::string(method) + " " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" +
         std::string(extra_headers) + "\r\n";
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.GetCounter("test_requests_total", {{"k", "v"}}, "Test counter.").Inc(3);
    server_ = std::make_unique<AdminServer>(options_, registry_, [this] { return ready_.load(); });
    Result<uint16_t> port = server_->Start();
    ASSERT_TRUE(port.ok()) << port.status().ToString();
    port_ = *port;
    ASSERT_NE(port_, 0);
  }

  MetricsRegistry registry_;
  std::atomic<bool> ready_{false};
  AdminServer::Options options_;
  std::unique_ptr<AdminServer> server_;
  uint16_t port_ = 0;
};

TEST_F(AdminServerTest, Healthz) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok");
}

TEST_F(AdminServerTest, ReadyzFollowsCallback) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/readyz")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "not ready");
  ready_ = true;
  ASSERT_TRUE(c.Send(Get("/readyz")));
  res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ready");
}

TEST_F(AdminServerTest, MetricsServesPrometheusText) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/metrics?name[]=x")));  // a query string does not change the route
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, registry_.RenderPrometheus());
  EXPECT_NE(res->body.find("test_requests_total{k=\"v\"} 3\n"), std::string::npos);
}

TEST_F(AdminServerTest, HeadHasHeadersButNoBody) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/metrics", "HEAD")));
  auto res = c.ReadResponse(/*head=*/true);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->headers["content-length"], std::to_string(registry_.RenderPrometheus().size()));
  // The next bytes on the connection must be the next response, not a stray body.
  ASSERT_TRUE(c.Send(Get("/healthz")));
  res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok");
}

TEST_F(AdminServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/nope")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  ASSERT_TRUE(c.Send(Get("/metrics", "POST", "Content-Length: 3\r\n") + "abc"));
  res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->headers["allow"], "GET, HEAD");
  ASSERT_TRUE(c.Send(Get("/healthz", "DELETE")));
  res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto first = c.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  ASSERT_TRUE(c.Send(Get("/metrics")));
  auto second = c.ReadResponse();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  // Pipelined: two requests in one write, answered in order.
  ASSERT_TRUE(c.Send(Get("/nope") + Get("/healthz")));
  auto third = c.ReadResponse();
  auto fourth = c.ReadResponse();
  ASSERT_TRUE(third && fourth);
  EXPECT_EQ(third->status, 404);
  EXPECT_EQ(fourth->status, 200);
}

TEST_F(AdminServerTest, ConnectionCloseIsHonoured) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz", "GET", "Connection: close\r\n")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(AdminServerTest, MalformedRequestGets400AndClose) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(std::string("\x00\x01\x02 garbage \xff\r\n\r\n", 17)));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(AdminServerTest, BadHeaderSyntaxGets400) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nNo colon here\r\n\r\n"));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(AdminServerTest, OversizedHeaderGets400AndClose) {
  RawClient c(port_);
  std::string big = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n";
  c.Send(big);  // the server may stop reading early; the response is what matters
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, "request header too large");
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(AdminServerTest, OversizedBodyGets413) {
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz", "GET", "Content-Length: 1000000\r\n") + "partial"));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(AdminServerTest, SurvivesRandomGarbageAndKeepsServing) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 30; ++i) {
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    std::string junk(1 + rng() % 3000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    if (i % 3 == 0) junk = "GET /" + junk;  // get past the method check sometimes
    c.Send(junk);
    // Either an answer or a close; the client disconnects abruptly in any case.
  }
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST_F(AdminServerTest, StopWithConnectedClientsReturnsAndClosesThem) {
  RawClient idle(port_);
  RawClient half(port_);
  ASSERT_TRUE(idle.connected() && half.connected());
  ASSERT_TRUE(half.Send("GET /metr"));  // a request half sent
  RawClient served(port_);
  ASSERT_TRUE(served.Send(Get("/healthz")));
  ASSERT_TRUE(served.ReadResponse());   // the server has certainly accepted by now
  auto start = Clock::now();
  server_->Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(idle.ClosedByPeer());
  EXPECT_TRUE(half.ClosedByPeer());
  EXPECT_TRUE(served.ClosedByPeer());
  server_->Stop();  // idempotent
  RawClient after(port_);
  EXPECT_FALSE(after.connected());
}

TEST_F(AdminServerTest, PortConflictNamesAddressAndPort) {
  AdminServer::Options options;
  options.port = port_;
  AdminServer second(options, registry_, [] { return true; });
  Result<uint16_t> r = second.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port_)), std::string::npos)
      << r.status().message();
  second.Stop();  // harmless after a failed Start
}

TEST_F(AdminServerTest, StartTwiceFailsAndRestartAfterStopWorks) {
  Result<uint16_t> again = server_->Start();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  server_->Stop();
  Result<uint16_t> restarted = server_->Start();
  ASSERT_TRUE(restarted.ok()) << restarted.status().ToString();
  RawClient c(*restarted);
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(AdminServer, InvalidAddressIsInvalidArgument) {
  MetricsRegistry registry;
  AdminServer::Options options;
  options.address = "not-an-ip";
  AdminServer server(options, registry, [] { return true; });
  Result<uint16_t> r = server.Start();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not-an-ip"), std::string::npos);
}

TEST(AdminServer, IdleConnectionTimesOut) {
  MetricsRegistry registry;
  AdminServer::Options options;
  options.idle_timeout = std::chrono::milliseconds(200);
  AdminServer server(options, registry, [] { return true; });
  Result<uint16_t> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  RawClient c(*port);
  ASSERT_TRUE(c.connected());
  auto start = Clock::now();
  EXPECT_TRUE(c.ClosedByPeer());  // no request sent: closed by the timeout, not the test's 5 s
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(AdminServer, ReadyCallbackThatThrowsGives500) {
  MetricsRegistry registry;
  AdminServer server({}, registry, []() -> bool { throw std::runtime_error("boom"); });
  Result<uint16_t> port = server.Start();
  ASSERT_TRUE(port.ok());
  RawClient c(*port);
  ASSERT_TRUE(c.Send(Get("/readyz")));
  auto res = c.ReadResponse();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
}

}  // namespace
}  // namespace eddy
