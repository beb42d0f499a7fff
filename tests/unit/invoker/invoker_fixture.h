#pragma once
// The fixture shared by the HTTP invoker tests: one io_context run on the test's thread (as a
// shard runs it), helpers to make invokers, call them and check results.

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "eddy/invoker/http_invoker.h"
#include "eddy/model/typed_value.h"
#include "invoker/http/http_invoker_stats.h"
#include "scripted_server.h"

namespace eddy::testing {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline FunctionReply ModifyReply(int32_t v) {
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, "count", types::Int(v)});
  return r;
}

inline std::string Good(const ReceivedRequest&) { return OkReply(ModifyReply(1)); }

class HttpInvokerTest : public ::testing::Test {
 protected:
  EndpointSpec Spec(const ScriptedServer& server, std::chrono::milliseconds call = 2000ms) {
    EndpointSpec spec;
    spec.kind = "io.statefun.endpoints.v2/http";
    spec.functions = FunctionTypePattern{"ex", "", true};
    spec.url_path_template = server.Url();
    spec.transport.call_timeout = call;
    spec.transport.connect_timeout = 1000ms;
    return spec;
  }

  // MakeHttpInvoker that must succeed (a failure throws, which GoogleTest reports).
  InvokerPtr Make(const EndpointSpec& spec) {
    auto made = MakeHttpInvoker(io_, spec);
    if (!made.ok()) throw std::runtime_error("MakeHttpInvoker: " + made.status().ToString());
    return std::move(made).value();
  }

  // MakeHttpInvoker that must fail with InvalidArgument mentioning every needle.
  void ExpectCreationError(const EndpointSpec& spec, std::initializer_list<std::string> needles) {
    auto made = MakeHttpInvoker(io_, spec);
    ASSERT_FALSE(made.ok()) << spec.url_path_template << " was accepted";
    EXPECT_EQ(made.status().code(), StatusCode::kInvalidArgument) << made.status().ToString();
    for (const auto& needle : needles) {
      EXPECT_NE(made.status().message().find(needle), std::string::npos)
          << "'" << needle << "' not in: " << made.status().message();
    }
  }

  static InvocationBatch Batch(std::string id = "1") {
    InvocationBatch b;
    b.target = Address{FunctionType{"ex", "greeter"}, std::move(id)};
    b.states.push_back(StateValue{"count", std::nullopt});
    b.invocations.push_back(Invocation{std::nullopt, types::String("hi")});
    return b;
  }

  static HttpInvokerStats Stats(const InvokerPtr& invoker) {
    return dynamic_cast<const HttpInvokerWithStats&>(*invoker).Stats();
  }

  // Runs the io_context (on this thread, as a shard would) until `done` or `limit`.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
    const auto end = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > end) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(5ms);
    }
    return true;
  }

  void RunFor(std::chrono::milliseconds d) {
    RunUntil([] { return false; }, d);
  }

  // Invokes and waits for the callback.
  Result<FunctionReply> Call(Invoker& invoker, InvocationBatch batch = Batch()) {
    std::optional<Result<FunctionReply>> result;
    invoker.Invoke(std::move(batch), [&](Result<FunctionReply> r) { result = std::move(r); });
    EXPECT_FALSE(result.has_value()) << "callback ran inline";
    EXPECT_TRUE(RunUntil([&] { return result.has_value(); })) << "no callback";
    if (!result) return Internal("no callback");
    return std::move(*result);
  }

  static void ExpectModifyOne(const Result<FunctionReply>& r) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const auto* resp = std::get_if<InvocationResponse>(&*r);
    ASSERT_NE(resp, nullptr);
    ASSERT_EQ(resp->state_mutations.size(), 1u);
    EXPECT_EQ(types::AsInt(resp->state_mutations[0].value), 1);
  }

  static void ExpectDeadline(const Result<FunctionReply>& r, std::string_view needle) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }

  asio::io_context io_;  // first member: outlives servers and invokers
};

}  // namespace eddy::testing
