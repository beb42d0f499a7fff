#include "fakes/function_sdk.h"

#include <algorithm>
#include <utility>

#include "statefun/sdk/egress.pb.h"
#include "statefun/sdk/types.pb.h"

namespace eddy::fakes {
namespace {

namespace types = io::statefun::sdk::types;

template <typename Wrapper, typename T>
reqreply::TypedValue Wrap(std::string_view type_name, T v) {
  Wrapper w;
  w.set_value(v);
  reqreply::TypedValue out;
  out.set_typename_(std::string(type_name));
  out.set_has_value(true);
  out.set_value(w.SerializeAsString());
  return out;
}

template <typename Wrapper>
std::optional<Wrapper> Unwrap(const reqreply::TypedValue& v, std::string_view type_name) {
  if (!v.has_value() || v.typename_() != type_name) return std::nullopt;
  Wrapper w;
  if (!w.ParseFromString(v.value())) return std::nullopt;
  return w;
}

}  // namespace

reqreply::TypedValue BoolValue(bool v) { return Wrap<types::BooleanWrapper>(kBoolType, v); }
reqreply::TypedValue IntValue(int32_t v) { return Wrap<types::IntWrapper>(kIntType, v); }
reqreply::TypedValue LongValue(int64_t v) { return Wrap<types::LongWrapper>(kLongType, v); }
reqreply::TypedValue StringValue(std::string_view v) {
  return Wrap<types::StringWrapper>(kStringType, std::string(v));
}

reqreply::TypedValue CustomValue(std::string_view type_name, std::string_view value) {
  reqreply::TypedValue out;
  out.set_typename_(std::string(type_name));
  out.set_has_value(true);
  out.set_value(std::string(value));
  return out;
}

std::optional<bool> DecodeBool(const reqreply::TypedValue& v) {
  auto w = Unwrap<types::BooleanWrapper>(v, kBoolType);
  return w ? std::optional<bool>(w->value()) : std::nullopt;
}
std::optional<int32_t> DecodeInt(const reqreply::TypedValue& v) {
  auto w = Unwrap<types::IntWrapper>(v, kIntType);
  return w ? std::optional<int32_t>(w->value()) : std::nullopt;
}
std::optional<int64_t> DecodeLong(const reqreply::TypedValue& v) {
  auto w = Unwrap<types::LongWrapper>(v, kLongType);
  return w ? std::optional<int64_t>(w->value()) : std::nullopt;
}
std::optional<std::string> DecodeString(const reqreply::TypedValue& v) {
  auto w = Unwrap<types::StringWrapper>(v, kStringType);
  return w ? std::optional<std::string>(w->value()) : std::nullopt;
}

reqreply::Address MakeAddress(std::string_view ns, std::string_view type, std::string_view id) {
  reqreply::Address a;
  a.set_namespace_(std::string(ns));
  a.set_type(std::string(type));
  a.set_id(std::string(id));
  return a;
}

std::vector<StateSpec> MissingStates(const ToFunction& request,
                                     const std::vector<StateSpec>& declared) {
  std::vector<StateSpec> missing;
  const auto& present = request.invocation().state();
  for (const StateSpec& spec : declared) {
    bool found = std::any_of(present.begin(), present.end(),
                             [&](const auto& pv) { return pv.state_name() == spec.name; });
    if (!found) missing.push_back(spec);
  }
  return missing;
}

FromFunction IncompleteContext(const std::vector<StateSpec>& missing) {
  FromFunction out;
  auto* ctx = out.mutable_incomplete_invocation_context();
  for (const StateSpec& spec : missing) {
    auto* mv = ctx->add_missing_values();
    mv->set_state_name(spec.name);
    mv->set_type_typename(spec.type_name);
    // The Python SDK always sets expiration_spec, even for "no expiration".
    auto* exp = mv->mutable_expiration_spec();
    exp->set_mode(spec.expire_mode);
    exp->set_expire_after_millis(spec.expire_after_ms);
  }
  return out;
}

std::optional<KafkaRecord> DecodeKafkaEgress(const reqreply::TypedValue& v) {
  if (v.typename_() != kKafkaProducerRecordType) return std::nullopt;
  io::statefun::sdk::egress::KafkaProducerRecord record;
  if (!record.ParseFromString(v.value())) return std::nullopt;
  return KafkaRecord{record.topic(), record.key(), record.value_bytes()};
}

FunctionContext::FunctionContext(const ToFunction& request)
    : self_(request.invocation().target()) {
  for (const auto& pv : request.invocation().state()) {
    if (pv.has_state_value() && pv.state_value().has_value()) {
      states_[pv.state_name()] = pv.state_value();
    } else {
      states_[pv.state_name()] = std::nullopt;
    }
  }
}

bool FunctionContext::HasState(std::string_view name) const {
  return states_.find(name) != states_.end();
}

const reqreply::TypedValue* FunctionContext::GetRaw(std::string_view name) const {
  auto it = states_.find(name);
  if (it == states_.end() || !it->second) return nullptr;
  return &*it->second;
}

std::optional<int32_t> FunctionContext::GetInt(std::string_view name) const {
  const auto* v = GetRaw(name);
  return v ? DecodeInt(*v) : std::nullopt;
}
std::optional<int64_t> FunctionContext::GetLong(std::string_view name) const {
  const auto* v = GetRaw(name);
  return v ? DecodeLong(*v) : std::nullopt;
}
std::optional<std::string> FunctionContext::GetString(std::string_view name) const {
  const auto* v = GetRaw(name);
  return v ? DecodeString(*v) : std::nullopt;
}

void FunctionContext::Set(std::string_view name, reqreply::TypedValue value) {
  std::string key(name);
  states_[key] = std::move(value);
  if (std::find(dirty_.begin(), dirty_.end(), key) == dirty_.end()) dirty_.push_back(key);
}

void FunctionContext::Delete(std::string_view name) {
  std::string key(name);
  states_[key] = std::nullopt;
  if (std::find(dirty_.begin(), dirty_.end(), key) == dirty_.end()) dirty_.push_back(key);
}

void FunctionContext::Send(const reqreply::Address& target, reqreply::TypedValue argument) {
  auto* m = effects_.add_outgoing_messages();
  *m->mutable_target() = target;
  *m->mutable_argument() = std::move(argument);
}

void FunctionContext::SendAfter(std::chrono::milliseconds delay,
                                const reqreply::Address& target, reqreply::TypedValue argument,
                                std::string cancellation_token) {
  auto* d = effects_.add_delayed_invocations();
  d->set_delay_in_ms(delay.count());
  *d->mutable_target() = target;
  *d->mutable_argument() = std::move(argument);
  d->set_cancellation_token(std::move(cancellation_token));
}

void FunctionContext::CancelDelayed(std::string cancellation_token) {
  auto* d = effects_.add_delayed_invocations();
  d->set_is_cancellation_request(true);
  d->set_cancellation_token(std::move(cancellation_token));
}

void FunctionContext::Egress(std::string_view ns, std::string_view type,
                             reqreply::TypedValue argument) {
  auto* e = effects_.add_outgoing_egresses();
  e->set_egress_namespace(std::string(ns));
  e->set_egress_type(std::string(type));
  *e->mutable_argument() = std::move(argument);
}

void FunctionContext::EgressKafka(std::string_view ns, std::string_view type,
                                  std::string_view topic, std::string_view key,
                                  std::string_view value) {
  io::statefun::sdk::egress::KafkaProducerRecord record;
  record.set_topic(std::string(topic));
  record.set_key(std::string(key));
  record.set_value_bytes(std::string(value));
  Egress(ns, type, CustomValue(kKafkaProducerRecordType, record.SerializeAsString()));
}

FromFunction FunctionContext::Build() const {
  FromFunction out;
  auto* result = out.mutable_invocation_result();
  *result = effects_;
  for (const std::string& name : dirty_) {
    auto* m = result->add_state_mutations();
    m->set_state_name(name);
    const auto& value = states_.find(name)->second;
    if (value) {
      m->set_mutation_type(reqreply::FromFunction::PersistedValueMutation::MODIFY);
      *m->mutable_state_value() = *value;
    } else {
      m->set_mutation_type(reqreply::FromFunction::PersistedValueMutation::DELETE);
    }
  }
  return out;
}

Handler StatefulFunction(std::vector<StateSpec> declared, InvocationFn fn) {
  return [declared = std::move(declared), fn = std::move(fn)](const ToFunction& request) -> Reply {
    std::vector<StateSpec> missing = MissingStates(request, declared);
    if (!missing.empty()) return IncompleteContext(missing);
    FunctionContext context(request);
    for (const auto& invocation : request.invocation().invocations()) fn(context, invocation);
    return context.Build();
  };
}

Handler CounterFunction(std::optional<CounterEgress> egress) {
  return StatefulFunction(
      {StateSpec{"count", std::string(kIntType)}},
      [egress = std::move(egress)](FunctionContext& ctx, const ToFunction::Invocation&) {
        int32_t count = ctx.GetInt("count").value_or(0) + 1;
        ctx.SetInt("count", count);
        if (egress) {
          ctx.EgressKafka(egress->egress_namespace, egress->egress_type, egress->topic,
                          ctx.self().id(), std::to_string(count));
        }
      });
}

}  // namespace eddy::fakes
