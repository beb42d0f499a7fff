#include <chrono>
#include <stdexcept>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "eddy/model/typed_value.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk {
namespace {

using std::chrono::milliseconds;

const ValueSpec<int64_t> kSeen = ValueSpec<int64_t>::Of("seen", LongType());
const ValueSpec<std::string> kName = ValueSpec<std::string>::Of("name", StringType());
const FunctionType kCounter{"example", "counter"};
const Address kAlice{kCounter, "alice"};

InvocationBatch Batch(std::vector<StateValue> states, int invocations = 1) {
  InvocationBatch batch;
  batch.target = kAlice;
  batch.states = std::move(states);
  for (int i = 0; i < invocations; ++i) {
    batch.invocations.push_back({std::nullopt, types::Long(i + 1)});
  }
  return batch;
}

std::vector<StateValue> EmptyStates() { return {{"seen", std::nullopt}, {"name", std::nullopt}}; }

FunctionSpec Counter(Handler handler) {
  return FunctionSpec{kCounter, {kSeen.Describe(), kName.Describe()}, std::move(handler)};
}

const InvocationResponse& Response(const Result<FunctionReply>& reply) {
  EXPECT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_TRUE(std::holds_alternative<InvocationResponse>(*reply));
  return std::get<InvocationResponse>(*reply);
}

TEST(RunBatch, IncompleteContextListsEveryMissingSpec) {
  bool ran = false;
  FunctionSpec spec{kCounter,
                    {kSeen.Describe(), kName.Describe(),
                     ValueSpec<int32_t>::Of("ttl", IntType(), Expiration::AfterWrite(
                                                                  milliseconds(5000)))
                         .Describe()},
                    [&](Context&, const Message&) { ran = true; }};
  Result<FunctionReply> reply = RunBatch(spec, Batch({{"name", std::nullopt}}));
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(std::holds_alternative<IncompleteContext>(*reply));
  const auto& missing = std::get<IncompleteContext>(*reply).missing_values;
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(missing[0].name, "seen");
  EXPECT_EQ(missing[0].type_name, "io.statefun.types/long");
  EXPECT_EQ(missing[1].name, "ttl");
  EXPECT_EQ(missing[1].expire_mode, ExpireMode::kAfterWrite);
  EXPECT_EQ(missing[1].expire_after_ms, 5000);
  EXPECT_FALSE(ran);
}

TEST(RunBatch, StatePresentWithoutValueIsComplete) {
  bool ran = false;
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    ran = true;
    EXPECT_FALSE(ctx.Storage().Get(kSeen).has_value());
  });
  Response(RunBatch(spec, Batch(EmptyStates())));
  EXPECT_TRUE(ran);
}

TEST(RunBatch, ReadsSeeEarlierWritesAndOneMutationPerState) {
  std::vector<int64_t> observed;
  FunctionSpec spec = Counter([&](Context& ctx, const Message& msg) {
    int64_t seen = ctx.Storage().Get(kSeen).value_or(0);
    observed.push_back(seen);
    ctx.Storage().Set(kSeen, seen + *msg.As(LongType()));
  });
  auto batch = Batch({{"seen", types::Long(100)}, {"name", std::nullopt}}, 3);
  Result<FunctionReply> reply = RunBatch(spec, batch);
  const InvocationResponse& r = Response(reply);
  EXPECT_EQ(observed, (std::vector<int64_t>{100, 101, 103}));
  ASSERT_EQ(r.state_mutations.size(), 1u);  // "name" untouched, "seen" once
  EXPECT_EQ(r.state_mutations[0].kind, StateMutation::Kind::kModify);
  EXPECT_EQ(r.state_mutations[0].name, "seen");
  EXPECT_EQ(r.state_mutations[0].value, types::Long(106));
}

TEST(RunBatch, CallerAndSelfPerInvocation) {
  std::vector<std::string> callers;
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    EXPECT_EQ(ctx.Self(), kAlice);
    callers.push_back(ctx.Caller() ? ctx.Caller()->ToString() : "-");
  });
  auto batch = Batch(EmptyStates(), 2);
  batch.invocations[1].caller = Address{{"example", "greeter"}, "bob"};
  Response(RunBatch(spec, batch));
  EXPECT_EQ(callers, (std::vector<std::string>{"-", "example/greeter/bob"}));
}

TEST(RunBatch, DeleteAfterWriteAndWriteAfterDelete) {
  FunctionSpec spec = Counter([&](Context& ctx, const Message& msg) {
    if (*msg.As(LongType()) == 1) {
      ctx.Storage().Set(kName, std::string("x"));
      ctx.Storage().Remove(kName);
      EXPECT_FALSE(ctx.Storage().Get(kName).has_value());
      ctx.Storage().Remove(kSeen);
    } else {
      EXPECT_FALSE(ctx.Storage().Get(kSeen).has_value());  // deleted by invocation 1
      ctx.Storage().Set(kSeen, int64_t{7});
    }
  });
  Result<FunctionReply> reply =
      RunBatch(spec, Batch({{"seen", types::Long(3)}, {"name", types::String("n")}}, 2));
  const InvocationResponse& r = Response(reply);
  ASSERT_EQ(r.state_mutations.size(), 2u);
  EXPECT_EQ(r.state_mutations[0].name, "seen");
  EXPECT_EQ(r.state_mutations[0].kind, StateMutation::Kind::kModify);
  EXPECT_EQ(r.state_mutations[0].value, types::Long(7));
  EXPECT_EQ(r.state_mutations[1].name, "name");
  EXPECT_EQ(r.state_mutations[1].kind, StateMutation::Kind::kDelete);
}

TEST(RunBatch, EffectsKeepTheirOrder) {
  const Address bob{{"example", "greeter"}, "bob"};
  FunctionSpec spec = Counter([&](Context& ctx, const Message& msg) {
    int64_t n = *msg.As(LongType());
    ctx.Send(bob, LongType(), n * 10);
    ctx.SendAfter(milliseconds(n), bob, LongType(), n * 100, "t" + std::to_string(n));
    ctx.SendEgress({"example", "out"}, types::String("e" + std::to_string(n)));
    if (n == 2) ctx.CancelDelayedMessage("t1");
    ctx.Send(bob, StringType(), std::string("after"));
  });
  Result<FunctionReply> reply = RunBatch(spec, Batch(EmptyStates(), 2));
  const InvocationResponse& r = Response(reply);
  ASSERT_EQ(r.outgoing_messages.size(), 4u);
  EXPECT_EQ(r.outgoing_messages[0].argument, types::Long(10));
  EXPECT_EQ(r.outgoing_messages[1].argument, types::String("after"));
  EXPECT_EQ(r.outgoing_messages[2].argument, types::Long(20));
  EXPECT_EQ(r.outgoing_messages[0].target, bob);
  ASSERT_EQ(r.delayed_messages.size(), 3u);
  EXPECT_EQ(r.delayed_messages[0].cancellation_token, "t1");
  EXPECT_EQ(r.delayed_messages[0].delay_ms, 1);
  EXPECT_FALSE(r.delayed_messages[0].is_cancellation);
  EXPECT_EQ(r.delayed_messages[1].argument, types::Long(200));
  EXPECT_TRUE(r.delayed_messages[2].is_cancellation);
  EXPECT_EQ(r.delayed_messages[2].cancellation_token, "t1");
  ASSERT_EQ(r.egress_messages.size(), 2u);
  EXPECT_EQ(r.egress_messages[0].egress_namespace, "example");
  EXPECT_EQ(r.egress_messages[0].egress_type, "out");
  EXPECT_EQ(r.egress_messages[1].argument, types::String("e2"));
  EXPECT_TRUE(r.state_mutations.empty());
}

TEST(RunBatch, StdExceptionBecomesInternal) {
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    ctx.Storage().Set(kSeen, int64_t{1});
    throw std::runtime_error("boom");
  });
  Result<FunctionReply> reply = RunBatch(spec, Batch(EmptyStates()));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInternal);
  EXPECT_EQ(reply.status().message(), "function example/counter: boom");
}

TEST(RunBatch, NonStdExceptionBecomesInternal) {
  FunctionSpec spec = Counter([](Context&, const Message&) { throw 42; });
  Result<FunctionReply> reply = RunBatch(spec, Batch(EmptyStates()));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInternal);
  EXPECT_EQ(reply.status().message().rfind("function example/counter: ", 0), 0u)
      << reply.status().message();
}

TEST(RunBatch, SetWithWrongTypeIsContained) {
  const auto wrong = ValueSpec<int32_t>::Of("seen", IntType());  // declared as long
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) { ctx.Storage().Set(wrong, 1); });
  Result<FunctionReply> reply = RunBatch(spec, Batch(EmptyStates()));
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInternal);
  EXPECT_NE(reply.status().message().find("io.statefun.types/int"), std::string::npos)
      << reply.status().message();
}

TEST(RunBatch, UndeclaredStateIsContained) {
  const auto undeclared = ValueSpec<int64_t>::Of("other", LongType());
  for (int op = 0; op < 2; ++op) {
    FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
      if (op == 0) ctx.Storage().Set(undeclared, int64_t{1});
      if (op == 1) ctx.Storage().Remove(undeclared);
    });
    Result<FunctionReply> reply = RunBatch(spec, Batch(EmptyStates()));
    ASSERT_FALSE(reply.ok());
    EXPECT_NE(reply.status().message().find("'other' is not declared"), std::string::npos)
        << reply.status().message();
  }
  // Reading an undeclared state is simply empty.
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    EXPECT_FALSE(ctx.Storage().GetRaw("other").has_value());
  });
  Response(RunBatch(spec, Batch(EmptyStates())));
}

TEST(RunBatch, CorruptStoredBytesThrowInsideHandler) {
  bool caught = false;
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    try {
      ctx.Storage().Get(kSeen);
    } catch (const std::invalid_argument& e) {
      caught = true;
      EXPECT_NE(std::string(e.what()).find("seen"), std::string::npos);
    }
    ctx.Storage().Get(kSeen);  // uncaught: contained by RunBatch
  });
  TypedValue corrupt{std::string(types::kLong), true, "\x09\x01\x02"};
  Result<FunctionReply> reply = RunBatch(spec, Batch({{"seen", corrupt}, {"name", std::nullopt}}));
  EXPECT_TRUE(caught);
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.status().code(), StatusCode::kInternal);
  EXPECT_NE(reply.status().message().find("io.statefun.types/long"), std::string::npos);
}

TEST(RunBatch, ProgrammingErrorsInSendsAreContained) {
  const Address bob{{"example", "greeter"}, "bob"};
  FunctionSpec negative = Counter([&](Context& ctx, const Message&) {
    ctx.SendAfter(milliseconds(-1), bob, LongType(), int64_t{1});
  });
  EXPECT_EQ(RunBatch(negative, Batch(EmptyStates())).status().code(), StatusCode::kInternal);
  FunctionSpec empty_token =
      Counter([&](Context& ctx, const Message&) { ctx.CancelDelayedMessage(""); });
  EXPECT_EQ(RunBatch(empty_token, Batch(EmptyStates())).status().code(), StatusCode::kInternal);
}

TEST(RunBatch, ManyInvocationsAreCheap) {
  // A smoke check of the embedded fast path (no timing assertion: debug and sanitizer builds).
  FunctionSpec spec = Counter([&](Context& ctx, const Message&) {
    ctx.Storage().Set(kSeen, ctx.Storage().Get(kSeen).value_or(0) + 1);
  });
  InvocationBatch batch = Batch({{"seen", std::nullopt}, {"name", std::nullopt}}, 1);
  for (int i = 0; i < 10000; ++i) {
    Result<FunctionReply> reply = RunBatch(spec, batch);
    ASSERT_TRUE(reply.ok());
    batch.states[0].value = std::get<InvocationResponse>(*reply).state_mutations[0].value;
  }
  EXPECT_EQ(LongType().deserialize(batch.states[0].value->value), 10000);
}

}  // namespace
}  // namespace eddy::sdk
