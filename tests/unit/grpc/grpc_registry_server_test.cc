// StartGrpcServer (eddy/sdk/server.h) with a real FunctionRegistry, driven by the gRPC invoker and
// by a raw client for malformed requests.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <stdexcept>
#include <string>

#include "eddy/invoker/grpc_invoker.h"
#include "eddy/protocol/codec.h"
#include "eddy/sdk/function.h"
#include "eddy/sdk/server.h"
#include "grpc_test_util.h"
#include "raw_client.h"

namespace eddy {
namespace {

using namespace grpc_testing;
namespace sdk = eddy::sdk;

const auto kCount = sdk::ValueSpec<int32_t>::Of("count", sdk::IntType());

sdk::FunctionRegistry MakeRegistry() {
  sdk::FunctionRegistry registry;
  auto st =
      registry.Register({.type = {"ex", "greeter"},
                         .states = {kCount.Describe()},
                         .handler = [](sdk::Context& ctx, const sdk::Message& msg) {
                           int32_t count = ctx.Storage().Get(kCount).value_or(0) + 1;
                           ctx.Storage().Set(kCount, count);
                           ctx.Send({{"ex", "printer"}, ctx.Self().id}, sdk::IntType(), count);
                           ctx.SendAfter(std::chrono::milliseconds(250), {{"ex", "timer"}, "t"},
                                         sdk::LongType(), int64_t{5}, "tok");
                           ctx.SendEgress({"ex", "out"}, msg.Raw());
                         }});
  EXPECT_TRUE(st.ok()) << st.ToString();
  st = registry.Register(
      {.type = {"ex", "thrower"}, .states = {}, .handler = [](sdk::Context&, const sdk::Message&) {
         throw std::runtime_error("function failed");
       }});
  EXPECT_TRUE(st.ok()) << st.ToString();
  return registry;
}

class GrpcRegistryServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = sdk::StartGrpcServer(registry_, sdk::ServerOptions{});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  sdk::FunctionRegistry registry_ = MakeRegistry();
  std::unique_ptr<sdk::FunctionServer> server_;
  boost::asio::io_context io_;
};

TEST_F(GrpcRegistryServerTest, InvokerRoundTripThroughRegisteredFunction) {
  auto invoker = MakeGrpcInvoker(io_, GrpcSpec(Loopback(server_->Port())));
  ASSERT_TRUE(invoker.ok()) << invoker.status().ToString();
  InvocationBatch batch;
  batch.target = Address{FunctionType{"ex", "greeter"}, "alice"};
  batch.states.push_back(StateValue{"count", types::Int(41)});
  batch.invocations.push_back(Invocation{std::nullopt, types::String("hello")});
  auto result = CallSync(io_, **invoker, batch);
  ASSERT_TRUE(result.has_value());
  ASSERT_TRUE(result->ok()) << result->status().ToString();
  const auto& r = std::get<InvocationResponse>(result->value());
  ASSERT_EQ(r.state_mutations.size(), 1u);
  EXPECT_EQ(r.state_mutations[0].kind, StateMutation::Kind::kModify);
  EXPECT_EQ(types::AsInt(r.state_mutations[0].value), 42);
  ASSERT_EQ(r.outgoing_messages.size(), 1u);
  EXPECT_EQ(r.outgoing_messages[0].target.id, "alice");
  ASSERT_EQ(r.delayed_messages.size(), 1u);
  EXPECT_EQ(r.delayed_messages[0].delay_ms, 250);
  EXPECT_EQ(r.delayed_messages[0].cancellation_token, "tok");
  ASSERT_EQ(r.egress_messages.size(), 1u);
  EXPECT_EQ(types::AsString(r.egress_messages[0].argument), "hello");

  // Without the declared state the SDK asks for it.
  batch.states.clear();
  auto incomplete = CallSync(io_, **invoker, batch);
  ASSERT_TRUE(incomplete.has_value() && incomplete->ok());
  ASSERT_EQ(std::get<IncompleteContext>(incomplete->value()).missing_values.size(), 1u);
}

TEST_F(GrpcRegistryServerTest, UnknownTypeAndThrowingFunctionEndInDeadlineExceededNamingStatus) {
  auto invoker = MakeGrpcInvoker(io_, GrpcSpec(Loopback(server_->Port()), 200ms));
  ASSERT_TRUE(invoker.ok());
  InvocationBatch unknown = Batch();
  unknown.target.type = {"ex", "nobody"};
  auto r1 = CallSync(io_, **invoker, unknown);
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(r1->status().message().find("NOT_FOUND"), std::string::npos) << r1->status().message();
  InvocationBatch thrower = Batch();
  thrower.target.type = {"ex", "thrower"};
  thrower.states.clear();
  auto r2 = CallSync(io_, **invoker, thrower);
  ASSERT_TRUE(r2.has_value());
  EXPECT_NE(r2->status().message().find("INTERNAL"), std::string::npos) << r2->status().message();
  EXPECT_NE(r2->status().message().find("function failed"), std::string::npos);
}

TEST_F(GrpcRegistryServerTest, MalformedToFunctionIsInvalidArgument) {
  for (const std::string& bytes : {std::string("\xff\xff\xff", 3), std::string(),
                                   std::string("\x12\x05"
                                               "abc",
                                               5)}) {
    auto reply = RawCall(server_->Port(), bytes);
    EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << reply.status.error_message();
  }
  // And a well-formed one through the raw path works.
  auto ok = RawCall(server_->Port(), EncodeToFunction(Batch()));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_TRUE(DecodeFromFunction(ok.bytes).ok());
}

}  // namespace
}  // namespace eddy
