// Self-test of the fake function server and the function SDK-lite: real HTTP over loopback with
// a Beast client, checking wire bytes, protocol errors and the request log. Also drives the
// benchmark function server binary when it has been built.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/function_sdk.h"
#include "fakes/function_server.h"
#include "statefun/sdk/types.pb.h"

namespace eddy::fakes {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

std::string Hex(std::string_view bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
  bool keep_alive = false;
};

// A blocking HTTP/1.1 client with a deadline on every operation, so a broken server fails the
// test instead of hanging it. One connection, reused across calls (keep-alive).
class TestClient {
 public:
  explicit TestClient(uint16_t port) : stream_(ioc_) {
    stream_.expires_after(5s);
    tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    stream_.async_connect(ep, [this](beast::error_code ec) { error_ = ec; });
    Run();
  }

  bool connected() const { return !error_; }

  Result<HttpResult> Send(http::request<http::string_body> req) {
    req.prepare_payload();
    stream_.expires_after(5s);
    http::async_write(stream_, req, [this](beast::error_code ec, std::size_t) { error_ = ec; });
    Run();
    if (error_) return Unavailable("write: " + error_.message());
    return ReadResponse();
  }

  Result<HttpResult> Post(std::string path, std::string body,
                          std::string content_type = "application/octet-stream") {
    http::request<http::string_body> req{http::verb::post, path, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.keep_alive(true);
    req.body() = std::move(body);
    return Send(std::move(req));
  }

  // Writes raw bytes (for broken HTTP) and reads whatever response follows.
  Result<HttpResult> SendRaw(std::string bytes) {
    stream_.expires_after(5s);
    asio::async_write(stream_, asio::buffer(bytes),
                      [this](beast::error_code ec, std::size_t) { error_ = ec; });
    Run();
    if (error_) return Unavailable("write: " + error_.message());
    return ReadResponse();
  }

 private:
  Result<HttpResult> ReadResponse() {
    http::response<http::string_body> res;
    stream_.expires_after(5s);
    http::async_read(stream_, buffer_, res,
                     [this](beast::error_code ec, std::size_t) { error_ = ec; });
    Run();
    if (error_) return Unavailable("read: " + error_.message());
    HttpResult out;
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    return out;
  }

  void Run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  beast::error_code error_;
};

ToFunction MakeRequest(std::string_view ns, std::string_view type, std::string_view id,
                       int invocations) {
  ToFunction req;
  auto* batch = req.mutable_invocation();
  *batch->mutable_target() = MakeAddress(ns, type, id);
  for (int i = 0; i < invocations; ++i) {
    *batch->add_invocations()->mutable_argument() = StringValue("hi");
  }
  return req;
}

void AddState(ToFunction* req, std::string name, const reqreply::TypedValue* value) {
  auto* pv = req->mutable_invocation()->add_state();
  pv->set_state_name(std::move(name));
  if (value) *pv->mutable_state_value() = *value;
}

FromFunction ParseReply(const HttpResult& r) {
  FromFunction out;
  EXPECT_TRUE(out.ParseFromString(r.body));
  return out;
}

class FunctionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeFunctionServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    server_->Register("test/counter", CounterFunction(CounterEgress{"test", "out", "counts"}));
  }

  std::unique_ptr<FakeFunctionServer> server_;
};

TEST_F(FunctionServerTest, IncompleteContextThenModifyWithExactWireBytes) {
  TestClient client(server_->port());
  ASSERT_TRUE(client.connected());

  server_->Register("test/plain", CounterFunction());
  ToFunction req = MakeRequest("test", "plain", "alice", 1);
  auto first = client.Post("/plain", req.SerializeAsString());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->content_type, "application/octet-stream");
  // incomplete_invocation_context{missing_values{state_name:"count", expiration_spec{},
  // type_typename:"io.statefun.types/int"}}: the Python SDK's answer, byte for byte.
  EXPECT_EQ(Hex(first->body),
            "aa0622" "0a20" "0a05" + Hex("count") + "1200" "1a15" + Hex("io.statefun.types/int"));

  // The runtime registers the state and resends it, present but without value.
  AddState(&req, "count", nullptr);
  auto second = client.Post("/plain", req.SerializeAsString());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->status, 200);
  // invocation_result{state_mutations{MODIFY "count" = int 1}}
  EXPECT_EQ(Hex(second->body), "a2062d" "0a2b" "0801" "1205" + Hex("count") + "1a20" "0a15" +
                                   Hex("io.statefun.types/int") + "1001" "1a05" "0d01000000");

  ASSERT_EQ(server_->RequestCount("test/plain"), 2u);
  auto log = server_->RequestsFor("test/plain");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_TRUE(log[0].states.empty());
  ASSERT_EQ(log[1].states.size(), 1u);
  EXPECT_EQ(log[1].states[0].name, "count");
  EXPECT_FALSE(log[1].states[0].has_value);
  EXPECT_EQ(log[1].path, "/plain");
  EXPECT_EQ(log[1].id, "alice");
  EXPECT_EQ(server_->ConnectionsAccepted(), 1u) << "keep-alive must reuse the connection";
}

TEST_F(FunctionServerTest, BatchRunsInOrderWithOneMutationAndEgressPerInvocation) {
  TestClient client(server_->port());
  ToFunction req = MakeRequest("test", "counter", "bob", 3);
  auto five = IntValue(5);
  AddState(&req, "count", &five);
  AddState(&req, "unrelated", nullptr);

  auto res = client.Post("/counter", req.SerializeAsString());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  ASSERT_EQ(res->status, 200);
  FromFunction reply = ParseReply(*res);
  ASSERT_TRUE(reply.has_invocation_result());
  const auto& result = reply.invocation_result();
  ASSERT_EQ(result.state_mutations_size(), 1);
  EXPECT_EQ(result.state_mutations(0).mutation_type(),
            reqreply::FromFunction::PersistedValueMutation::MODIFY);
  EXPECT_EQ(DecodeInt(result.state_mutations(0).state_value()), 8);
  ASSERT_EQ(result.outgoing_egresses_size(), 3);
  for (int i = 0; i < 3; ++i) {
    const auto& egress = result.outgoing_egresses(i);
    EXPECT_EQ(egress.egress_namespace(), "test");
    EXPECT_EQ(egress.egress_type(), "out");
    EXPECT_EQ(egress.argument().typename_(),
              "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord");
    auto record = DecodeKafkaEgress(egress.argument());
    ASSERT_TRUE(record.has_value());
    EXPECT_EQ(record->topic, "counts");
    EXPECT_EQ(record->key, "bob");
    EXPECT_EQ(record->value, std::to_string(6 + i));
  }

  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].function_type, "test/counter");
  EXPECT_EQ(log[0].num_invocations, 3u);
  ASSERT_EQ(log[0].states.size(), 2u);
  EXPECT_TRUE(log[0].states[0].has_value);
  EXPECT_EQ(log[0].states[0].type_name, "io.statefun.types/int");
  EXPECT_EQ(Hex(log[0].states[0].value), "0d05000000");
  EXPECT_FALSE(log[0].states[1].has_value);
}

TEST_F(FunctionServerTest, ProtocolErrorsGetGoSdkStatusCodes) {
  TestClient client(server_->port());
  std::string valid = MakeRequest("test", "counter", "x", 1).SerializeAsString();

  http::request<http::string_body> get{http::verb::get, "/counter", 11};
  get.set(http::field::host, "127.0.0.1");
  auto r405 = client.Send(get);
  ASSERT_TRUE(r405.ok()) << r405.status().ToString();
  EXPECT_EQ(r405->status, 405);

  auto r415 = client.Post("/counter", valid, "application/json");
  ASSERT_TRUE(r415.ok());
  EXPECT_EQ(r415->status, 415);
  auto charset = client.Post("/counter", valid, "application/octet-stream; charset=utf-8");
  ASSERT_TRUE(charset.ok());
  EXPECT_EQ(charset->status, 415);

  auto empty = client.Post("/counter", "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->status, 400);

  auto garbage = client.Post("/counter", std::string("\xff\xff\xff\xff\x0f", 5));
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->status, 400);
  EXPECT_EQ(garbage->content_type, "text/plain");

  // A valid protobuf that carries no invocation batch (only an unknown field).
  auto no_batch = client.Post("/counter", std::string("\x08\x01", 2));
  ASSERT_TRUE(no_batch.ok());
  EXPECT_EQ(no_batch->status, 400);

  auto unknown = client.Post("/nope", MakeRequest("test", "nope", "x", 1).SerializeAsString());
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  EXPECT_THAT(unknown->body, ::testing::HasSubstr("test/nope"));

  // No Content-Type at all is accepted (Go SDK only rejects a wrong one), and the connection
  // survived every rejection above.
  auto ok = client.Post("/counter", valid, "");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(server_->RejectedRequests(), 7u);
  EXPECT_EQ(server_->TotalRequests(), 1u);
  EXPECT_EQ(server_->ConnectionsAccepted(), 1u);
}

TEST_F(FunctionServerTest, BrokenHttpGets400AndClose) {
  TestClient client(server_->port());
  auto res = client.SendRaw("THIS IS NOT HTTP\r\n\r\n");
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 400);
  EXPECT_FALSE(res->keep_alive);
}

TEST(FunctionServerLimits, OversizedBodyIsRejected) {
  FakeFunctionServer::Options options;
  options.max_body_bytes = 1024;
  auto server = FakeFunctionServer::Start(options);
  ASSERT_TRUE(server.ok());
  (*server)->Register("test/counter", CounterFunction());
  TestClient client((*server)->port());
  auto res = client.Post("/counter", std::string(4096, 'x'));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ((*server)->TotalRequests(), 0u);
}

TEST_F(FunctionServerTest, HandlerMisbehaviour) {
  server_->Register("test/throws", [](const ToFunction&) -> Reply {
    throw std::runtime_error("boom");
  });
  server_->Register("test/raw", [](const ToFunction&) {
    return Reply::Raw(503, "text/plain", "overloaded");
  });
  server_->Register("test/wrongtype", [](const ToFunction&) {
    return Reply::Raw(200, "application/octet-stream; charset=utf-8", "");
  });
  server_->Register("test/close", [](const ToFunction&) { return Reply::CloseConnection(); });

  TestClient client(server_->port());
  auto thrown = client.Post("/throws", MakeRequest("test", "throws", "1", 1).SerializeAsString());
  ASSERT_TRUE(thrown.ok());
  EXPECT_EQ(thrown->status, 500);
  EXPECT_THAT(thrown->body, ::testing::HasSubstr("boom"));

  auto raw = client.Post("/raw", MakeRequest("test", "raw", "1", 1).SerializeAsString());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->status, 503);
  EXPECT_EQ(raw->body, "overloaded");

  auto wrong = client.Post("/w", MakeRequest("test", "wrongtype", "1", 1).SerializeAsString());
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->content_type, "application/octet-stream; charset=utf-8");

  auto closed = client.Post("/close", MakeRequest("test", "close", "1", 1).SerializeAsString());
  EXPECT_FALSE(closed.ok());
  EXPECT_EQ(server_->RequestCount("test/close"), 1u);
}

TEST_F(FunctionServerTest, DelayedReplyDoesNotBlockOtherConnections) {
  server_->Register("test/slow", [](const ToFunction&) {
    return Reply(FromFunction()).WithDelay(300ms);
  });
  auto started = std::chrono::steady_clock::now();
  auto slow = std::async(std::launch::async, [port = server_->port()] {
    TestClient client(port);
    return client.Post("/slow", MakeRequest("test", "slow", "1", 1).SerializeAsString());
  });
  ASSERT_TRUE(server_->WaitForRequests("test/slow", 1, 5s));

  TestClient fast(server_->port());
  auto quick = fast.Post("/counter", MakeRequest("test", "counter", "1", 1).SerializeAsString());
  ASSERT_TRUE(quick.ok());
  EXPECT_EQ(slow.wait_for(0ms), std::future_status::timeout)
      << "the fast reply must not wait for the delayed one";

  auto slow_result = slow.get();
  ASSERT_TRUE(slow_result.ok()) << slow_result.status().ToString();
  EXPECT_EQ(slow_result->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
}

TEST_F(FunctionServerTest, NamespaceWildcardAndClearLog) {
  server_->Register("wild/*", CounterFunction());
  TestClient client(server_->port());
  auto res = client.Post("/any", MakeRequest("wild", "anything", "1", 1).SerializeAsString());
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(ParseReply(*res).has_incomplete_invocation_context());
  EXPECT_EQ(server_->RequestCount("wild/anything"), 1u);
  server_->ClearLog();
  EXPECT_EQ(server_->TotalRequests(), 0u);
  EXPECT_FALSE(server_->WaitForRequests("wild/anything", 1, 10ms));
}

TEST_F(FunctionServerTest, StopClosesIdleKeepAliveConnections) {
  TestClient client(server_->port());
  auto res = client.Post("/counter", MakeRequest("test", "counter", "1", 1).SerializeAsString());
  ASSERT_TRUE(res.ok());
  server_->Stop();
  auto after = client.Post("/counter", MakeRequest("test", "counter", "1", 1).SerializeAsString());
  EXPECT_FALSE(after.ok());
  server_->Stop();  // idempotent
}

TEST(FunctionSdkTest, BuiltInTypeBytesMatchStateFun) {
  EXPECT_EQ(Hex(IntValue(1).value()), "0d01000000");
  EXPECT_EQ(Hex(IntValue(0).value()), "");
  EXPECT_EQ(Hex(LongValue(2).value()), "090200000000000000");
  EXPECT_EQ(Hex(StringValue("ab").value()), "0a026162");
  EXPECT_EQ(Hex(BoolValue(true).value()), "0801");
  EXPECT_EQ(DecodeLong(LongValue(-7)), -7);
  EXPECT_EQ(DecodeString(StringValue("hé")), "hé");
  EXPECT_EQ(DecodeInt(LongValue(1)), std::nullopt) << "type name mismatch";
  reqreply::TypedValue broken = IntValue(1);
  broken.set_value("\x0d\x01");
  EXPECT_EQ(DecodeInt(broken), std::nullopt) << "truncated wrapper";
  EXPECT_EQ(DecodeKafkaEgress(StringValue("x")), std::nullopt);
}

TEST(FunctionSdkTest, ContextCollectsAllEffectKinds) {
  ToFunction req = MakeRequest("ns", "fn", "me", 1);
  auto seven = LongValue(7);
  AddState(&req, "total", &seven);
  AddState(&req, "gone", &seven);
  FunctionContext ctx(req);
  EXPECT_TRUE(ctx.HasState("total"));
  EXPECT_FALSE(ctx.HasState("other"));
  EXPECT_EQ(ctx.GetLong("total"), 7);
  EXPECT_EQ(ctx.GetInt("total"), std::nullopt);
  ctx.SetLong("total", 8);
  EXPECT_EQ(ctx.GetLong("total"), 8) << "writes are visible to later invocations";
  ctx.SetLong("total", 9);
  ctx.Delete("gone");
  EXPECT_FALSE(ctx.GetRaw("gone"));
  ctx.Send(MakeAddress("ns", "other", "you"), StringValue("m"));
  ctx.SendAfter(1500ms, MakeAddress("ns", "other", "you"), StringValue("later"), "tok");
  ctx.CancelDelayed("tok");
  ctx.EgressKafka("ns", "sink", "topic", "k", "v");

  FromFunction out = ctx.Build();
  const auto& r = out.invocation_result();
  ASSERT_EQ(r.state_mutations_size(), 2);
  EXPECT_EQ(r.state_mutations(0).state_name(), "total");
  EXPECT_EQ(DecodeLong(r.state_mutations(0).state_value()), 9);
  EXPECT_EQ(r.state_mutations(1).state_name(), "gone");
  EXPECT_EQ(r.state_mutations(1).mutation_type(),
            reqreply::FromFunction::PersistedValueMutation::DELETE);
  ASSERT_EQ(r.outgoing_messages_size(), 1);
  EXPECT_EQ(r.outgoing_messages(0).target().id(), "you");
  ASSERT_EQ(r.delayed_invocations_size(), 2);
  EXPECT_EQ(r.delayed_invocations(0).delay_in_ms(), 1500);
  EXPECT_EQ(r.delayed_invocations(0).cancellation_token(), "tok");
  EXPECT_FALSE(r.delayed_invocations(0).is_cancellation_request());
  EXPECT_TRUE(r.delayed_invocations(1).is_cancellation_request());
  EXPECT_EQ(r.delayed_invocations(1).cancellation_token(), "tok");
  ASSERT_EQ(r.outgoing_egresses_size(), 1);
  auto record = DecodeKafkaEgress(r.outgoing_egresses(0).argument());
  ASSERT_TRUE(record);
  EXPECT_EQ(record->key, "k");
  EXPECT_EQ(record->value, "v");
}

TEST(FunctionSdkTest, MissingStatesListsOnlyAbsentNames) {
  std::vector<StateSpec> declared = {
      {"a", std::string(kIntType)},
      {"b", std::string(kStringType), reqreply::FromFunction::ExpirationSpec::AFTER_WRITE, 60000}};
  ToFunction req = MakeRequest("ns", "fn", "me", 1);
  AddState(&req, "a", nullptr);
  auto missing = MissingStates(req, declared);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].name, "b");
  FromFunction incomplete = IncompleteContext(missing);
  const auto& spec = incomplete.incomplete_invocation_context().missing_values(0);
  EXPECT_EQ(spec.type_typename(), "io.statefun.types/string");
  EXPECT_EQ(spec.expiration_spec().mode(), reqreply::FromFunction::ExpirationSpec::AFTER_WRITE);
  EXPECT_EQ(spec.expiration_spec().expire_after_millis(), 60000);
}

// --- The benchmark function server binary (skipped unless it was built). ---

class BenchServerProcess {
 public:
  static std::string BinaryPath() {
    const char* dir = std::getenv("EDDY_BUILD_DIR");
    return dir ? std::string(dir) + "/bin/eddy-bench-function" : std::string();
  }

  bool Start(std::vector<std::string> extra_args) {
    port_file_ = std::filesystem::temp_directory_path() /
                 ("eddy-bench-port-" + std::to_string(::getpid()));
    std::filesystem::remove(port_file_);
    std::vector<std::string> args = {BinaryPath(), "--port", "0", "--port-file",
                                     port_file_.string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = static_cast<uint16_t>(port);
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  ~BenchServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::filesystem::remove(port_file_);
  }

  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::filesystem::path port_file_;
};

TEST(BenchFunctionServer, CounterProtocol) {
  if (BenchServerProcess::BinaryPath().empty() ||
      !std::filesystem::exists(BenchServerProcess::BinaryPath())) {
    FAIL() << "eddy-bench-function not found at " << BenchServerProcess::BinaryPath();
  }
  BenchServerProcess proc;
  ASSERT_TRUE(proc.Start({"--egress-every", "2"}));
  TestClient client(proc.port());

  ToFunction req = MakeRequest("bench", "counter", "k1", 3);
  auto missing = client.Post("/counter", req.SerializeAsString());
  ASSERT_TRUE(missing.ok()) << missing.status().ToString();
  FromFunction incomplete = ParseReply(*missing);
  ASSERT_TRUE(incomplete.has_incomplete_invocation_context());
  EXPECT_EQ(incomplete.incomplete_invocation_context().missing_values(0).type_typename(),
            "io.statefun.types/long");

  auto forty = LongValue(40);
  AddState(&req, "count", &forty);
  auto res = client.Post("/counter", req.SerializeAsString());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->content_type, "application/octet-stream");
  FromFunction reply = ParseReply(*res);
  ASSERT_EQ(reply.invocation_result().state_mutations_size(), 1);
  EXPECT_EQ(DecodeLong(reply.invocation_result().state_mutations(0).state_value()), 43);
  EXPECT_GE(reply.invocation_result().outgoing_egresses_size(), 1);

  auto bad = client.Post("/counter", "garbage");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  auto other = client.Post("/x", MakeRequest("bench", "other", "1", 1).SerializeAsString());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 404);
  auto get = client.Send(http::request<http::string_body>{http::verb::get, "/counter", 11});
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 405);
  auto json = client.Post("/counter", req.SerializeAsString(), "application/json");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->status, 415);
  auto again = client.Post("/counter", req.SerializeAsString());
  ASSERT_TRUE(again.ok()) << "connection must survive rejected requests";
  EXPECT_EQ(again->status, 200);

  TestClient broken(proc.port());
  auto not_http = broken.SendRaw("GARBAGE\r\n\r\n");
  ASSERT_TRUE(not_http.ok()) << not_http.status().ToString();
  EXPECT_EQ(not_http->status, 400);
  EXPECT_FALSE(not_http->keep_alive);
}

}  // namespace
}  // namespace eddy::fakes
