// The gRPC invoker against the real gRPC server (src/sdk/grpc) on 127.0.0.1, port 0, with
// scripted handlers: replies, errors, garbage, stalls.
#include "eddy/invoker/grpc_invoker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eddy/protocol/codec.h"
#include "grpc_test_util.h"
#include "sdk/grpc/grpc_bytes_server.h"

// Debian's gRPC (and the Abseil and OpenSSL it uses) is not built with TSan: TSan sees the
// accesses gRPC makes on our behalf but not gRPC's own synchronization (lock-free queues,
// combiners, refcounts), so it reports races inside gRPC. Races without a gRPC/OpenSSL frame, i.e.
// in Eddy's code, are still reported. As tests/unit/dispatch does for RocksDB.
extern "C" const char* __tsan_default_suppressions() {
  return "called_from_lib:libgrpc.so\n"
         "called_from_lib:libgrpc++.so\n"
         "called_from_lib:libgpr.so\n"
         "race:libgrpc.so\n"
         "race:libgrpc++.so\n"
         "race:libgpr.so\n"
         "race:libabsl_\n"
         "called_from_lib:libssl.so\n"
         "called_from_lib:libcrypto.so\n"
         "race:libssl.so\n"
         "race:libcrypto.so\n";
}

namespace eddy {
namespace {

using namespace grpc_testing;
using sdk::FunctionServer;
using sdk::ServerOptions;

// Lets a test hold handler threads until it says go.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool WaitForWaiters(int n, std::chrono::milliseconds limit = 5000ms) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return waiting_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

std::unique_ptr<FunctionServer> Serve(sdk::GrpcBytesHandler handler, int threads = 2) {
  ServerOptions options;
  options.threads = threads;
  auto server = sdk::StartGrpcBytesServer(std::move(handler), options);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(server).value() : nullptr;
}

// Echoes the batch back: the reply's first outgoing message carries the id it was sent for.
Result<std::string> EchoId(std::string_view bytes) {
  auto batch = DecodeToFunction(bytes);
  if (!batch.ok()) return batch.status();
  return EncodeFromFunction(FullReply(batch->target.id));
}

InvokerPtr MakeInvoker(boost::asio::io_context& io, const EndpointSpec& spec) {
  auto invoker = MakeGrpcInvoker(io, spec);
  EXPECT_TRUE(invoker.ok()) << invoker.status().ToString();
  return invoker.ok() ? std::move(invoker).value() : nullptr;
}

class GrpcInvokerTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
};

TEST_F(GrpcInvokerTest, RoundTripKeepsEveryFieldBothWays) {
  std::mutex mu;
  std::string received;
  auto server = Serve([&](std::string_view bytes) -> Result<std::string> {
    std::lock_guard lock(mu);
    received = std::string(bytes);
    return EncodeFromFunction(FullReply("rt"));
  });
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port())));
  auto result = CallSync(io_, *invoker);
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status().ToString();
  // The request arrived exactly as the codec encodes it (states, caller, both invocations).
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(received, EncodeToFunction(Batch()));
  }
  EXPECT_EQ(EncodeFromFunction(result->value()), EncodeFromFunction(FullReply("rt")));
  const auto& r = std::get<InvocationResponse>(result->value());
  ASSERT_EQ(r.delayed_messages.size(), 2u);
  EXPECT_EQ(r.delayed_messages[0].delay_ms, 1500);
  EXPECT_EQ(r.delayed_messages[0].cancellation_token, "tok-rt");
  EXPECT_TRUE(r.delayed_messages[1].is_cancellation);
  ASSERT_EQ(r.egress_messages.size(), 1u);
  EXPECT_EQ(r.egress_messages[0].egress_type, "out");
  EXPECT_EQ(types::AsString(r.egress_messages[0].argument), "egress-rt");
  ASSERT_EQ(r.state_mutations.size(), 2u);
  EXPECT_EQ(r.state_mutations[1].kind, StateMutation::Kind::kDelete);
}

TEST_F(GrpcInvokerTest, IncompleteContextAndEmptyReplyDecode) {
  std::atomic<int> n{0};
  auto server = Serve([&](std::string_view) -> Result<std::string> {
    if (n++ == 0) {
      IncompleteContext missing;
      missing.missing_values.push_back(
          {"count", "io.statefun.types/int", ExpireMode::kAfterWrite, 5000});
      return EncodeFromFunction(missing);
    }
    return std::string();  // a FromFunction with nothing set is an empty response
  });
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port())));
  auto first = CallSync(io_, *invoker);
  ASSERT_TRUE(first.has_value() && first->ok());
  const auto& incomplete = std::get<IncompleteContext>(first->value());
  ASSERT_EQ(incomplete.missing_values.size(), 1u);
  EXPECT_EQ(incomplete.missing_values[0].expire_after_ms, 5000);
  auto second = CallSync(io_, *invoker);
  ASSERT_TRUE(second.has_value() && second->ok()) << second->status().ToString();
  const auto& empty = std::get<InvocationResponse>(second->value());
  EXPECT_TRUE(empty.state_mutations.empty() && empty.outgoing_messages.empty());
}

TEST_F(GrpcInvokerTest, CallbackIsPostedNeverInline) {
  auto server = Serve(EchoId);
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port())));
  int calls = 0;
  invoker->Invoke(Batch(), [&](Result<FunctionReply>) { ++calls; });
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(RunUntil(io_, [&] { return calls == 1; }));
  invoker->Shutdown();
  invoker->Invoke(Batch(), [&](Result<FunctionReply> r) {
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    ++calls;
  });
  EXPECT_EQ(calls, 1);  // not inline even when failing at once
  ASSERT_TRUE(RunUntil(io_, [&] { return calls == 2; }));
}

TEST_F(GrpcInvokerTest, ManyConcurrentCallsEachGetTheirOwnReplyOnce) {
  auto server = Serve(EchoId, 4);
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port())));
  constexpr int kCalls = 300;
  std::vector<int> callbacks(kCalls, 0);
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    invoker->Invoke(Batch(std::to_string(i)), [&, i](Result<FunctionReply> r) {
      ++callbacks[i];
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      const auto& resp = std::get<InvocationResponse>(r.value());
      ASSERT_EQ(resp.outgoing_messages.size(), 1u);
      EXPECT_EQ(types::AsString(resp.outgoing_messages[0].argument), std::to_string(i));
      ++ok;
    });
  }
  ASSERT_TRUE(RunUntil(
      io_, [&] { return ok == kCalls; }, 20000ms));
  RunFor(io_, 20ms);
  for (int i = 0; i < kCalls; ++i) EXPECT_EQ(callbacks[i], 1) << i;
}

TEST_F(GrpcInvokerTest, ServerDownIsRetriedThenDeadlineExceededWithinBudget) {
  uint16_t port;
  {
    auto server = Serve(EchoId);
    port = server->Port();
  }  // stopped: the port now refuses connections
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(port), 400ms));
  const auto start = Clock::now();
  auto result = CallSync(io_, *invoker);
  const auto took = Clock::now() - start;
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status().code(), StatusCode::kDeadlineExceeded) << result->status().ToString();
  EXPECT_NE(result->status().message().find("UNAVAILABLE"), std::string::npos)
      << result->status().message();
  EXPECT_EQ(result->status().message().find("(0 failed attempts)"), std::string::npos);
  EXPECT_EQ(result->status().message().find("(1 failed attempts)"), std::string::npos)
      << "expected retries: " << result->status().message();
  EXPECT_GE(took, 395ms);
  EXPECT_LT(took, 1500ms);
}

TEST_F(GrpcInvokerTest, ServerComingBackWithinBudgetSucceeds) {
  // Bind, remember the port, stop; start the real server on the same port a bit later.
  uint16_t port;
  {
    auto probe = Serve(EchoId);
    port = probe->Port();
  }
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(port), 5000ms));
  std::optional<Result<FunctionReply>> result;
  invoker->Invoke(Batch(), [&](Result<FunctionReply> r) { result.emplace(std::move(r)); });
  RunFor(io_, 150ms);
  ASSERT_FALSE(result.has_value());
  ServerOptions options;
  options.port = port;
  auto server = sdk::StartGrpcBytesServer(EchoId, options);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE(RunUntil(
      io_, [&] { return result.has_value(); }, 6000ms));
  EXPECT_TRUE(result->ok()) << result->status().ToString();
}

TEST_F(GrpcInvokerTest, ServerErrorsAreRetriedAndTheFinalErrorNamesTheGrpcStatus) {
  std::atomic<int> attempts{0};
  auto server = Serve([&](std::string_view) -> Result<std::string> {
    ++attempts;
    return InvalidArgument("no such thing as a greeter");
  });
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port()), 300ms));
  auto result = CallSync(io_, *invoker);
  ASSERT_TRUE(result.has_value());
  ASSERT_EQ(result->status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(result->status().message().find("gRPC INVALID_ARGUMENT: no such thing as a greeter"),
            std::string::npos)
      << result->status().message();
  EXPECT_NE(result->status().message().find("ex/greeter"), std::string::npos);
  EXPECT_GE(attempts.load(), 2);
}

TEST_F(GrpcInvokerTest, TransientFailuresThenSuccess) {
  std::atomic<int> attempts{0};
  auto server = Serve([&](std::string_view bytes) -> Result<std::string> {
    switch (attempts++) {
      case 0:
        return Unavailable("warming up");
      case 1:
        return Internal("handler threw");
      case 2:
        return std::string("\xff\xff\xff\xff garbage", 13);
      default:
        return EchoId(bytes);
    }
  });
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port())));
  auto result = CallSync(io_, *invoker);
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status().ToString();
  EXPECT_EQ(attempts.load(), 4);
}

TEST_F(GrpcInvokerTest, MalformedFromFunctionFailsWithoutCrashing) {
  const std::vector<std::string> garbage = {
      std::string("\xff\xff\xff\xff\xff", 5),  // truncated varint
      std::string("\x0a\x80\x01", 3),          // length beyond the end
      std::string("\xa0\x06\x01", 3),          // invocation_result (100) as a varint
      std::string(1000, '\x00'),               // field number 0
  };
  for (const std::string& bytes : garbage) {
    auto server = Serve([&](std::string_view) -> Result<std::string> { return bytes; });
    auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port()), 200ms));
    auto result = CallSync(io_, *invoker);
    ASSERT_TRUE(result.has_value());
    ASSERT_EQ(result->status().code(), StatusCode::kDeadlineExceeded)
        << ::testing::PrintToString(bytes);
    EXPECT_NE(result->status().message().find("undecodable FromFunction"), std::string::npos)
        << result->status().message();
  }
}

TEST_F(GrpcInvokerTest, OversizedRequestFailsAtOnceAndOversizedReplyIsAnAttemptFailure) {
  auto server = Serve([](std::string_view) -> Result<std::string> {
    InvocationResponse r;
    r.egress_messages.push_back({"ex", "out", types::String(std::string(4096, 'r'))});
    return EncodeFromFunction(r);
  });
  auto spec = GrpcSpec(Loopback(server->Port()), 300ms);
  spec.grpc.max_message_bytes = 1024;
  auto invoker = MakeInvoker(io_, spec);
  InvocationBatch big = Batch();
  big.invocations.push_back(Invocation{std::nullopt, types::String(std::string(2048, 'q'))});
  const auto start = Clock::now();
  auto too_big = CallSync(io_, *invoker, big);
  ASSERT_TRUE(too_big.has_value());
  EXPECT_EQ(too_big->status().code(), StatusCode::kResourceExhausted);
  EXPECT_LT(Clock::now() - start, 200ms);

  auto reply_too_big = CallSync(io_, *invoker);
  ASSERT_TRUE(reply_too_big.has_value());
  ASSERT_EQ(reply_too_big->status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(reply_too_big->status().message().find("RESOURCE_EXHAUSTED"), std::string::npos)
      << reply_too_big->status().message();
}

TEST_F(GrpcInvokerTest, ShutdownFailsPendingCallsWithUnavailableExactlyOnce) {
  Gate gate;
  auto server = Serve(
      [&](std::string_view bytes) -> Result<std::string> {
        gate.Wait();
        return EchoId(bytes);
      },
      4);
  auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port()), 10000ms));
  constexpr int kCalls = 8;
  std::vector<int> callbacks(kCalls, 0);
  std::vector<StatusCode> codes(kCalls, StatusCode::kOk);
  for (int i = 0; i < kCalls; ++i) {
    invoker->Invoke(Batch(std::to_string(i)), [&, i](Result<FunctionReply> r) {
      ++callbacks[i];
      codes[i] = r.status().code();
    });
  }
  // Wait until the server holds some of them, so they are really in flight.
  ASSERT_TRUE(RunUntil(io_, [&] { return gate.WaitForWaiters(4, 1ms); }));
  invoker->Shutdown();
  invoker->Shutdown();                      // idempotent
  for (int c : callbacks) EXPECT_EQ(c, 0);  // posted, not inline
  ASSERT_TRUE(RunUntil(io_, [&] {
    for (int c : callbacks)
      if (c == 0) return false;
    return true;
  }));
  gate.Open();  // the server now answers: nothing may reach the callbacks any more
  RunFor(io_, 100ms);
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(callbacks[i], 1) << i;
    EXPECT_EQ(codes[i], StatusCode::kUnavailable) << i;
  }
}

TEST_F(GrpcInvokerTest, DestroyingTheInvokerWithCallsInFlightIsSafe) {
  Gate gate;
  auto server = Serve(
      [&](std::string_view bytes) -> Result<std::string> {
        gate.Wait();
        return EchoId(bytes);
      },
      4);
  int callbacks = 0;
  int unavailable = 0;
  {
    auto invoker = MakeInvoker(io_, GrpcSpec(Loopback(server->Port()), 10000ms));
    for (int i = 0; i < 6; ++i) {
      invoker->Invoke(Batch(std::to_string(i)), [&](Result<FunctionReply> r) {
        ++callbacks;
        if (r.status().code() == StatusCode::kUnavailable) ++unavailable;
      });
    }
    ASSERT_TRUE(RunUntil(io_, [&] { return gate.WaitForWaiters(4, 1ms); }));
  }  // destroyed with 6 calls in flight on gRPC's side
  gate.Open();
  RunFor(io_, 150ms);
  EXPECT_EQ(callbacks, 6);
  EXPECT_EQ(unavailable, 6);
}

TEST_F(GrpcInvokerTest, IoContextMayDieBeforeGrpcCompletesTheCalls) {
  Gate gate;
  auto server = Serve(
      [&](std::string_view bytes) -> Result<std::string> {
        gate.Wait();
        return EchoId(bytes);
      },
      2);
  {
    boost::asio::io_context io;
    auto invoker = MakeInvoker(io, GrpcSpec(Loopback(server->Port()), 10000ms));
    for (int i = 0; i < 2; ++i) invoker->Invoke(Batch(), [](Result<FunctionReply>) {});
    ASSERT_TRUE(RunUntil(io, [&] { return gate.WaitForWaiters(2, 1ms); }));
    invoker.reset();
  }  // io gone; the attempts' completions (cancelled) arrive on gRPC threads
  gate.Open();
  std::this_thread::sleep_for(100ms);
}

TEST_F(GrpcInvokerTest, RoundRobinSpreadsCallsOverAllAddressesPickFirstDoesNot) {
  std::atomic<int> a{0}, b{0};
  auto server_a = Serve([&](std::string_view x) {
    ++a;
    return EchoId(x);
  });
  auto server_b = Serve([&](std::string_view x) {
    ++b;
    return EchoId(x);
  });
  const std::string target = "ipv4:127.0.0.1:" + std::to_string(server_a->Port()) +
                             ",127.0.0.1:" + std::to_string(server_b->Port());
  for (const std::string policy : {"round_robin", "pick_first"}) {
    a = 0;
    b = 0;
    auto spec = GrpcSpec(target);
    spec.grpc.load_balancing = policy;
    auto invoker = MakeInvoker(io_, spec);
    // Sequential calls: round_robin alternates once both subchannels are READY.
    for (int i = 0; i < 40; ++i) {
      auto r = CallSync(io_, *invoker);
      ASSERT_TRUE(r.has_value() && r->ok());
    }
    if (policy == "round_robin") {
      EXPECT_GT(a.load(), 5) << policy;
      EXPECT_GT(b.load(), 5) << policy;
    } else {
      EXPECT_TRUE(a.load() == 40 || b.load() == 40) << a << " " << b;
    }
  }
}

TEST_F(GrpcInvokerTest, InvalidConfigFailsCreation) {
  auto expect_invalid = [&](EndpointSpec spec, const std::string& needle) {
    auto invoker = MakeGrpcInvoker(io_, spec);
    ASSERT_FALSE(invoker.ok()) << needle;
    EXPECT_EQ(invoker.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(invoker.status().message().find(needle), std::string::npos)
        << invoker.status().message();
  };
  expect_invalid(GrpcSpec(""), "target is empty");
  auto spec = GrpcSpec("127.0.0.1:1");
  spec.grpc.load_balancing = "least_request";
  expect_invalid(spec, "least_request");
  spec = GrpcSpec("127.0.0.1:1", 0ms);
  expect_invalid(spec, "call_timeout");
  spec = GrpcSpec("127.0.0.1:1");
  spec.grpc.max_message_bytes = 0;
  expect_invalid(spec, "max_message_bytes");
}

}  // namespace
}  // namespace eddy
