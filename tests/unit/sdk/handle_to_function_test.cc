#include <stdexcept>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "eddy/model/typed_value.h"
#include "eddy/protocol/codec.h"
#include "eddy/sdk/server.h"
#include "unit/sdk/counter_registry.h"

namespace eddy::sdk {
namespace {

using test::CounterRegistry;
using test::kCounter;
using test::kSeen;

std::string Request(const FunctionType& type, bool with_state, TypedValue argument) {
  InvocationBatch batch;
  batch.target = {type, "alice"};
  if (with_state) batch.states.push_back({"seen", types::Long(41)});
  batch.invocations.push_back({std::nullopt, std::move(argument)});
  return EncodeToFunction(batch);
}

TEST(HandleToFunction, RunsTheBatch) {
  FunctionRegistry registry = CounterRegistry();
  Result<std::string> out = HandleToFunction(registry, Request(kCounter, true, types::Long(1)));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  Result<FunctionReply> reply = DecodeFromFunction(*out);
  ASSERT_TRUE(reply.ok());
  const auto& response = std::get<InvocationResponse>(*reply);
  ASSERT_EQ(response.state_mutations.size(), 1u);
  EXPECT_EQ(response.state_mutations[0].value, types::Long(42));
}

TEST(HandleToFunction, IncompleteContext) {
  FunctionRegistry registry = CounterRegistry();
  Result<std::string> out = HandleToFunction(registry, Request(kCounter, false, types::Long(1)));
  ASSERT_TRUE(out.ok());
  Result<FunctionReply> reply = DecodeFromFunction(*out);
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(std::holds_alternative<IncompleteContext>(*reply));
  EXPECT_EQ(std::get<IncompleteContext>(*reply).missing_values[0].name, "seen");
}

TEST(HandleToFunction, Errors) {
  FunctionRegistry registry = CounterRegistry();
  EXPECT_EQ(HandleToFunction(registry, Request({"example", "nope"}, true, types::Long(1)))
                .status()
                .code(),
            StatusCode::kNotFound);
  Result<std::string> thrown = HandleToFunction(registry, Request(kCounter, true, types::String("x")));
  EXPECT_EQ(thrown.status().code(), StatusCode::kInternal);
  EXPECT_NE(thrown.status().message().find("handler blew up"), std::string::npos);
}

TEST(HandleToFunction, MalformedBytes) {
  FunctionRegistry registry = CounterRegistry();
  std::string valid = Request(kCounter, true, types::Long(1));
  const std::string cases[] = {
      "",                                  // no invocation batch
      std::string("\xff\xff\xff\xff", 4),  // not protobuf
      valid.substr(0, valid.size() / 2),   // truncated
      std::string("\x0a\x02hi", 4),        // a ToFunction without a batch
  };
  for (const std::string& bytes : cases) {
    Result<std::string> out = HandleToFunction(registry, bytes);
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
  }
  // Every truncation of a valid request is an error or a well-formed reply, never a crash.
  for (size_t n = 0; n < valid.size(); ++n) {
    Result<std::string> out = HandleToFunction(registry, valid.substr(0, n));
    if (out.ok()) {
      EXPECT_TRUE(DecodeFromFunction(*out).ok());
    }
  }
}

}  // namespace
}  // namespace eddy::sdk
