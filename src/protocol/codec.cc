#include "eddy/protocol/codec.h"

#include <climits>
#include <string>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

#include "statefun/sdk/request_reply.pb.h"

namespace eddy {
namespace {

namespace pb = io::statefun::sdk::reqreply;
using Mutation = pb::FromFunction::PersistedValueMutation;
using Expiration = pb::FromFunction::ExpirationSpec;

// ---- plain -> protobuf ----

void ToProto(const Address& a, pb::Address* out) {
  out->set_namespace_(a.type.ns);
  out->set_type(a.type.name);
  out->set_id(a.id);
}

void ToProto(const TypedValue& v, pb::TypedValue* out) {
  out->set_typename_(v.type_name);
  out->set_has_value(v.has_value);
  out->set_value(v.value);
}

Expiration::ExpireMode ToProto(ExpireMode mode) {
  switch (mode) {
    case ExpireMode::kNone: return Expiration::NONE;
    case ExpireMode::kAfterWrite: return Expiration::AFTER_WRITE;
    case ExpireMode::kAfterInvoke: return Expiration::AFTER_INVOKE;
  }
  return Expiration::NONE;
}

// ---- protobuf -> plain ----

// Protobuf parks a known field that arrives with the wrong wire type among the unknown fields
// and parses on. Accepting that would silently drop data (a mutation sent as a varint simply
// vanishes), so it is an error. Unknown field *numbers* stay allowed: newer SDKs may add fields.
Status CheckWireTypes(const google::protobuf::Message& m) {
  const auto& unknown = m.GetReflection()->GetUnknownFields(m);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto* field = m.GetDescriptor()->FindFieldByNumber(unknown.field(i).number());
    if (field != nullptr) {
      return InvalidArgument("malformed " + m.GetDescriptor()->name() + ": field '" +
                             field->name() + "' (" + std::to_string(field->number()) +
                             ") has the wrong wire type");
    }
  }
  return Status::Ok();
}

Result<Address> FromProto(const pb::Address& a) {
  EDDY_RETURN_IF_ERROR(CheckWireTypes(a));
  return Address{FunctionType{a.namespace_(), a.type()}, a.id()};
}

Result<TypedValue> FromProto(const pb::TypedValue& v) {
  EDDY_RETURN_IF_ERROR(CheckWireTypes(v));
  return TypedValue{v.typename_(), v.has_value(), v.value()};
}

// Assigns a converted sub-message or returns its error from the enclosing function.
#define EDDY_ASSIGN_OR_RETURN_PROTO(lhs, expr)       \
  do {                                               \
    auto _r = (expr);                                \
    if (!_r.ok()) return _r.status();                \
    lhs = std::move(_r).value();                     \
  } while (0)

Result<StateMutation> FromProto(const Mutation& m) {
  EDDY_RETURN_IF_ERROR(CheckWireTypes(m));
  StateMutation out;
  out.name = m.state_name();
  switch (m.mutation_type()) {
    case Mutation::DELETE:
      out.kind = StateMutation::Kind::kDelete;
      return out;
    case Mutation::MODIFY:
      out.kind = StateMutation::Kind::kModify;
      if (!m.has_state_value()) {
        return InvalidArgument("MODIFY mutation of state '" + m.state_name() + "' has no value");
      }
      EDDY_ASSIGN_OR_RETURN_PROTO(out.value, FromProto(m.state_value()));
      return out;
    default:
      return InvalidArgument("unknown mutation type " + std::to_string(m.mutation_type()) +
                             " for state '" + m.state_name() + "'");
  }
}

Result<InvocationResponse> FromProto(const pb::FromFunction::InvocationResponse& r) {
  EDDY_RETURN_IF_ERROR(CheckWireTypes(r));
  InvocationResponse out;
  out.state_mutations.reserve(r.state_mutations_size());
  for (const auto& m : r.state_mutations()) {
    EDDY_ASSIGN_OR_RETURN_PROTO(out.state_mutations.emplace_back(), FromProto(m));
  }
  out.outgoing_messages.reserve(r.outgoing_messages_size());
  for (const auto& m : r.outgoing_messages()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(m));
    OutgoingMessage& o = out.outgoing_messages.emplace_back();
    EDDY_ASSIGN_OR_RETURN_PROTO(o.target, FromProto(m.target()));
    EDDY_ASSIGN_OR_RETURN_PROTO(o.argument, FromProto(m.argument()));
  }
  out.delayed_messages.reserve(r.delayed_invocations_size());
  for (const auto& d : r.delayed_invocations()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(d));
    DelayedMessage& o = out.delayed_messages.emplace_back();
    o.is_cancellation = d.is_cancellation_request();
    o.cancellation_token = d.cancellation_token();
    o.delay_ms = d.delay_in_ms();
    EDDY_ASSIGN_OR_RETURN_PROTO(o.target, FromProto(d.target()));
    EDDY_ASSIGN_OR_RETURN_PROTO(o.argument, FromProto(d.argument()));
  }
  out.egress_messages.reserve(r.outgoing_egresses_size());
  for (const auto& e : r.outgoing_egresses()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(e));
    EgressMessage& o = out.egress_messages.emplace_back();
    o.egress_namespace = e.egress_namespace();
    o.egress_type = e.egress_type();
    EDDY_ASSIGN_OR_RETURN_PROTO(o.argument, FromProto(e.argument()));
  }
  return out;
}

Result<IncompleteContext> FromProto(const pb::FromFunction::IncompleteInvocationContext& c) {
  EDDY_RETURN_IF_ERROR(CheckWireTypes(c));
  IncompleteContext out;
  out.missing_values.reserve(c.missing_values_size());
  for (const auto& v : c.missing_values()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(v));
    EDDY_RETURN_IF_ERROR(CheckWireTypes(v.expiration_spec()));
    StateSpec& s = out.missing_values.emplace_back();
    s.name = v.state_name();
    s.type_name = v.type_typename();
    s.expire_after_ms = v.expiration_spec().expire_after_millis();
    switch (v.expiration_spec().mode()) {
      case Expiration::NONE: s.expire_mode = ExpireMode::kNone; break;
      case Expiration::AFTER_WRITE: s.expire_mode = ExpireMode::kAfterWrite; break;
      case Expiration::AFTER_INVOKE: s.expire_mode = ExpireMode::kAfterInvoke; break;
      default:
        return InvalidArgument("unknown expire mode " +
                               std::to_string(v.expiration_spec().mode()) + " for state '" +
                               v.state_name() + "'");
    }
  }
  return out;
}

// Protobuf takes an int length; anything larger cannot be a valid message for us anyway.
template <typename Message>
Status Parse(std::string_view bytes, Message* out) {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return InvalidArgument(Message::descriptor()->name() + " is too large to parse");
  }
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return InvalidArgument("malformed " + Message::descriptor()->name() + " (" +
                           std::to_string(bytes.size()) + " bytes)");
  }
  return CheckWireTypes(*out);
}

}  // namespace

std::string EncodeToFunction(const InvocationBatch& batch) {
  pb::ToFunction msg;
  auto* req = msg.mutable_invocation();
  ToProto(batch.target, req->mutable_target());
  for (const StateValue& s : batch.states) {
    auto* pv = req->add_state();
    pv->set_state_name(s.name);
    // An empty state is still sent by name: SDKs need it to know the state is registered.
    if (s.value.has_value()) ToProto(*s.value, pv->mutable_state_value());
  }
  for (const Invocation& inv : batch.invocations) {
    auto* pi = req->add_invocations();
    if (inv.caller.has_value()) ToProto(*inv.caller, pi->mutable_caller());
    ToProto(inv.argument, pi->mutable_argument());
  }
  return msg.SerializeAsString();
}

Result<FunctionReply> DecodeFromFunction(std::string_view bytes) {
  pb::FromFunction msg;
  EDDY_RETURN_IF_ERROR(Parse(bytes, &msg));
  switch (msg.response_case()) {
    case pb::FromFunction::kInvocationResult: {
      auto r = FromProto(msg.invocation_result());
      if (!r.ok()) return r.status();
      return FunctionReply(std::move(r).value());
    }
    case pb::FromFunction::kIncompleteInvocationContext: {
      auto r = FromProto(msg.incomplete_invocation_context());
      if (!r.ok()) return r.status();
      return FunctionReply(std::move(r).value());
    }
    case pb::FromFunction::RESPONSE_NOT_SET:
      break;
  }
  return FunctionReply(InvocationResponse{});  // StateFun: no oneof = no side effects
}

Result<InvocationBatch> DecodeToFunction(std::string_view bytes) {
  pb::ToFunction msg;
  EDDY_RETURN_IF_ERROR(Parse(bytes, &msg));
  if (!msg.has_invocation()) return InvalidArgument("ToFunction carries no invocation batch");
  const auto& req = msg.invocation();
  EDDY_RETURN_IF_ERROR(CheckWireTypes(req));
  InvocationBatch out;
  EDDY_ASSIGN_OR_RETURN_PROTO(out.target, FromProto(req.target()));
  out.states.reserve(req.state_size());
  for (const auto& pv : req.state()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(pv));
    StateValue& s = out.states.emplace_back();
    s.name = pv.state_name();
    if (pv.has_state_value()) EDDY_ASSIGN_OR_RETURN_PROTO(s.value, FromProto(pv.state_value()));
  }
  out.invocations.reserve(req.invocations_size());
  for (const auto& pi : req.invocations()) {
    EDDY_RETURN_IF_ERROR(CheckWireTypes(pi));
    Invocation& inv = out.invocations.emplace_back();
    if (pi.has_caller()) EDDY_ASSIGN_OR_RETURN_PROTO(inv.caller, FromProto(pi.caller()));
    EDDY_ASSIGN_OR_RETURN_PROTO(inv.argument, FromProto(pi.argument()));
  }
  return out;
}

std::string EncodeFromFunction(const FunctionReply& reply) {
  pb::FromFunction msg;
  if (const auto* r = std::get_if<InvocationResponse>(&reply)) {
    auto* out = msg.mutable_invocation_result();
    for (const StateMutation& m : r->state_mutations) {
      auto* pm = out->add_state_mutations();
      pm->set_state_name(m.name);
      if (m.kind == StateMutation::Kind::kModify) {
        pm->set_mutation_type(Mutation::MODIFY);
        ToProto(m.value, pm->mutable_state_value());
      } else {
        pm->set_mutation_type(Mutation::DELETE);
      }
    }
    for (const OutgoingMessage& m : r->outgoing_messages) {
      auto* pm = out->add_outgoing_messages();
      ToProto(m.target, pm->mutable_target());
      ToProto(m.argument, pm->mutable_argument());
    }
    for (const DelayedMessage& d : r->delayed_messages) {
      auto* pd = out->add_delayed_invocations();
      pd->set_is_cancellation_request(d.is_cancellation);
      pd->set_cancellation_token(d.cancellation_token);
      pd->set_delay_in_ms(d.delay_ms);
      ToProto(d.target, pd->mutable_target());
      ToProto(d.argument, pd->mutable_argument());
    }
    for (const EgressMessage& e : r->egress_messages) {
      auto* pe = out->add_outgoing_egresses();
      pe->set_egress_namespace(e.egress_namespace);
      pe->set_egress_type(e.egress_type);
      ToProto(e.argument, pe->mutable_argument());
    }
  } else {
    const auto& c = std::get<IncompleteContext>(reply);
    auto* out = msg.mutable_incomplete_invocation_context();
    for (const StateSpec& s : c.missing_values) {
      auto* pv = out->add_missing_values();
      pv->set_state_name(s.name);
      pv->set_type_typename(s.type_name);
      // Always present, as the Python SDK sends it (an empty spec means "no expiration").
      auto* exp = pv->mutable_expiration_spec();
      exp->set_mode(ToProto(s.expire_mode));
      exp->set_expire_after_millis(s.expire_after_ms);
    }
  }
  return msg.SerializeAsString();
}

}  // namespace eddy
