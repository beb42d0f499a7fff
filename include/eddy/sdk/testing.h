#pragma once
// A unit-test harness for functions written against eddy/sdk/function.h: an in-memory runtime
// that delivers messages, keeps state per address, and records what functions send, without a
// worker, a broker or a socket.
//
//   eddy::sdk::testing::TestRuntime rt(registry);
//   rt.Send({{"example", "counter"}, "alice"}, eddy::sdk::MakeValue(LongType(), 1));
//   EXPECT_EQ(rt.State(counter_alice, kSeen), 1);
//   EXPECT_EQ(rt.SentMessages().size(), 1);
//
// Send runs the target's function with the message (a batch of one, through RunBatch, so the
// reply is validated exactly as the worker would). Messages the function sends are recorded,
// and also delivered when `deliver_sent` is on (Run() drains them, breadth-first). Delayed
// messages are recorded and fire on AdvanceTime past their due time; cancellation works.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk::testing {

struct SentMessage {
  Address from;
  OutgoingMessage message;
};
struct SentDelayed {
  Address from;
  DelayedMessage message;
  int64_t due_ms = 0;  // the runtime's clock when it fires
};
struct SentEgress {
  Address from;
  EgressMessage message;
};

class TestRuntime {
 public:
  explicit TestRuntime(const FunctionRegistry& registry) : registry_(registry) {}

  // When true, messages sent to registered types are queued and delivered by Run().
  void set_deliver_sent(bool deliver) { deliver_sent_ = deliver; }

  // Delivers one message (from an ingress when `caller` is absent) and, with deliver_sent on,
  // everything it causes. Fails when the type is unknown or a handler throws (nothing of that
  // batch is applied, as in the worker).
  Status Send(const Address& target, TypedValue value,
              std::optional<Address> caller = std::nullopt);
  // Delivers queued messages until none is left (bounded by `max_steps`, then ResourceExhausted).
  Status Run(int max_steps = 100000);
  // Moves the clock forward, firing due delayed messages in due order.
  Status AdvanceTime(std::chrono::milliseconds by);

  std::optional<TypedValue> RawState(const Address& address, const std::string& name) const;
  template <typename T>
  std::optional<T> State(const Address& address, const ValueSpec<T>& spec) const {
    auto raw = RawState(address, spec.name);
    if (!raw || !raw->has_value) return std::nullopt;
    return spec.type.deserialize(raw->value);
  }

  const std::vector<SentMessage>& SentMessages() const { return sent_; }
  const std::vector<SentDelayed>& PendingDelayed() const { return delayed_; }
  const std::vector<SentEgress>& Egress() const { return egress_; }
  void ClearRecorded();

  int64_t NowMs() const { return now_ms_; }

 private:
  Status Invoke(const Address& target, TypedValue value, std::optional<Address> caller);

  const FunctionRegistry& registry_;
  bool deliver_sent_ = false;
  int64_t now_ms_ = 0;
  std::map<std::string, std::map<std::string, TypedValue>> state_;  // address -> name -> value
  std::deque<SentMessage> queue_;
  std::vector<SentMessage> sent_;
  std::vector<SentDelayed> delayed_;
  std::vector<SentEgress> egress_;
};

}  // namespace eddy::sdk::testing
