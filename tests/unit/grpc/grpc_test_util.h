#pragma once
// Shared helpers for the gRPC transport tests: batches and replies with every field set, an
// EndpointSpec for a loopback target, and driving the test's io_context like a shard would.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"
#include "eddy/model/invocation.h"
#include "eddy/model/typed_value.h"

namespace eddy::grpc_testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline EndpointSpec GrpcSpec(const std::string& target, Millis call_timeout = 3000ms) {
  EndpointSpec spec;
  spec.kind = "io.eddy.endpoints.v1/grpc";
  spec.protocol = EndpointProtocol::kGrpc;
  spec.functions = FunctionTypePattern{"ex", "", true};
  spec.grpc.target = target;
  spec.grpc.call_timeout = call_timeout;
  spec.grpc.connect_timeout = 1000ms;
  return spec;
}

inline std::string Loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A batch with a caller, an empty and a set state, and two invocations.
inline InvocationBatch Batch(const std::string& id = "1") {
  InvocationBatch b;
  b.target = Address{FunctionType{"ex", "greeter"}, id};
  b.states.push_back(StateValue{"count", types::Int(41)});
  b.states.push_back(StateValue{"seen", std::nullopt});
  b.invocations.push_back(
      Invocation{Address{FunctionType{"ex", "caller"}, "c1"}, types::String("hi " + id)});
  b.invocations.push_back(Invocation{std::nullopt, types::Long(7)});
  return b;
}

// A reply using every part of InvocationResponse.
inline FunctionReply FullReply(const std::string& tag = "x") {
  InvocationResponse r;
  r.state_mutations.push_back({StateMutation::Kind::kModify, "count", types::Int(42)});
  r.state_mutations.push_back({StateMutation::Kind::kDelete, "seen", {}});
  r.outgoing_messages.push_back({Address{FunctionType{"ex", "printer"}, "p"}, types::String(tag)});
  DelayedMessage delayed;
  delayed.delay_ms = 1500;
  delayed.cancellation_token = "tok-" + tag;
  delayed.target = Address{FunctionType{"ex", "timer"}, "t"};
  delayed.argument = types::Long(99);
  r.delayed_messages.push_back(delayed);
  DelayedMessage cancel;
  cancel.is_cancellation = true;
  cancel.cancellation_token = "old-token";
  r.delayed_messages.push_back(cancel);
  r.egress_messages.push_back({"ex", "out", types::String("egress-" + tag)});
  return r;
}

// Runs `io` on this thread (as a shard would) until `done` or `limit`.
inline bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& done,
                     std::chrono::milliseconds limit = 5000ms) {
  const auto end = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > end) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(2ms);
  }
  return true;
}

inline void RunFor(boost::asio::io_context& io, std::chrono::milliseconds d) {
  RunUntil(
      io, [] { return false; }, d);
}

// Invokes and runs `io` until the callback ran; nullopt if it did not within `limit`.
inline std::optional<Result<FunctionReply>> CallSync(boost::asio::io_context& io, Invoker& invoker,
                                                     InvocationBatch batch = Batch(),
                                                     std::chrono::milliseconds limit = 8000ms) {
  std::optional<Result<FunctionReply>> result;
  invoker.Invoke(std::move(batch), [&](Result<FunctionReply> r) { result.emplace(std::move(r)); });
  RunUntil(
      io, [&] { return result.has_value(); }, limit);
  return result;
}

}  // namespace eddy::grpc_testing
