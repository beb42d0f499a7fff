#include "dispatch/shard.h"

#include "dispatch/state_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <future>
#include <set>
#include <span>

namespace eddy {

// Per function type, per shard: where it is served and which states the function registered
// (in memory only, like StateFun: after a restart the first request learns them again through
// IncompleteInvocationContext).
struct Shard::FunctionTypeState {
  FunctionType type;
  const EndpointSpec* endpoint = nullptr;  // nullptr: no endpoint serves this type
  Invoker* invoker = nullptr;
  std::optional<FunctionTypeMetrics> metrics;
  std::vector<StateSpec> specs;
  std::vector<std::string> names;  // specs' names, in registration order
  bool run_inline = false;         // the invoker has a synchronous in-process path
  bool any_after_invoke = false;   // a registered state expires after invoke
  uint64_t in_unpublished = 0;     // messages counted in `in` at the next PublishCounters

  const StateSpec* FindSpec(const std::string& name) const {
    for (const auto& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
};

// Per address: StateFun's request-state + batch. `inflight` is the batch being invoked (or
// waiting to be retried); `backlog` the messages that arrived meanwhile.
struct Shard::Mailbox {
  Address address;
  KeyGroup kg = 0;
  FunctionTypeState* type = nullptr;
  std::deque<Envelope> backlog;
  std::vector<Envelope> inflight;
  std::vector<std::optional<StoredValue>> read_values;  // state as sent with `inflight`
  size_t states_sent = 0;  // registered states attached to the request in flight
  bool busy = false;    // a request is in flight or waiting for a retry (holds a slot)
  bool queued = false;  // waiting in ready_ for a free in-flight slot
  bool blocked = false;
  int failures = 0;
  int incomplete_rounds = 0;
  std::chrono::steady_clock::time_point sent_at;
  std::unique_ptr<boost::asio::steady_timer> retry_timer;
};

namespace {

Counter& DeadLetterCounter(MetricsRegistry* metrics, const std::string& reason) {
  return metrics->GetCounter("eddy_dead_letters_total", {{"reason", reason}},
                             "Messages sent to the dead-letter sink (or dropped without one)");
}

std::string ReasonKind(const std::string& reason) {
  auto colon = reason.find(':');
  return colon == std::string::npos ? reason : reason.substr(0, colon);
}

}  // namespace

Shard::Shard(ShardDeps deps)
    : deps_(std::move(deps)), delay_timer_(io_), cleanup_timer_(io_), flush_timer_(io_) {
  state_ = deps_.state;
  if (deps_.options.state_cache_bytes > 0) {
    cache_ = std::make_unique<StateCache>(deps_.state, deps_.options.state_cache_bytes);
    state_ = cache_.get();
    if (deps_.metrics != nullptr) {
      flush_ms_ = &deps_.metrics->GetHistogram(
          "eddy_state_flush_ms", {},
          "Writes of the state cache's dirty values to RocksDB (interval, full cache, cut, "
          "drain), in milliseconds; the shard processes nothing meanwhile.");
      flushed_values_ = &deps_.metrics->GetCounter(
          "eddy_state_flushed_values_total", {}, "State values written by cache flushes.");
    }
  }
  if (!deps_.options.now_ms) {
    deps_.options.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Shard::~Shard() {
  Stop();
  // Drop pending handlers (which may refer to invokers and mailboxes) before those die.
  mailboxes_.clear();
  invokers_.clear();
}

Status Shard::Start() {
  // Invokers are created eagerly so a bad endpoint fails startup rather than the first message.
  for (const auto& endpoint : deps_.module->endpoints) {
    auto invoker = deps_.invoker_factory(io_, endpoint);
    if (!invoker.ok()) {
      return InvalidArgument(endpoint.location.file + ": document " +
                             std::to_string(endpoint.location.document) + ": endpoint " +
                             endpoint.Describe() + ": " + invoker.status().message());
    }
    invokers_[&endpoint] = std::move(invoker).value();
  }
  Status scan = state_->ScanDelayed(
      deps_.key_groups.first, deps_.key_groups.last, [this](KeyGroup kg, DelayedRecord rec) {
        next_sequence_ = std::max(next_sequence_, rec.sequence + 1);
        DelayedKey key{rec.fire_at_ms, rec.sequence, kg};
        delayed_.emplace(key, std::move(rec));
        return Status::Ok();
      });
  if (!scan.ok()) return scan;
  pending_delayed_.store(static_cast<int64_t>(delayed_.size()));
  if (!delayed_.empty()) {
    spdlog::info("shard {}: {} delayed messages restored", deps_.index, delayed_.size());
  }
  work_.emplace(io_.get_executor());
  boost::asio::post(io_, [this] { ArmDelayTimer(); });
  thread_ = std::thread([this] { io_.run(); });
  return Status::Ok();
}

void Shard::Stop() {
  if (!thread_.joinable()) return;
  boost::asio::post(io_, [this] {
    (void)FlushState();  // what was processed becomes durable (a failure is logged)
    CleanupFired();  // the worker closed its last epoch before stopping shards
    stopping_ = true;
    for (auto& [endpoint, invoker] : invokers_) invoker->Shutdown();
    delay_timer_.cancel();
    cleanup_timer_.cancel();
    flush_timer_.cancel();
    for (auto& [addr, box] : mailboxes_) {
      if (box->retry_timer) box->retry_timer->cancel();
    }
    work_.reset();
    io_.stop();
  });
  thread_.join();
}

void Shard::Enqueue(Envelope envelope) {
  inbox_.Push(std::move(envelope));
  ScheduleDrain();
}

void Shard::EnqueueBatch(std::vector<Envelope>&& envelopes) {
  if (envelopes.empty()) return;
  inbox_.PushBatch(std::move(envelopes));
  ScheduleDrain();
}

void Shard::ScheduleDrain() {
  if (!drain_scheduled_.exchange(true, std::memory_order_acq_rel)) {
    boost::asio::post(io_, [this] { DrainInbox(); });
  }
}

void Shard::DrainInbox() {
  drain_scheduled_.store(false, std::memory_order_release);
  // Bounded turns keep replies, timers and checkpoint cuts flowing while producers are busy:
  // at most 1024 envelopes and, because inline calls (embedded functions) run inside the turn
  // and may be slow, at most ~kDrainTurn of time (checked every 16 envelopes).
  constexpr auto kDrainTurn = std::chrono::milliseconds(2);
  const auto started = std::chrono::steady_clock::now();
  bool empty = false;
  const bool prefetch = cache_ != nullptr && cache_->WorthPrefetching();
  for (int i = 0; i < 1024; ++i) {
    if (i % 16 == 15 && std::chrono::steady_clock::now() - started > kDrainTurn) break;
    if (prefetch && hint_next_ == hint_count_) PrefetchUpcoming();
    auto envelope = inbox_.Pop();
    if (!envelope) {
      empty = true;  // a producer's ScheduleDrain brings the next turn
      break;
    }
    const uint64_t* hint = hint_next_ < hint_count_ ? &hints_[hint_next_++] : nullptr;
    if (stopping_) continue;
    Deliver(std::move(*envelope), hint);
  }
  // Hints describe the next Pops of this turn only (a cut between turns pops the inbox too).
  hint_next_ = hint_count_ = 0;
  PublishCounters();
  if (!empty) ScheduleDrain();
}

// Two dependent cache misses per lookup at 1,000,000 addresses (table slot, then entry): the
// slots of the next few envelopes are requested first, then their entries, so the misses overlap
// instead of stalling one message at a time.
void Shard::PrefetchUpcoming() {
  std::span<const Envelope> next = inbox_.PeekBatch();
  hint_next_ = 0;
  hint_count_ = std::min(next.size(), kPrefetch);
  for (size_t i = 0; i < hint_count_; ++i) {
    hints_[i] = StateCache::HashOf(next[i].target);
    cache_->PrefetchSlot(hints_[i]);
  }
  for (size_t i = 0; i < hint_count_; ++i) cache_->PrefetchEntry(hints_[i]);
}

void Shard::PublishCounters() {
  for (auto& [type, state] : types_) {
    if (state->in_unpublished == 0) continue;
    state->metrics->in.Inc(state->in_unpublished);
    state->in_unpublished = 0;
  }
}

Shard::FunctionTypeState* Shard::TypeState(const FunctionType& type) {
  auto it = types_.find(type);
  if (it != types_.end()) return it->second->endpoint ? it->second.get() : nullptr;
  auto state = std::make_unique<FunctionTypeState>();
  state->type = type;
  state->endpoint = deps_.module->FindEndpoint(type);
  if (state->endpoint) {
    state->invoker = invokers_.at(state->endpoint).get();
    state->metrics.emplace(FunctionTypeMetrics::Register(*deps_.metrics, type.ns, type.name));
    state->run_inline = state->invoker->SupportsInline();
  }
  FunctionTypeState* out = state->endpoint ? state.get() : nullptr;
  types_.emplace(type, std::move(state));
  return out;
}

void Shard::Deliver(Envelope env, const uint64_t* hash) {
  FunctionTypeState* type = TypeState(env.target.type);
  if (type == nullptr) {
    DeadLetterEnvelope(env, "unknown-function-type");
    ReleaseEnvelope(env);
    return;
  }
  type->in_unpublished++;
  // An idle address (no mailbox) of an in-process function runs at once: no mailbox, no posted
  // handler. Only with a free in-flight slot, so the max_inflight_requests order is kept.
  if (type->run_inline && inflight_requests_ < deps_.options.max_inflight_requests &&
      ready_.empty() && (mailboxes_.empty() || !mailboxes_.contains(env.target))) {
    if (TryRunInline(*type, env, hash)) return;
  }
  Mailbox& box = MailboxFor(env.target, type);
  if (!box.busy && !box.queued) {
    if (inflight_requests_ < deps_.options.max_inflight_requests) {
      box.inflight.push_back(std::move(env));
      StartRequest(box);
      return;
    }
    box.queued = true;  // like statefun.async.max-per-task: wait for a free slot
    ready_.push_back(box.address);
  }
  box.backlog.push_back(std::move(env));
  type->metrics->num_backlog.Add(1);
  int limit = type->endpoint->max_num_batch_requests;
  if (limit > 0 && box.backlog.size() >= static_cast<size_t>(limit)) SetBlocked(box, true);
}

Shard::Mailbox& Shard::MailboxFor(const Address& address, FunctionTypeState* type,
                                  std::optional<KeyGroup> kg) {
  auto& slot = mailboxes_[address];
  if (!slot) {
    if (spare_mailboxes_.empty()) {
      slot = std::make_unique<Mailbox>();
    } else {
      slot = std::move(spare_mailboxes_.back());
      spare_mailboxes_.pop_back();
    }
    slot->address = address;
    slot->kg = kg ? *kg : KeyGroupOf(address.id, deps_.max_parallelism);
    slot->type = type;
  }
  return *slot;
}

namespace {
// A request's state value from what the store holds (nullptr: absent). Overwrites `sv` in place,
// so a reused batch keeps its strings' capacity.
void FillState(StateValue& sv, const StateSpec& spec, const StoredValue* stored) {
  sv.name = spec.name;
  if (stored == nullptr) {
    sv.value.reset();
    return;
  }
  if (!sv.value) sv.value.emplace();
  sv.value->type_name = spec.type_name.empty() ? types::kUnset : std::string_view(spec.type_name);
  sv.value->has_value = true;
  sv.value->value = stored->value;
}
}  // namespace

// The inline path: a batch of one, built in a reused scratch batch (the envelope's argument and
// caller are swapped in and back, so nothing is copied or allocated for them). A call that ran
// but failed, asked for missing states or whose reply was refused continues as an ordinary busy
// mailbox holding the envelope, exactly as if it had been sent through Invoke.
bool Shard::TryRunInline(FunctionTypeState& type, Envelope& env, const uint64_t* hash) {
  const KeyGroup kg = KeyGroupOf(env.target.id, deps_.max_parallelism);
  // With the cache, values are read in place (no copies); states that expire after invoke need
  // the values again after the call, so those types read copies.
  std::vector<std::optional<StoredValue>> read;
  if (cache_ != nullptr && !type.any_after_invoke) {
    if (!cache_->ReadRefs(kg, env.target, type.names, deps_.options.now_ms, &read_refs_, hash)
             .ok()) {
      return false;
    }
  } else {
    auto values = state_->ReadValues(kg, env.target, type.names, Now());
    if (!values.ok()) return false;  // the mailbox path reports and retries it
    read = std::move(values).value();
    read_refs_.assign(read.size(), nullptr);
    for (size_t i = 0; i < read.size(); ++i) {
      if (read[i]) read_refs_[i] = &*read[i];
    }
  }
  const size_t states_sent = type.specs.size();

  InvocationBatch& batch = scratch_;
  batch.target = env.target;
  batch.states.resize(states_sent);
  for (size_t i = 0; i < states_sent; ++i) FillState(batch.states[i], type.specs[i], read_refs_[i]);
  batch.invocations.resize(1);
  Invocation& invocation = batch.invocations[0];
  std::swap(invocation.caller, env.caller);
  std::swap(invocation.argument, env.argument);
  std::chrono::nanoseconds took{0};
  Result<FunctionReply> reply = type.invoker->InvokeInline(batch, &took);
  type.metrics->remote_invocation_latency.Observe(
      std::chrono::duration<double, std::milli>(took).count());
  std::swap(invocation.caller, env.caller);
  std::swap(invocation.argument, env.argument);

  Status applied = Status::Ok();
  if (reply.ok()) {
    if (auto* response = std::get_if<InvocationResponse>(&reply.value())) {
      applied = ApplyResponse(type, env.target, kg, env.epoch, read, *response);
      if (applied.ok()) {
        CompleteMessages(&env, 1);
        return true;
      }
    }
  }
  Mailbox& box = MailboxFor(env.target, &type, kg);
  box.read_values = std::move(read);
  box.states_sent = states_sent;
  box.inflight.push_back(std::move(env));
  box.busy = true;
  ++inflight_requests_;
  if (!applied.ok()) {
    OnFailure(box, applied);
  } else {
    HandleReply(box, std::move(reply));
  }
  return true;
}

void Shard::StartRequest(Mailbox& box) {
  box.busy = true;
  ++inflight_requests_;
  SendBatch(box);
}

void Shard::SendBatch(Mailbox& box) {
  FunctionTypeState& type = *box.type;
  auto values = state_->ReadValues(box.kg, box.address, type.names, Now());
  if (!values.ok()) {
    OnFailure(box, values.status());
    return;
  }
  box.read_values = std::move(values).value();
  box.states_sent = type.specs.size();

  InvocationBatch batch;
  batch.target = box.address;
  batch.states.resize(type.specs.size());
  for (size_t i = 0; i < type.specs.size(); ++i) {
    const auto& read = box.read_values[i];
    FillState(batch.states[i], type.specs[i], read ? &*read : nullptr);
  }
  batch.invocations.reserve(box.inflight.size());
  for (const auto& env : box.inflight) batch.invocations.push_back({env.caller, env.argument});

  type.metrics->inflight_async_ops.Add(1);
  box.sent_at = std::chrono::steady_clock::now();
  Mailbox* box_ptr = &box;  // stable: a busy mailbox is never erased
  type.invoker->Invoke(std::move(batch), [this, box_ptr](Result<FunctionReply> reply) {
    OnReply(*box_ptr, std::move(reply));
  });
}

void Shard::OnReply(Mailbox& box, Result<FunctionReply> reply) {
  FunctionTypeMetrics& m = *box.type->metrics;
  m.inflight_async_ops.Add(-1);
  m.remote_invocation_latency.Observe(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - box.sent_at)
          .count());
  if (stopping_) return;
  HandleReply(box, std::move(reply));
}

void Shard::HandleReply(Mailbox& box, Result<FunctionReply> reply) {
  if (!reply.ok()) {
    OnFailure(box, reply.status());
    return;
  }
  if (auto* incomplete = std::get_if<IncompleteContext>(&reply.value())) {
    Status st = RegisterMissing(*box.type, box.states_sent, incomplete->missing_values);
    if (!st.ok()) {
      OnFailure(box, st);
      return;
    }
    SendBatch(box);  // the same invocations again, now with the registered states attached
    return;
  }
  box.incomplete_rounds = 0;
  uint64_t epoch = box.inflight.front().epoch;
  for (const auto& env : box.inflight) epoch = std::min(epoch, env.epoch);
  Status st = ApplyResponse(*box.type, box.address, box.kg, epoch, box.read_values,
                            std::get<InvocationResponse>(reply.value()));
  if (!st.ok()) {
    OnFailure(box, st);
    return;
  }
  if (box.failures > 0) {
    spdlog::info("{}: function recovered after {} failed attempts", box.address.ToString(),
                 box.failures);
  }
  box.failures = 0;
  FinishInflight(box);
  ContinueOrRetire(box);
}

Status Shard::RegisterMissing(FunctionTypeState& type, size_t states_sent,
                              const std::vector<StateSpec>& missing) {
  // Specs only grow, so the first `states_sent` specs are exactly what the request carried. A
  // reply asking only for states it was given means the function is broken; asking for states
  // another address registered meanwhile (concurrent first requests) is normal.
  bool progress = false;
  for (const auto& spec : missing) {
    if (spec.name.empty()) return InvalidArgument("function asked for a state with an empty name");
    if (const StateSpec* known = type.FindSpec(spec.name)) {
      // Like StateFun: a known state only gets a type check; its TTL cannot change while running.
      std::string want = spec.type_name.empty() ? std::string(types::kUnset) : spec.type_name;
      std::string have = known->type_name.empty() ? std::string(types::kUnset) : known->type_name;
      if (want != have) {
        return InvalidArgument("state '" + spec.name + "' is registered with type " + have +
                               " but the function now declares " + want);
      }
      size_t index = static_cast<size_t>(known - type.specs.data());
      if (index >= states_sent) progress = true;
      continue;
    }
    type.specs.push_back(spec);
    type.names.push_back(spec.name);
    type.any_after_invoke = type.any_after_invoke || spec.expire_mode == ExpireMode::kAfterInvoke;
    progress = true;
  }
  if (!progress) {
    return InvalidArgument(
        "function reported missing states that were all sent with the request; "
        "check the function's state declarations");
  }
  return Status::Ok();
}

Status Shard::ApplyResponse(FunctionTypeState& type, const Address& self, KeyGroup kg,
                            uint64_t epoch,
                            const std::vector<std::optional<StoredValue>>& read_values,
                            InvocationResponse& response) {

  // Validate everything first, so a bad reply has no effect at all (it is then handled like a
  // failed call).
  for (const auto& m : response.state_mutations) {
    const StateSpec* spec = type.FindSpec(m.name);
    if (spec == nullptr) {
      return InvalidArgument("mutation of unregistered state '" + m.name + "'");
    }
    if (m.kind == StateMutation::Kind::kModify) {
      std::string_view want =
          spec->type_name.empty() ? types::kUnset : std::string_view(spec->type_name);
      if (m.value.type_name != want) {
        return InvalidArgument("state '" + m.name + "' is registered as " + std::string(want) +
                               " but the function wrote type " + m.value.type_name);
      }
    }
  }
  auto valid_address = [](const Address& a) {
    return !a.type.ns.empty() && !a.type.name.empty() && !a.id.empty();
  };
  for (const auto& msg : response.outgoing_messages) {
    if (!valid_address(msg.target)) {
      return InvalidArgument("outgoing message with incomplete target address '" +
                             msg.target.ToString() + "'");
    }
  }
  for (const auto& d : response.delayed_messages) {
    if (d.is_cancellation) {
      if (d.cancellation_token.empty()) {
        return InvalidArgument("delayed-message cancellation with an empty token");
      }
      continue;
    }
    if (d.delay_ms < 0) return InvalidArgument("negative delay_in_ms");
    if (!valid_address(d.target)) {
      return InvalidArgument("delayed message with incomplete target address '" +
                             d.target.ToString() + "'");
    }
  }
  for (const auto& e : response.egress_messages) {
    auto it = deps_.egresses->find(e.egress_namespace + "/" + e.egress_type);
    if (it == deps_.egresses->end()) {
      return InvalidArgument("unknown egress '" + e.egress_namespace + "/" + e.egress_type + "'");
    }
    Status valid = it->second->Validate(e.argument);
    if (!valid.ok()) {
      return InvalidArgument("egress '" + e.egress_namespace + "/" + e.egress_type +
                             "' refused the record: " + valid.message());
    }
  }

  // The clock is read only when something needs it (delayed messages, TTLs): most replies do not.
  int64_t now_cached = -1;
  auto now = [&]() {
    if (now_cached < 0) now_cached = Now();
    return now_cached;
  };

  // Without delayed-message changes, value changes go straight into the write-back cache (what
  // its Commit would do with them) instead of through a batch; nothing after this can fail, so
  // the reply's strings are moved, not copied.
  const bool direct = cache_ != nullptr && response.delayed_messages.empty();
  std::unique_ptr<StateWriteBatch> batch;
  auto writes = [&]() -> StateWriteBatch& {
    if (!batch) batch = state_->NewWriteBatch();
    return *batch;
  };

  // 1. Delayed messages and cancellations, checked against what is pending (including this
  //    reply's own earlier entries, in order).
  std::map<std::string, DelayedKey> added_here;
  std::vector<DelayedKey> cancelled;
  std::vector<std::pair<DelayedKey, DelayedRecord>> added;
  for (const auto& d : response.delayed_messages) {
    if (d.is_cancellation) {
      if (auto it = added_here.find(d.cancellation_token); it != added_here.end()) {
        std::erase_if(added, [&](const auto& p) { return p.first == it->second; });
        added_here.erase(it);
        continue;
      }
      auto found = state_->FindDelayedByToken(kg, self, d.cancellation_token);
      if (!found.ok()) return found.status();
      if (found.value()) {  // unknown or already fired: best effort, nothing to do
        const DelayedRecord& rec = *found.value();
        writes().DeleteDelayed(kg, rec);
        cancelled.push_back({rec.fire_at_ms, rec.sequence, kg});
      }
      continue;
    }
    DelayedRecord rec{self, d.target, d.argument, d.cancellation_token, now() + d.delay_ms,
                      next_sequence_++};
    if (!rec.cancellation_token.empty()) {
      if (added_here.count(rec.cancellation_token)) {
        return InvalidArgument("cancellation token '" + rec.cancellation_token +
                               "' used twice in one reply");
      }
      auto found = state_->FindDelayedByToken(kg, self, rec.cancellation_token);
      if (!found.ok()) return found.status();
      bool pending = found.value().has_value();
      if (pending) {
        DelayedKey k{found.value()->fire_at_ms, found.value()->sequence, kg};
        pending = std::find(cancelled.begin(), cancelled.end(), k) == cancelled.end();
      }
      if (pending) {
        return InvalidArgument("cancellation token '" + rec.cancellation_token +
                               "' is still in use by a pending delayed message of " +
                               self.ToString());
      }
      added_here[rec.cancellation_token] = {rec.fire_at_ms, rec.sequence, kg};
    }
    added.emplace_back(DelayedKey{rec.fire_at_ms, rec.sequence, kg}, std::move(rec));
  }
  for (const auto& [key, rec] : added) writes().PutDelayed(kg, rec);

  // 2. State mutations, then TTL refresh of states that expire after invoke.
  const bool any_after_invoke = type.any_after_invoke;
  std::set<std::string> mutated;  // only needed for the after-invoke refresh
  for (auto& m : response.state_mutations) {
    if (any_after_invoke) mutated.insert(m.name);
    if (m.kind == StateMutation::Kind::kDelete) {
      if (direct) {
        cache_->Put(kg, self, m.name, std::nullopt);
      } else {
        writes().DeleteValue(kg, self, m.name);
      }
      continue;
    }
    const StateSpec* spec = type.FindSpec(m.name);
    const int64_t expires =
        spec->expire_mode == ExpireMode::kNone ? 0 : now() + spec->expire_after_ms;
    if (direct) {
      cache_->Put(kg, self, m.name,
                  StoredValue{std::move(m.value.type_name), std::move(m.value.value), expires});
    } else {
      writes().PutValue(kg, self, m.name, StoredValue{m.value.type_name, m.value.value, expires});
    }
  }
  for (size_t i = 0; any_after_invoke && i < type.specs.size() && i < read_values.size();
       ++i) {
    const StateSpec& spec = type.specs[i];
    if (spec.expire_mode != ExpireMode::kAfterInvoke || !read_values[i]) continue;
    if (mutated.count(spec.name)) continue;
    StoredValue v = *read_values[i];
    v.expires_at_ms = now() + spec.expire_after_ms;
    if (direct) {
      cache_->Put(kg, self, spec.name, std::move(v));
    } else {
      writes().PutValue(kg, self, spec.name, v);
    }
  }
  if (direct) cache_->EvictIfNeeded();
  if (batch && !batch->empty()) {
    Status st = state_->Commit(*batch);
    if (!st.ok()) return st;  // nothing was sent yet, so the batch can be retried as a whole
  }
  for (const auto& key : cancelled) {
    if (delayed_.erase(key)) pending_delayed_.fetch_sub(1, std::memory_order_relaxed);
  }
  for (auto& [key, rec] : added) {
    delayed_.emplace(key, std::move(rec));
    pending_delayed_.fetch_add(1, std::memory_order_relaxed);
  }
  if (!added.empty() || !cancelled.empty()) ArmDelayTimer();

  // 3. Messages and egress records, counted on the batch's lowest epoch before the batch
  //    releases its own counts (see ProgressTracker).
  size_t n = response.outgoing_messages.size();
  if (n > 0) {
    deps_.progress->Acquire(epoch, static_cast<int64_t>(n));
    deps_.flow->Add(static_cast<int64_t>(n));
    type.metrics->out_local.Inc(n);
    for (auto& msg : response.outgoing_messages) {  // nothing reads the reply after this
      deps_.router->Route(Envelope{std::move(msg.target), self, std::move(msg.argument), epoch});
    }
  }
  for (const auto& e : response.egress_messages) {
    Egress* egress = deps_.egresses->at(e.egress_namespace + "/" + e.egress_type);
    Status st = egress->Send(e.argument, epoch);
    if (!st.ok()) {
      spdlog::error("{}: egress {}/{} refused a record: {}", self.ToString(), e.egress_namespace,
                    e.egress_type, st.ToString());
      continue;
    }
    type.metrics->out_egress.Inc();
  }
  return Status::Ok();
}

void Shard::OnFailure(Mailbox& box, const Status& status) {
  box.type->metrics->remote_invocation_failures.Inc();
  box.failures++;
  if (deps_.options.failure_policy == "dead-letter") {
    spdlog::warn("{}: batch of {} failed ({}); sending it to the dead-letter sink",
                 box.address.ToString(), box.inflight.size(), status.ToString());
    for (const auto& env : box.inflight) DeadLetterEnvelope(env, "function-failed: " + status.message());
    box.failures = 0;
    FinishInflight(box);
    ContinueOrRetire(box);
    return;
  }
  auto backoff = deps_.options.retry_backoff_initial * (1LL << std::min(box.failures - 1, 20));
  backoff = std::min<std::chrono::milliseconds>(backoff, deps_.options.retry_backoff_max);
  if (box.failures == 1 || box.failures % 10 == 0) {
    spdlog::warn("{}: batch of {} failed (attempt {}): {}; keeping its messages, retrying in {} ms",
                 box.address.ToString(), box.inflight.size(), box.failures, status.ToString(),
                 backoff.count());
  }
  SetBlocked(box, true);
  // The address keeps its batch (and stays busy) but gives its in-flight slot to others while
  // it waits, so failing addresses cannot starve healthy ones.
  --inflight_requests_;
  if (!box.retry_timer) box.retry_timer = std::make_unique<boost::asio::steady_timer>(io_);
  box.retry_timer->expires_after(backoff);
  Mailbox* box_ptr = &box;
  box.retry_timer->async_wait([this, box_ptr](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    if (inflight_requests_ < deps_.options.max_inflight_requests) {
      ++inflight_requests_;
      SendBatch(*box_ptr);
    } else {
      box_ptr->queued = true;
      ready_.push_back(box_ptr->address);
    }
  });
  ServeReady();
}

void Shard::CompleteMessages(const Envelope* envs, size_t n) {
  if (cache_ && cache_->HasDirty() && deps_.options.checkpointing) {
    // With checkpoints, recovery starts from the last cut (whose state the cut flushed) and its
    // offsets, never from whatever reached RocksDB in between: the counts go at once, and the
    // cache is written at cuts, or earlier only when dirty state fills it. No interval flush:
    // a hot key is written once per checkpoint (measured at 1,000,000 keys: a 1 s interval
    // here cut throughput from 2.1 M to 0.65 M msg/s).
    for (size_t i = 0; i < n; ++i) ReleaseEnvelope(envs[i]);
    // After a failed flush only its timer retries: not a full attempt per completed message.
    if (cache_->OverCapacity() && !flow_held_by_flush_) (void)FlushState();
  } else if (cache_ && cache_->HasDirty()) {
    // The batch's effects are only in the write-back cache: its progress counts are released
    // when a flush made them durable, so ingress offsets never get ahead of durable state. Its
    // flow counts go now: what it left behind is dirty cache state, which the cache's capacity
    // bounds (holding flow until the flush capped throughput at one flush per
    // max_buffered_messages, i.e. a RocksDB write per message at 1,000,000 keys).
    for (size_t i = 0; i < n; ++i) {
      if (unflushed_.empty() || unflushed_.back().first != envs[i].epoch) {
        unflushed_.emplace_back(envs[i].epoch, 0);
      }
      unflushed_.back().second++;
    }
    deps_.flow->Add(-static_cast<int64_t>(n));
    // Runs are one per epoch change; interleaved epochs (chains crossing an epoch boundary) could
    // grow them for a whole interval, so they are bounded too. After a failed flush only its
    // timer retries: not a full attempt per completed message.
    if ((cache_->OverCapacity() || unflushed_.size() >= kMaxUnflushedRuns) &&
        !flow_held_by_flush_) {
      (void)FlushState();  // a failure is logged and retried
    } else {
      ArmFlushTimer();
    }
  } else {
    for (size_t i = 0; i < n; ++i) ReleaseEnvelope(envs[i]);
  }
}

void Shard::FinishInflight(Mailbox& box) {
  CompleteMessages(box.inflight.data(), box.inflight.size());
  box.inflight.clear();
  box.read_values.clear();
  box.busy = false;
  --inflight_requests_;
}

void Shard::ContinueOrRetire(Mailbox& box) {
  if (box.backlog.empty()) {
    SetBlocked(box, false);
    // `box` is gone from the map after this; its object is kept for reuse (a mailbox lives for
    // one burst of messages, and allocating its containers every time was measurable).
    auto it = mailboxes_.find(box.address);
    std::unique_ptr<Mailbox> spare = std::move(it->second);
    mailboxes_.erase(it);
    // Only small mailboxes are kept: one that carried a large batch would pin its vectors'
    // capacity (up to maxNumBatchRequests envelopes) for as long as it sits in the pool.
    constexpr size_t kMaxPooledCapacity = 64;
    if (spare_mailboxes_.size() < kSpareMailboxes &&
        spare->inflight.capacity() <= kMaxPooledCapacity &&
        spare->read_values.capacity() <= kMaxPooledCapacity) {
      spare->backlog.clear();
      spare->inflight.clear();
      spare->read_values.clear();
      spare->states_sent = 0;
      spare->busy = spare->queued = spare->blocked = false;
      spare->failures = spare->incomplete_rounds = 0;
      spare->retry_timer.reset();
      spare_mailboxes_.push_back(std::move(spare));
    }
  } else if (ready_.empty()) {
    TakeBacklogAndStart(box);
  } else {
    // Others are waiting for a slot: queue behind them, fairly.
    box.queued = true;
    ready_.push_back(box.address);
  }
  ServeReady();
}

void Shard::ServeReady() {
  while (inflight_requests_ < deps_.options.max_inflight_requests && !ready_.empty()) {
    auto it = mailboxes_.find(ready_.front());
    ready_.pop_front();
    if (it == mailboxes_.end()) continue;
    Mailbox& box = *it->second;
    box.queued = false;
    if (!box.inflight.empty()) {  // a batch whose retry waited for a slot
      ++inflight_requests_;
      SendBatch(box);
    } else {
      TakeBacklogAndStart(box);
    }
  }
}

void Shard::TakeBacklogAndStart(Mailbox& box) {
  int limit = box.type->endpoint->max_num_batch_requests;
  size_t take = limit > 0 ? std::min(box.backlog.size(), static_cast<size_t>(limit))
                          : box.backlog.size();
  box.inflight.reserve(take);
  for (size_t i = 0; i < take; ++i) {
    box.inflight.push_back(std::move(box.backlog.front()));
    box.backlog.pop_front();
  }
  box.type->metrics->num_backlog.Add(-static_cast<int64_t>(take));
  SetBlocked(box, limit > 0 && box.backlog.size() >= static_cast<size_t>(limit));
  StartRequest(box);
}

void Shard::SetBlocked(Mailbox& box, bool blocked) {
  if (box.blocked == blocked) return;
  box.blocked = blocked;
  box.type->metrics->num_blocked_address.Add(blocked ? 1 : -1);
}

void Shard::ReleaseEnvelope(const Envelope& env) {
  deps_.progress->Release(env.epoch);
  deps_.flow->Add(-1);
}

void Shard::DeadLetterEnvelope(const Envelope& env, const std::string& reason) {
  DeadLetterCounter(deps_.metrics, ReasonKind(reason)).Inc();
  if (deps_.dead_letter == nullptr) {
    spdlog::error("message to {} dropped ({}): no dead-letter topic is configured",
                  env.target.ToString(), reason);
    return;
  }
  DeadLetter letter{reason, env.target.ToString(), env.target.id, env.argument.value,
                    env.argument.type_name};
  Status st = deps_.dead_letter->Send(letter, env.epoch);
  if (!st.ok()) {
    // Keep a count on the epoch for good, so the ingress records behind this message are not
    // committed (they are read again after a restart) rather than silently skipped.
    deps_.progress->Acquire(env.epoch);
    spdlog::error("message to {} ({}) could not be dead-lettered: {}; its epoch stays open",
                  env.target.ToString(), reason, st.ToString());
  } else {
    spdlog::warn("message to {} sent to the dead-letter topic ({})", env.target.ToString(),
                 reason);
  }
}

void Shard::ArmDelayTimer() {
  if (stopping_ || delayed_.empty()) return;
  int64_t first = delayed_.begin()->first.fire_at_ms;
  if (delay_timer_at_ != 0 && delay_timer_at_ <= first) return;  // already armed early enough
  delay_timer_at_ = first;
  delay_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(0, first - Now())));
  delay_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: whoever cancelled re-arms
    delay_timer_at_ = 0;
    FireDueDelayed();
  });
}

// A fired message is routed at once, but its record stays in RocksDB (rewritten without its
// token, which is free again) until the message's epoch is complete, i.e. the message and all
// it caused are processed. A crash before then fires it again after restart: at-least-once,
// like ingress records.
void Shard::FireDueDelayed() {
  if (stopping_) return;
  const int64_t now = Now();
  auto batch = state_->NewWriteBatch();
  std::vector<std::pair<DelayedKey, DelayedRecord>> due;
  for (auto it = delayed_.begin();
       it != delayed_.end() && it->first.fire_at_ms <= now && due.size() < 4096; ++it) {
    DelayedRecord kept = it->second;
    if (deps_.options.checkpointing) {
      batch->DeleteDelayed(it->first.kg, kept);  // the checkpoint captures the envelope instead
    } else if (!kept.cancellation_token.empty()) {
      batch->DeleteDelayed(it->first.kg, kept);  // record and token index
      kept.cancellation_token.clear();
      batch->PutDelayed(it->first.kg, kept);     // the record again, without a token
    }
    due.emplace_back(it->first, std::move(kept));
  }
  if (!due.empty()) {
    if (!batch->empty()) {
      Status st = state_->Commit(*batch);
      if (!st.ok()) {
        // Nothing routed: the messages stay pending and are tried again shortly.
        spdlog::error("shard {}: firing delayed messages: {}", deps_.index, st.ToString());
        delay_timer_at_ = 0;
        delay_timer_.expires_after(std::chrono::milliseconds(100));
        delay_timer_.async_wait([this](const boost::system::error_code& ec) {
          if (!ec) FireDueDelayed();
        });
        return;
      }
    }
    pending_delayed_.fetch_sub(static_cast<int64_t>(due.size()), std::memory_order_relaxed);
    for (auto& [key, rec] : due) {
      delayed_.erase(key);
      uint64_t epoch = deps_.progress->Pin(1);
      deps_.flow->Add(1);
      deps_.router->Route(Envelope{rec.target, rec.sender, rec.argument, epoch});
      if (!deps_.options.checkpointing) fired_.push_back({epoch, key, std::move(rec)});
    }
    ScheduleFiredCleanup();
  }
  ArmDelayTimer();
}

void Shard::ScheduleFiredCleanup() {
  if (cleanup_armed_ || fired_.empty() || stopping_) return;
  cleanup_armed_ = true;
  cleanup_timer_.expires_after(std::chrono::milliseconds(200));
  cleanup_timer_.async_wait([this](const boost::system::error_code& ec) {
    cleanup_armed_ = false;
    if (ec) return;
    CleanupFired();
    ScheduleFiredCleanup();
  });
}

void Shard::CleanupFired() {
  int64_t complete = deps_.progress->CompletedThrough();
  auto batch = state_->NewWriteBatch();
  size_t n = 0;
  // Epochs from Pin never decrease, so fired_ is ordered by epoch.
  while (n < fired_.size() && static_cast<int64_t>(fired_[n].epoch) <= complete) {
    batch->DeleteDelayed(fired_[n].key.kg, fired_[n].record);
    ++n;
  }
  if (n == 0) return;
  Status st = state_->Commit(*batch);
  if (!st.ok()) {
    spdlog::warn("shard {}: removing processed delayed messages: {} (retrying)", deps_.index,
                 st.ToString());
    return;
  }
  fired_.erase(fired_.begin(), fired_.begin() + static_cast<std::ptrdiff_t>(n));
}
void Shard::ArmFlushTimer() {
  if (flush_armed_ || stopping_) return;
  flush_armed_ = true;
  flush_timer_.expires_after(deps_.options.state_flush_interval);
  flush_timer_.async_wait([this](const boost::system::error_code& ec) {
    flush_armed_ = false;
    if (!ec) (void)FlushState();  // a failure is logged and retried
  });
}

Status Shard::FlushState() {
  if (!cache_) return Status::Ok();
  const bool had_dirty = cache_->HasDirty();
  const auto started = std::chrono::steady_clock::now();
  size_t written = 0;
  Status st = cache_->Flush(&written);
  if (flush_ms_ != nullptr && had_dirty) {
    flush_ms_->Observe(std::chrono::duration<double, std::milli>(
                           std::chrono::steady_clock::now() - started)
                           .count());
    flushed_values_->Inc(written);
  }
  if (!st.ok()) {
    // Nothing released: the counts hold the offsets back until a flush succeeds, and the hold
    // stops ingestion meanwhile.
    spdlog::error("shard {}: writing state: {} (retrying)", deps_.index, st.ToString());
    if (!flow_held_by_flush_) {
      flow_held_by_flush_ = true;
      deps_.flow->Hold(1);
    }
    ArmFlushTimer();
    return st;
  }
  if (flow_held_by_flush_) {
    flow_held_by_flush_ = false;
    deps_.flow->Hold(-1);
  }
  for (const auto& [epoch, count] : unflushed_) deps_.progress->Release(epoch, count);
  unflushed_.clear();
  return Status::Ok();
}

Status Shard::FlushNow() {
  if (!thread_.joinable()) return Status::Ok();
  std::promise<Status> done;
  std::future<Status> result = done.get_future();
  boost::asio::post(io_, [this, &done] { done.set_value(FlushState()); });
  return result.get();
}


// ---- Checkpoint cut ----

bool CutBarrier::WaitAllStopped(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stopped_ >= shards_; });
}

bool CutBarrier::WaitAllCaptured(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return captured_ >= shards_; });
}

void CutBarrier::ArriveStopped() {
  std::lock_guard lock(mu_);
  ++stopped_;
  cv_.notify_all();
}

void CutBarrier::ArriveCaptured() {
  std::lock_guard lock(mu_);
  ++captured_;
  cv_.notify_all();
}

CutBarrier::Phase CutBarrier::WaitFor(Phase phase) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return phase_ >= phase; });
  return phase_;
}

void CutBarrier::SetPhase(Phase phase) {
  std::lock_guard lock(mu_);
  if (phase > phase_) phase_ = phase;
  cv_.notify_all();
}

void Shard::Cut(std::shared_ptr<CutBarrier> barrier, ShardCut* out) {
  boost::asio::post(io_, [this, barrier = std::move(barrier), out] { RunCut(barrier, out); });
}

// Runs as its own handler, so the shard is between two handlers: no reply is half applied, no
// batch half built. While it blocks, nothing else of this shard runs (timers and replies queue
// up in the io_context), so the shard pushes nothing into any inbox.
void Shard::RunCut(const std::shared_ptr<CutBarrier>& barrier, ShardCut* out) {
  barrier->ArriveStopped();
  if (barrier->WaitFor(CutBarrier::Phase::kCapture) != CutBarrier::Phase::kCapture) {
    return;  // the agent gave up before every shard stopped: nothing to capture
  }
  // Every shard is stopped and the ingresses are paused, so no producer can push any more:
  // what the inbox holds now is exactly this shard's share of the channels' state.
  std::vector<Envelope> held;
  while (auto env = inbox_.Pop()) held.push_back(std::move(*env));
  if (Status st = FlushState(); !st.ok()) {
    out->status = Unavailable("shard " + std::to_string(deps_.index) +
                              ": the state cache could not be flushed: " + st.message());
  }
  for (const auto& [address, box] : mailboxes_) {
    for (const Envelope& env : box->inflight) out->in_flight.push_back(env);
    for (const Envelope& env : box->backlog) out->backlog.push_back(env);
  }
  out->inbox = held;
  barrier->ArriveCaptured();
  barrier->WaitFor(CutBarrier::Phase::kReleased);
  // Delivered in the order they were pushed, before anything pushed after the pause.
  for (Envelope& env : held) {
    if (stopping_) {
      continue;
    }
    Deliver(std::move(env));
  }
  PublishCounters();
}

}  // namespace eddy
