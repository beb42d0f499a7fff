#include <chrono>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "eddy/model/typed_value.h"
#include "eddy/sdk/function.h"
#include "eddy/sdk/testing.h"
#include "statefun/sdk/egress.pb.h"

namespace eddy::sdk::testing {
namespace {

using std::chrono::milliseconds;

const ValueSpec<int64_t> kSeen = ValueSpec<int64_t>::Of("seen", LongType());
const ValueSpec<int64_t> kTotal = ValueSpec<int64_t>::Of("total", LongType());
const FunctionType kCounter{"example", "counter"};
const FunctionType kTotals{"example", "totals"};
const FunctionType kOut{"example", "out"};

// counter: counts messages per id and reports each new count to totals/<id>, which sums them.
FunctionRegistry CounterRegistry() {
  FunctionRegistry registry;
  EDDY_CHECK(registry
                 .Register({kCounter, {kSeen.Describe()},
                            [](Context& ctx, const Message&) {
                              int64_t seen = ctx.Storage().Get(kSeen).value_or(0) + 1;
                              ctx.Storage().Set(kSeen, seen);
                              ctx.Send({kTotals, ctx.Self().id}, LongType(), seen);
                            }})
                 .ok());
  EDDY_CHECK(registry
                 .Register({kTotals, {kTotal.Describe()},
                            [](Context& ctx, const Message& msg) {
                              if (!ctx.Caller() || ctx.Caller()->type != kCounter) {
                                throw std::runtime_error("unexpected caller");
                              }
                              int64_t total = ctx.Storage().Get(kTotal).value_or(0);
                              ctx.Storage().Set(kTotal, total + msg.As(LongType()).value());
                            }})
                 .ok());
  return registry;
}

TEST(TestRuntime, CounterMessagesAnotherFunction) {
  FunctionRegistry registry = CounterRegistry();
  TestRuntime rt(registry);
  const Address alice{kCounter, "alice"};
  ASSERT_TRUE(rt.Send(alice, types::String("hi")).ok());
  ASSERT_TRUE(rt.Send(alice, types::String("hi")).ok());
  EXPECT_EQ(rt.State(alice, kSeen), 2);
  // Recorded, but not delivered while deliver_sent is off.
  ASSERT_EQ(rt.SentMessages().size(), 2u);
  EXPECT_EQ(rt.SentMessages()[1].from, alice);
  EXPECT_EQ(rt.SentMessages()[1].message.target, (Address{kTotals, "alice"}));
  EXPECT_EQ(rt.SentMessages()[1].message.argument, types::Long(2));
  EXPECT_FALSE(rt.State(Address{kTotals, "alice"}, kTotal).has_value());

  rt.set_deliver_sent(true);
  rt.ClearRecorded();
  ASSERT_TRUE(rt.Send(alice, types::String("hi")).ok());
  ASSERT_TRUE(rt.Send({kCounter, "bob"}, types::String("hi")).ok());
  EXPECT_EQ(rt.State(alice, kSeen), 3);
  EXPECT_EQ(rt.State(Address{kTotals, "alice"}, kTotal), 3);
  EXPECT_EQ(rt.State(Address{kTotals, "bob"}, kTotal), 1);
  EXPECT_EQ(rt.SentMessages().size(), 2u);
  EXPECT_EQ(rt.RawState(alice, "seen"), types::Long(3));
  EXPECT_FALSE(rt.RawState(alice, "nope").has_value());
}

TEST(TestRuntime, UnknownTypeAndThrowingHandlerFail) {
  FunctionRegistry registry = CounterRegistry();
  TestRuntime rt(registry);
  EXPECT_EQ(rt.Send({{"example", "nope"}, "x"}, types::Long(1)).code(), StatusCode::kNotFound);
  // totals throws when not called by a counter: nothing of the batch is applied.
  Status st = rt.Send({kTotals, "x"}, types::Long(5));
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_FALSE(rt.State(Address{kTotals, "x"}, kTotal).has_value());
}

TEST(TestRuntime, RunIsBounded) {
  FunctionRegistry registry;
  const FunctionType ping{"example", "ping"};
  ASSERT_TRUE(registry
                  .Register({ping, {}, [&](Context& ctx, const Message& msg) {
                               ctx.Send(ctx.Self(), msg.Raw());  // forever
                             }})
                  .ok());
  TestRuntime rt(registry);
  rt.set_deliver_sent(true);
  Status st = rt.Send({ping, "a"}, types::Long(1));
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
}

TEST(TestRuntime, DelayedMessagesAndCancellation) {
  FunctionRegistry registry;
  const FunctionType timer{"example", "timer"};
  const auto kFired = ValueSpec<std::string>::Of("fired", StringType());
  ASSERT_TRUE(
      registry
          .Register({timer, {kFired.Describe()},
                     [&](Context& ctx, const Message& msg) {
                       std::string cmd = msg.As(StringType()).value();
                       if (cmd == "arm") {
                         ctx.SendAfter(milliseconds(100), ctx.Self(), StringType(),
                                       std::string("a"), "token-a");
                         ctx.SendAfter(milliseconds(50), ctx.Self(), StringType(),
                                       std::string("b"), "token-b");
                         ctx.SendAfter(milliseconds(50), ctx.Self(), StringType(),
                                       std::string("c"));
                       } else if (cmd == "cancel") {
                         ctx.CancelDelayedMessage("token-a");
                       } else if (cmd == "rearm") {
                         ctx.SendAfter(milliseconds(10), ctx.Self(), StringType(),
                                       std::string("d"), "token-b");
                       } else {
                         EXPECT_EQ(ctx.Caller(), std::optional<Address>(ctx.Self()));
                         std::string fired = ctx.Storage().Get(kFired).value_or("");
                         ctx.Storage().Set(kFired, fired + cmd);
                       }
                     }})
          .ok());
  TestRuntime rt(registry);
  const Address t{timer, "t1"};
  ASSERT_TRUE(rt.AdvanceTime(milliseconds(1000)).ok());
  ASSERT_TRUE(rt.Send(t, types::String("arm")).ok());
  ASSERT_EQ(rt.PendingDelayed().size(), 3u);
  EXPECT_EQ(rt.PendingDelayed()[0].due_ms, 1100);
  EXPECT_EQ(rt.PendingDelayed()[1].due_ms, 1050);
  EXPECT_EQ(rt.PendingDelayed()[0].message.cancellation_token, "token-a");

  // A token still pending cannot be reused: the reply is refused as the worker refuses it.
  EXPECT_EQ(rt.Send(t, types::String("rearm")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(rt.PendingDelayed().size(), 3u);

  ASSERT_TRUE(rt.AdvanceTime(milliseconds(49)).ok());
  EXPECT_FALSE(rt.State(t, kFired).has_value());
  ASSERT_TRUE(rt.AdvanceTime(milliseconds(1)).ok());  // due at 1050: b then c, in send order
  EXPECT_EQ(rt.State(t, kFired), "bc");
  EXPECT_EQ(rt.NowMs(), 1050);

  ASSERT_TRUE(rt.Send(t, types::String("cancel")).ok());
  EXPECT_TRUE(rt.PendingDelayed().empty());
  ASSERT_TRUE(rt.Send(t, types::String("rearm")).ok());  // token-b fired, so free again
  ASSERT_TRUE(rt.AdvanceTime(milliseconds(1000)).ok());
  EXPECT_EQ(rt.State(t, kFired), "bcd");  // "a" never fires
  EXPECT_EQ(rt.NowMs(), 2050);
  EXPECT_EQ(rt.AdvanceTime(milliseconds(-1)).code(), StatusCode::kInvalidArgument);
}

TEST(TestRuntime, CancellationIsScopedToTheSender) {
  FunctionRegistry registry;
  const FunctionType timer{"example", "timer"};
  int fired = 0;
  ASSERT_TRUE(registry
                  .Register({timer, {},
                             [&](Context& ctx, const Message& msg) {
                               std::string cmd = msg.As(StringType()).value();
                               if (cmd == "arm") {
                                 ctx.SendAfter(milliseconds(5), ctx.Self(), StringType(),
                                               std::string("fire"), "tok");
                               } else if (cmd == "cancel") {
                                 ctx.CancelDelayedMessage("tok");
                               } else {
                                 ++fired;
                               }
                             }})
                  .ok());
  TestRuntime rt(registry);
  ASSERT_TRUE(rt.Send({timer, "a"}, types::String("arm")).ok());
  ASSERT_TRUE(rt.Send({timer, "b"}, types::String("cancel")).ok());  // other id: no effect
  ASSERT_TRUE(rt.AdvanceTime(milliseconds(5)).ok());
  EXPECT_EQ(fired, 1);
}

TEST(TestRuntime, EgressViaSendKafka) {
  FunctionRegistry registry;
  const FunctionType greeter{"example", "greeter"};
  ASSERT_TRUE(registry
                  .Register({greeter, {},
                             [&](Context& ctx, const Message& msg) {
                               std::string name = msg.As(StringType()).value();
                               ctx.SendKafka(kOut, "greetings", ctx.Self().id, "hello " + name);
                               ctx.SendKafka(kOut, "greetings", "", "no key");
                             }})
                  .ok());
  TestRuntime rt(registry);
  ASSERT_TRUE(rt.Send({greeter, "user-1"}, types::String("ann")).ok());
  ASSERT_EQ(rt.Egress().size(), 2u);
  const SentEgress& e = rt.Egress()[0];
  EXPECT_EQ(e.from, (Address{greeter, "user-1"}));
  EXPECT_EQ(e.message.egress_namespace, "example");
  EXPECT_EQ(e.message.egress_type, "out");
  EXPECT_EQ(e.message.argument.type_name,
            "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord");
  io::statefun::sdk::egress::KafkaProducerRecord record;
  ASSERT_TRUE(record.ParseFromString(e.message.argument.value));
  EXPECT_EQ(record.topic(), "greetings");
  EXPECT_EQ(record.key(), "user-1");
  EXPECT_EQ(record.value_bytes(), "hello ann");
  ASSERT_TRUE(record.ParseFromString(rt.Egress()[1].message.argument.value));
  EXPECT_EQ(record.key(), "");
  EXPECT_EQ(record.value_bytes(), "no key");
  rt.ClearRecorded();
  EXPECT_TRUE(rt.Egress().empty());
}

TEST(TestRuntime, DeleteRemovesState) {
  FunctionRegistry registry;
  ASSERT_TRUE(registry
                  .Register({kCounter, {kSeen.Describe()},
                             [](Context& ctx, const Message& msg) {
                               if (msg.Is(StringType())) {
                                 ctx.Storage().Remove(kSeen);
                               } else {
                                 ctx.Storage().Set(kSeen, msg.As(LongType()).value());
                               }
                             }})
                  .ok());
  TestRuntime rt(registry);
  const Address a{kCounter, "a"};
  ASSERT_TRUE(rt.Send(a, types::Long(4)).ok());
  EXPECT_EQ(rt.State(a, kSeen), 4);
  ASSERT_TRUE(rt.Send(a, types::String("reset")).ok());
  EXPECT_FALSE(rt.RawState(a, "seen").has_value());
}

}  // namespace
}  // namespace eddy::sdk::testing
