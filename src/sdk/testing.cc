// TestRuntime: an in-memory stand-in for the worker. It builds each batch the way the worker
// does (every declared state of the target, with or without value), runs it through RunBatch,
// validates the reply with the worker's rules and applies it: state mutations, then messages,
// delayed messages (due at now + delay; cancellations withdraw pending ones) and egress.

#include "eddy/sdk/testing.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <variant>

namespace eddy::sdk::testing {
namespace {

bool CompleteAddress(const Address& a) {
  return !a.type.ns.empty() && !a.type.name.empty() && !a.id.empty();
}

}  // namespace

Status TestRuntime::Send(const Address& target, TypedValue value, std::optional<Address> caller) {
  EDDY_RETURN_IF_ERROR(Invoke(target, std::move(value), std::move(caller)));
  return deliver_sent_ ? Run() : Status::Ok();
}

Status TestRuntime::Run(int max_steps) {
  for (int steps = 0; !queue_.empty(); ++steps) {
    if (steps >= max_steps) {
      return ResourceExhausted("still " + std::to_string(queue_.size()) +
                               " queued messages after " + std::to_string(max_steps) + " steps");
    }
    SentMessage next = std::move(queue_.front());
    queue_.pop_front();
    EDDY_RETURN_IF_ERROR(
        Invoke(next.message.target, std::move(next.message.argument), std::move(next.from)));
  }
  return Status::Ok();
}

Status TestRuntime::AdvanceTime(std::chrono::milliseconds by) {
  if (by.count() < 0) return InvalidArgument("AdvanceTime with a negative duration");
  const int64_t until = now_ms_ + by.count();
  for (;;) {
    // Earliest due first; among equal due times, the one sent first.
    auto next = std::min_element(delayed_.begin(), delayed_.end(),
                                 [](const SentDelayed& a, const SentDelayed& b) {
                                   return a.due_ms < b.due_ms;
                                 });
    if (next == delayed_.end() || next->due_ms > until) break;
    SentDelayed fired = std::move(*next);
    delayed_.erase(next);
    now_ms_ = std::max(now_ms_, fired.due_ms);
    // As in StateFun, the caller of a delayed message is its sender.
    EDDY_RETURN_IF_ERROR(Invoke(fired.message.target, std::move(fired.message.argument),
                                std::move(fired.from)));
    if (deliver_sent_) EDDY_RETURN_IF_ERROR(Run());
  }
  now_ms_ = until;
  return Status::Ok();
}

std::optional<TypedValue> TestRuntime::RawState(const Address& address,
                                                const std::string& name) const {
  auto by_address = state_.find(address.ToString());
  if (by_address == state_.end()) return std::nullopt;
  auto it = by_address->second.find(name);
  if (it == by_address->second.end()) return std::nullopt;
  return it->second;
}

void TestRuntime::ClearRecorded() {
  sent_.clear();
  egress_.clear();
}

Status TestRuntime::Invoke(const Address& target, TypedValue value,
                           std::optional<Address> caller) {
  const FunctionSpec* spec = registry_.Find(target.type);
  if (spec == nullptr) return NotFound("unknown function type " + target.type.ToString());
  const std::string key = target.ToString();

  InvocationBatch batch;
  batch.target = target;
  batch.states.reserve(spec->states.size());
  auto stored = state_.find(key);
  for (const StateSpec& declared : spec->states) {
    StateValue& sent = batch.states.emplace_back();
    sent.name = declared.name;
    if (stored == state_.end()) continue;
    if (auto it = stored->second.find(declared.name); it != stored->second.end()) {
      sent.value = it->second;
    }
  }
  batch.invocations.push_back({std::move(caller), std::move(value)});

  Result<FunctionReply> reply = RunBatch(*spec, batch);
  if (!reply.ok()) return reply.status();
  if (std::holds_alternative<IncompleteContext>(*reply)) {
    return Internal("function " + spec->type.ToString() +
                    " reported missing states although every declared state was sent");
  }
  InvocationResponse& response = std::get<InvocationResponse>(*reply);

  // Validate everything before applying anything, like the worker: a bad reply has no effect.
  for (const StateMutation& m : response.state_mutations) {
    auto declared = std::find_if(spec->states.begin(), spec->states.end(),
                                 [&](const StateSpec& s) { return s.name == m.name; });
    if (declared == spec->states.end()) {
      return InvalidArgument("mutation of unregistered state '" + m.name + "'");
    }
    if (m.kind == StateMutation::Kind::kModify && m.value.type_name != declared->type_name) {
      return InvalidArgument("state '" + m.name + "' is registered as " + declared->type_name +
                             " but the function wrote type " + m.value.type_name);
    }
  }
  for (const OutgoingMessage& m : response.outgoing_messages) {
    if (!CompleteAddress(m.target)) {
      return InvalidArgument("outgoing message with incomplete target address '" +
                             m.target.ToString() + "'");
    }
  }
  // Tokens pending for this sender after each step of the reply, to refuse re-use as StateFun
  // does (a token can be re-used once its message fired or was cancelled).
  std::set<std::string> pending_tokens;
  for (const SentDelayed& d : delayed_) {
    if (d.from == target && !d.message.cancellation_token.empty()) {
      pending_tokens.insert(d.message.cancellation_token);
    }
  }
  for (const DelayedMessage& d : response.delayed_messages) {
    if (d.is_cancellation) {
      if (d.cancellation_token.empty()) {
        return InvalidArgument("delayed-message cancellation with an empty token");
      }
      pending_tokens.erase(d.cancellation_token);
      continue;
    }
    if (d.delay_ms < 0) return InvalidArgument("negative delay_in_ms");
    if (!CompleteAddress(d.target)) {
      return InvalidArgument("delayed message with incomplete target address '" +
                             d.target.ToString() + "'");
    }
    if (!d.cancellation_token.empty() && !pending_tokens.insert(d.cancellation_token).second) {
      return InvalidArgument("cancellation token '" + d.cancellation_token +
                             "' is still in use by a pending delayed message of " + key);
    }
  }
  for (const EgressMessage& e : response.egress_messages) {
    if (e.egress_namespace.empty() || e.egress_type.empty()) {
      return InvalidArgument("egress record with an incomplete egress id '" + e.egress_namespace +
                             "/" + e.egress_type + "'");
    }
  }

  // Apply: state, then messages, delayed messages and egress in the order they were produced.
  auto& state = state_[key];
  for (StateMutation& m : response.state_mutations) {
    if (m.kind == StateMutation::Kind::kDelete) {
      state.erase(m.name);
    } else {
      state[m.name] = std::move(m.value);
    }
  }
  if (state.empty()) state_.erase(key);
  for (OutgoingMessage& m : response.outgoing_messages) {
    SentMessage sent{target, std::move(m)};
    if (deliver_sent_ && registry_.Find(sent.message.target.type) != nullptr) {
      queue_.push_back(sent);
    }
    sent_.push_back(std::move(sent));
  }
  for (DelayedMessage& d : response.delayed_messages) {
    if (d.is_cancellation) {
      // Best effort, as in StateFun: an unknown or already fired token is a no-op.
      std::erase_if(delayed_, [&](const SentDelayed& p) {
        return p.from == target && p.message.cancellation_token == d.cancellation_token;
      });
      continue;
    }
    const int64_t due = now_ms_ + d.delay_ms;
    delayed_.push_back({target, std::move(d), due});
  }
  for (EgressMessage& e : response.egress_messages) egress_.push_back({target, std::move(e)});
  return Status::Ok();
}

}  // namespace eddy::sdk::testing
