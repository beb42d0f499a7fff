#include "eddy/invoker/http_invoker.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "eddy/protocol/codec.h"
#include "invoker_fixture.h"

namespace eddy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::Good;
using testing::HttpInvokerTest;
using testing::HttpResponse;
using testing::ModifyReply;
using testing::OkReply;
using testing::ReceivedRequest;
using testing::RespondWith;
using testing::ScriptedServer;
using testing::ServerConnection;

TEST_F(HttpInvokerTest, GoodReplyAndExactRequest) {
  ScriptedServer server(io_, RespondWith(Good));
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));

  ASSERT_EQ(server.requests().size(), 1u);
  const ReceivedRequest& req = server.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.target, "/greeter");  // {function.name} -> the type's name
  EXPECT_EQ(req.headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(req.headers.at("accept"), "application/octet-stream");
  EXPECT_EQ(req.headers.at("connection"), "keep-alive");
  EXPECT_EQ(req.headers.at("user-agent"), "eddy");
  EXPECT_EQ(req.headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(req.headers.at("content-length"), std::to_string(req.body.size()));
  EXPECT_EQ(req.body, EncodeToFunction(Batch()));
  auto batch = DecodeToFunction(req.body);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->target.id, "1");
  ASSERT_EQ(batch->states.size(), 1u);
  EXPECT_FALSE(batch->states[0].value.has_value());
}

TEST_F(HttpInvokerTest, KeepAliveReusesOneConnection) {
  ScriptedServer server(io_, RespondWith(Good));
  auto invoker = Make(Spec(server));
  for (int i = 0; i < 5; ++i) ExpectModifyOne(Call(*invoker, Batch(std::to_string(i))));
  EXPECT_EQ(server.connections_accepted(), 1);
  EXPECT_EQ(server.requests().size(), 5u);
  auto s = Stats(invoker);
  EXPECT_EQ(s.connections_opened, 1u);
  EXPECT_EQ(s.requests_on_reused_connection, 4u);
  EXPECT_EQ(s.idle_connections, 1u);
  EXPECT_EQ(s.calls_succeeded, 5u);
}

// The server holds every reply until all requests arrived: only concurrent calls can finish.
TEST_F(HttpInvokerTest, ConcurrentCallsUseSeparateConnections) {
  constexpr int kCalls = 4;
  ScriptedServer* srv = nullptr;
  ScriptedServer server(io_, [&](ServerConnection& c) -> asio::awaitable<void> {
    while (auto req = co_await c.ReadRequest()) {
      while (srv->requests().size() < kCalls) co_await c.Sleep(1ms);
      co_await c.Write(OkReply(ModifyReply(1)));
    }
  });
  srv = &server;
  auto invoker = Make(Spec(server));
  int ok = 0;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    invoker->Invoke(Batch(std::to_string(i)), [&](Result<FunctionReply> r) {
      ++done;
      ok += r.ok();
    });
  }
  ASSERT_TRUE(RunUntil([&] { return done == kCalls; }));
  EXPECT_EQ(ok, kCalls);
  EXPECT_EQ(server.connections_accepted(), kCalls);
  EXPECT_EQ(Stats(invoker).idle_connections, static_cast<uint64_t>(kCalls));
}

TEST_F(HttpInvokerTest, PoolSizeBoundsConnectionsAndQueuesTheRest) {
  ScriptedServer server(io_, [&](ServerConnection& c) -> asio::awaitable<void> {
    while (auto req = co_await c.ReadRequest()) {
      co_await c.Sleep(5ms);
      co_await c.Write(OkReply(ModifyReply(1)));
    }
  });
  auto spec = Spec(server);
  spec.transport.pool_size = 2;
  auto invoker = Make(spec);
  int ok = 0;
  int done = 0;
  for (int i = 0; i < 7; ++i) {
    invoker->Invoke(Batch(std::to_string(i)), [&](Result<FunctionReply> r) {
      ++done;
      ok += r.ok();
    });
  }
  ASSERT_TRUE(RunUntil([&] { return done == 7; }));
  EXPECT_EQ(ok, 7);
  EXPECT_EQ(server.connections_accepted(), 2);
  EXPECT_EQ(Stats(invoker).requests_on_reused_connection, 5u);
}

TEST_F(HttpInvokerTest, ServerErrorIsRetriedThenSucceeds) {
  int n = 0;
  ScriptedServer server(io_, RespondWith([&](const ReceivedRequest&) {
    return n++ == 0 ? HttpResponse(500, "text/plain", "boom") : OkReply(ModifyReply(1));
  }));
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[0].body, server.requests()[1].body);  // the same batch again
  auto s = Stats(invoker);
  EXPECT_EQ(s.attempt_failures, 1u);
  EXPECT_EQ(s.connections_opened, 1u);  // a clean 500 leaves the connection usable
}

TEST_F(HttpInvokerTest, PersistentNotFoundExhaustsTheBudget) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(404, "text/plain", "no such function");
  }));
  auto invoker = Make(Spec(server, 300ms));
  const auto start = Clock::now();
  auto r = Call(*invoker);
  const auto elapsed = Clock::now() - start;
  ExpectDeadline(r, "HTTP 404");
  EXPECT_NE(r.status().message().find("no such function"), std::string::npos);
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 1500ms);
  // Backoff 2, 4, 8, ... ms within 300 ms: several attempts, but not a hot loop.
  EXPECT_GE(server.requests().size(), 4u);
  EXPECT_LE(server.requests().size(), 12u);
}

TEST_F(HttpInvokerTest, WrongContentTypeIsAFailure) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "text/plain", EncodeFromFunction(ModifyReply(1)));
  }));
  auto invoker = Make(Spec(server, 200ms));
  ExpectDeadline(Call(*invoker), "Content-Type 'text/plain'");
}

TEST_F(HttpInvokerTest, MissingContentTypeIsAFailure) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "", EncodeFromFunction(ModifyReply(1)));
  }));
  auto invoker = Make(Spec(server, 200ms));
  ExpectDeadline(Call(*invoker), "Content-Type ''");
}

TEST_F(HttpInvokerTest, CharsetSuffixIsRejectedButCaseIsIgnored) {
  ScriptedServer bad(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "application/octet-stream; charset=utf-8",
                        EncodeFromFunction(ModifyReply(1)));
  }));
  auto invoker = Make(Spec(bad, 200ms));
  ExpectDeadline(Call(*invoker), "charset=utf-8");

  ScriptedServer good(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "Application/Octet-Stream", EncodeFromFunction(ModifyReply(1)));
  }));
  auto invoker2 = Make(Spec(good));
  ExpectModifyOne(Call(*invoker2));
}

TEST_F(HttpInvokerTest, GarbageBodyIsAFailure) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "application/octet-stream", "\xff\xff\xff\xff");
  }));
  auto invoker = Make(Spec(server, 200ms));
  ExpectDeadline(Call(*invoker), "unusable reply");
}

TEST_F(HttpInvokerTest, OversizedReplyIsAFailure) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "application/octet-stream", std::string(300, 'x'));
  }));
  auto spec = Spec(server, 200ms);
  spec.transport.payload_max_bytes = 200;
  auto invoker = Make(spec);
  ExpectDeadline(Call(*invoker), "larger than payload_max_bytes (200)");
  // A body-limit failure leaves unread bytes behind: that connection is never reused.
  EXPECT_EQ(Stats(invoker).requests_on_reused_connection, 0u);
}

std::string Chunked(std::string_view body) {
  char size[16];
  std::snprintf(size, sizeof(size), "%zx", body.size());
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
         "Transfer-Encoding: chunked\r\n\r\n" +
         std::string(size) + "\r\n" + std::string(body) + "\r\n0\r\n\r\n";
}

TEST_F(HttpInvokerTest, ChunkedRepliesAreAcceptedAndLimited) {
  ScriptedServer good(io_, RespondWith([](const ReceivedRequest&) {
    return Chunked(EncodeFromFunction(ModifyReply(1)));
  }));
  auto invoker = Make(Spec(good));
  ExpectModifyOne(Call(*invoker));

  ScriptedServer big(io_, RespondWith([](const ReceivedRequest&) {
    return Chunked(std::string(300, 'x'));
  }));
  auto spec = Spec(big, 200ms);
  spec.transport.payload_max_bytes = 200;
  auto invoker2 = Make(spec);
  ExpectDeadline(Call(*invoker2), "larger than payload_max_bytes (200)");
}

TEST_F(HttpInvokerTest, OversizedReplyWithoutLengthIsAFailure) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) {
      co_await c.Write("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n" +
                       std::string(300, 'x'));
    }  // the body ends at EOF
  });
  auto spec = Spec(server, 200ms);
  spec.transport.payload_max_bytes = 200;
  auto invoker = Make(spec);
  ExpectDeadline(Call(*invoker), "larger than payload_max_bytes (200)");
}

TEST_F(HttpInvokerTest, OversizedRequestFailsAtOnce) {
  ScriptedServer server(io_, RespondWith(Good));
  auto spec = Spec(server);
  spec.transport.payload_max_bytes = 16;
  auto invoker = Make(spec);
  auto r = Call(*invoker);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_EQ(server.connections_accepted(), 0);
}

TEST_F(HttpInvokerTest, InvalidHttpIsAFailure) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Write("SMTP READY\r\n\r\n\x01\x02garbage");
  });
  auto invoker = Make(Spec(server, 200ms));
  ExpectDeadline(Call(*invoker), "reading reply");
  EXPECT_GE(server.connections_accepted(), 2);  // failed connections are not reused
}

TEST_F(HttpInvokerTest, ServerClosingMidResponseIsRetried) {
  int n = 0;
  ScriptedServer server(io_, [&](ServerConnection& c) -> asio::awaitable<void> {
    while (auto req = co_await c.ReadRequest()) {
      if (n++ == 0) {
        std::string full = OkReply(ModifyReply(1));
        co_await c.Write(full.substr(0, full.size() - 5));
        co_return;  // closes with the body cut short
      }
      co_await c.Write(OkReply(ModifyReply(1)));
    }
  });
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));
  auto s = Stats(invoker);
  EXPECT_EQ(s.attempt_failures, 1u);  // partial reply: a real failure, not a stale connection
  EXPECT_EQ(s.stale_connection_retries, 0u);
  EXPECT_EQ(server.connections_accepted(), 2);
}

TEST_F(HttpInvokerTest, SlowServerTimesOut) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Sleep(3000ms);
  });
  auto invoker = Make(Spec(server, 250ms));
  const auto start = Clock::now();
  auto r = Call(*invoker);
  ExpectDeadline(r, "no reply");
  EXPECT_LT(Clock::now() - start, 1000ms);
  EXPECT_EQ(Stats(invoker).open_connections, 0u);  // the stuck connection was closed
}

TEST_F(HttpInvokerTest, ConnectionRefused) {
  uint16_t port;
  {
    asio::ip::tcp::acceptor probe(io_, {asio::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }  // closed: connecting to it is refused
  EndpointSpec spec;
  spec.url_path_template = "http://127.0.0.1:" + std::to_string(port) + "/{function.name}";
  spec.transport.call_timeout = 200ms;
  auto invoker = Make(spec);
  auto r = Call(*invoker);
  ExpectDeadline(r, "connect to 127.0.0.1:" + std::to_string(port));
  EXPECT_GE(Stats(invoker).attempt_failures, 3u);
  EXPECT_EQ(Stats(invoker).open_connections, 0u);
}

// A listener whose accept queue is full drops SYNs (Linux), so connects hang: only the connect
// timeout (50 ms) lets the call try again inside its 400 ms budget.
TEST_F(HttpInvokerTest, ConnectTimeoutIsRetriedWithinTheBudget) {
  using asio::ip::tcp;
  tcp::acceptor full(io_);
  full.open(tcp::v4());
  full.bind({asio::ip::make_address("127.0.0.1"), 0});
  full.listen(0);  // never accepts
  const tcp::endpoint ep = full.local_endpoint();
  std::vector<std::unique_ptr<tcp::socket>> fillers;
  int connected = 0;
  for (int i = 0; i < 4; ++i) {
    fillers.push_back(std::make_unique<tcp::socket>(io_));
    fillers.back()->async_connect(ep, [&](boost::system::error_code ec) { connected += !ec; });
  }
  RunFor(100ms);
  if (connected == 4) GTEST_SKIP() << "this kernel does not drop SYNs on a full accept queue";

  EndpointSpec spec;
  spec.url_path_template = "http://127.0.0.1:" + std::to_string(ep.port()) + "/{function.name}";
  spec.transport.call_timeout = 400ms;
  spec.transport.connect_timeout = 50ms;
  auto invoker = Make(spec);
  const auto start = Clock::now();
  auto r = Call(*invoker);
  EXPECT_LT(Clock::now() - start, 1500ms);
  ExpectDeadline(r, "connect to 127.0.0.1:" + std::to_string(ep.port()));
  EXPECT_GE(Stats(invoker).attempt_failures, 3u);
  EXPECT_EQ(Stats(invoker).open_connections, 0u);
}

// The server closes a keep-alive connection after answering; the FIN arrives before the next call.
TEST_F(HttpInvokerTest, ServerClosedIdleConnectionIsReplacedForFree) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Write(OkReply(ModifyReply(1)));
  });
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));
  ASSERT_TRUE(RunUntil([&] { return server.connections_closed() == 1; }));
  RunFor(20ms);  // let the FIN reach the client socket
  ExpectModifyOne(Call(*invoker));
  auto s = Stats(invoker);
  EXPECT_EQ(s.connections_opened, 2u);
  EXPECT_EQ(s.attempt_failures, 0u);
  EXPECT_EQ(s.stale_connection_retries, 0u);  // caught by the peek, before sending anything
  EXPECT_EQ(server.requests().size(), 2u);
}

// The close races the request: the server reads the second request and hangs up silently.
TEST_F(HttpInvokerTest, RequestOnConnectionClosedByServerIsRetriedForFree) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Write(OkReply(ModifyReply(1)));
    if (c.index() == 0) co_await c.ReadRequest();  // then close without replying
  });
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));
  ExpectModifyOne(Call(*invoker));
  auto s = Stats(invoker);
  EXPECT_EQ(s.stale_connection_retries, 1u);
  EXPECT_EQ(s.attempt_failures, 0u);
  EXPECT_EQ(server.connections_accepted(), 2);
}

TEST_F(HttpInvokerTest, ConnectionCloseResponseIsNotPooled) {
  ScriptedServer server(io_, RespondWith([](const ReceivedRequest&) {
    return HttpResponse(200, "application/octet-stream", EncodeFromFunction(ModifyReply(1)),
                        "Connection: close\r\n");
  }));
  auto invoker = Make(Spec(server));
  ExpectModifyOne(Call(*invoker));
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(server.connections_accepted(), 2);
  EXPECT_EQ(Stats(invoker).attempt_failures, 0u);
}

TEST_F(HttpInvokerTest, IdleConnectionsExpireAfterPoolTtl) {
  bool peer_closed = false;
  ScriptedServer server(io_, [&](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Write(OkReply(ModifyReply(1)));
    peer_closed = co_await c.WaitForPeerClose(2000ms);
  });
  auto spec = Spec(server);
  spec.transport.pool_ttl = 50ms;
  auto invoker = Make(spec);
  ExpectModifyOne(Call(*invoker));
  EXPECT_EQ(Stats(invoker).idle_connections, 1u);
  ASSERT_TRUE(RunUntil([&] { return peer_closed; }, 1000ms));
  auto s = Stats(invoker);
  EXPECT_EQ(s.idle_connections_expired, 1u);
  EXPECT_EQ(s.open_connections, 0u);
}

TEST_F(HttpInvokerTest, MalformedUrlsFailAtCreation) {
  for (const char* url : {"ftp://h/{function.name}", "", "http://", "http://h:0/",
                          "http://h/a b/{function.name}", "http+unix:///tmp/nosock/x"}) {
    EndpointSpec spec;
    spec.url_path_template = url;
    ExpectCreationError(spec, {"URL '"});
  }
}

// A function name can still make a URL invalid (the template was checked with a sample name):
// that fails the call with InvalidArgument, posted like any result.
TEST_F(HttpInvokerTest, UrlBrokenByTheFunctionNameFailsAtInvokeTimeNotInline) {
  EndpointSpec spec;
  spec.url_path_template = "http://127.0.0.1:1/{function.name}";
  auto invoker = Make(spec);
  InvocationBatch batch = Batch();
  batch.target.type.name = "bad name";
  auto r = Call(*invoker, batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_EQ(Stats(invoker).requests_sent, 0u);
}

// A type name cannot steer the request to another host or path through the template.
TEST_F(HttpInvokerTest, FunctionNamesThatWouldChangeTheUrlAreRefused) {
  EndpointSpec spec;
  spec.url_path_template = "http://{function.name}.fns.local:1/statefun";
  auto invoker = Make(spec);
  for (std::string name : {"evil.com#", "a/b", "x?y=1", "..", "a@b"}) {
    InvocationBatch batch = Batch();
    batch.target.type.name = name;
    auto r = Call(*invoker, batch);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
    EXPECT_NE(r.status().message().find("not allowed in a URL template"), std::string::npos)
        << r.status().ToString();
  }
  EXPECT_EQ(Stats(invoker).requests_sent, 0u);
}

TEST_F(HttpInvokerTest, ShutdownFailsPendingCallsWithUnavailable) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Sleep(3000ms);
  });
  auto spec = Spec(server);
  spec.transport.pool_size = 2;  // 2 in flight, 1 waiting for a connection
  auto invoker = Make(spec);
  std::vector<Status> results;
  for (int i = 0; i < 3; ++i) {
    invoker->Invoke(Batch(std::to_string(i)),
                    [&](Result<FunctionReply> r) { results.push_back(r.status()); });
  }
  ASSERT_TRUE(RunUntil([&] { return server.requests().size() == 2; }));
  invoker->Shutdown();
  invoker->Shutdown();  // idempotent
  EXPECT_TRUE(results.empty()) << "callbacks must be posted, not run inside Shutdown";
  invoker->Invoke(Batch("late"), [&](Result<FunctionReply> r) { results.push_back(r.status()); });
  invoker.reset();  // safe to destroy with handlers still queued
  ASSERT_TRUE(RunUntil([&] { return results.size() == 4; }));
  for (const Status& st : results) {
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  }
  RunFor(20ms);  // aborted handlers run against the released internals
  EXPECT_EQ(results.size(), 4u);
}

TEST_F(HttpInvokerTest, DestroyingWithoutShutdownFailsPendingCalls) {
  ScriptedServer server(io_, [](ServerConnection& c) -> asio::awaitable<void> {
    if (co_await c.ReadRequest()) co_await c.Sleep(3000ms);
  });
  std::optional<Status> result;
  {
    auto invoker = Make(Spec(server));
    invoker->Invoke(Batch(), [&](Result<FunctionReply> r) { result = r.status(); });
    ASSERT_TRUE(RunUntil([&] { return server.requests().size() == 1; }));
  }
  ASSERT_TRUE(RunUntil([&] { return result.has_value(); }));
  EXPECT_EQ(result->code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace eddy
