#include "example_functions.h"

#include <stdexcept>
#include <string>

namespace eddy::examples {
namespace {

using sdk::Context;
using sdk::LongType;
using sdk::Message;
using sdk::ValueSpec;

const FunctionType kCounter{"example", "counter"};
const FunctionType kEcho{"example", "echo"};
const FunctionType kCountsEgress{"example", "counts"};

const auto kSeen = ValueSpec<int64_t>::Of("seen", LongType());
const auto kSum = ValueSpec<int64_t>::Of("sum", LongType());
const auto kEchoes = ValueSpec<int64_t>::Of("echoes", LongType());
const auto kTimer = ValueSpec<int64_t>::Of("timer", LongType());
const auto kCount = ValueSpec<int64_t>::Of("count", LongType());

void Report(Context& ctx) {
  auto& s = ctx.Storage();
  std::string line = "seen=" + std::to_string(s.Get(kSeen).value_or(0)) +
                     " sum=" + std::to_string(s.Get(kSum).value_or(0)) +
                     " echoes=" + std::to_string(s.Get(kEchoes).value_or(0)) +
                     " timer=" + std::to_string(s.Get(kTimer).value_or(0));
  ctx.SendKafka(kCountsEgress, "counts", ctx.Self().id, line);
}

void Counter(Context& ctx, const Message& msg) {
  auto& s = ctx.Storage();
  const std::optional<Address>& caller = ctx.Caller();
  int64_t value = msg.As(LongType()).value_or(0);
  if (caller && caller->type == kEcho) {
    s.Set(kEchoes, s.Get(kEchoes).value_or(0) + 1);
    Report(ctx);
    return;
  }
  if (caller && *caller == ctx.Self()) {  // the delayed timer message
    s.Set(kTimer, value);
    Report(ctx);
    return;
  }
  int64_t seen = s.Get(kSeen).value_or(0) + 1;
  s.Set(kSeen, seen);
  s.Set(kSum, s.Get(kSum).value_or(0) + value);
  ctx.Send({kEcho, ctx.Self().id}, LongType(), seen);
  std::string token = "timer-" + ctx.Self().id;
  ctx.CancelDelayedMessage(token);
  ctx.SendAfter(std::chrono::milliseconds(kCounterTimerMs), ctx.Self(), LongType(), seen, token);
}

void Echo(Context& ctx, const Message& msg) {
  if (ctx.Caller()) ctx.Send(*ctx.Caller(), msg.Raw());
}

void KeyedCounter(Context& ctx, const Message&) {
  auto& s = ctx.Storage();
  s.Set(kCount, s.Get(kCount).value_or(0) + 1);
}

void Thrower(Context& ctx, const Message& msg) {
  if (msg.As(LongType()).value_or(0) < 0) throw std::runtime_error("negative input");
  auto& s = ctx.Storage();
  s.Set(kCount, s.Get(kCount).value_or(0) + 1);
}

}  // namespace

Status RegisterExampleFunctions(sdk::FunctionRegistry& registry) {
  EDDY_RETURN_IF_ERROR(registry.Register(
      {kCounter, {kSeen.Describe(), kSum.Describe(), kEchoes.Describe(), kTimer.Describe()},
       Counter}));
  EDDY_RETURN_IF_ERROR(registry.Register({kEcho, {}, Echo}));
  EDDY_RETURN_IF_ERROR(
      registry.Register({{"example", "keyed-counter"}, {kCount.Describe()}, KeyedCounter}));
  return registry.Register({{"example", "thrower"}, {kCount.Describe()}, Thrower});
}

}  // namespace eddy::examples
