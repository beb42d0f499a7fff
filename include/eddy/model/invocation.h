#pragma once
// The request-reply exchange with a function, as plain C++ values. The HTTP and gRPC invokers
// encode these to StateFun's protobuf messages (src/protocol); embedded functions use them
// directly without a protobuf round trip.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "eddy/model/address.h"
#include "eddy/model/typed_value.h"

namespace eddy {

// ---- runtime -> function (ToFunction.InvocationBatchRequest) ----

struct Invocation {
  std::optional<Address> caller;  // absent for ingress messages
  TypedValue argument;
};

// A registered state as sent with a request: every registered name is sent, with no value when
// the state is empty (SDKs need the name to know it is registered).
struct StateValue {
  std::string name;
  std::optional<TypedValue> value;
};

struct InvocationBatch {
  Address target;
  std::vector<StateValue> states;
  std::vector<Invocation> invocations;
};

// ---- function -> runtime (FromFunction) ----

enum class ExpireMode { kNone = 0, kAfterWrite = 1, kAfterInvoke = 2 };

struct StateSpec {
  std::string name;
  std::string type_name;  // empty in the request means io.statefun.types/unset
  ExpireMode expire_mode = ExpireMode::kNone;
  int64_t expire_after_ms = 0;
};

struct StateMutation {
  enum class Kind { kDelete = 0, kModify = 1 };
  Kind kind = Kind::kDelete;
  std::string name;
  TypedValue value;  // kModify only
};

struct OutgoingMessage {
  Address target;
  TypedValue argument;
};

struct DelayedMessage {
  bool is_cancellation = false;  // when true only cancellation_token matters
  std::string cancellation_token;
  int64_t delay_ms = 0;
  Address target;
  TypedValue argument;
};

struct EgressMessage {
  std::string egress_namespace;
  std::string egress_type;
  TypedValue argument;
};

struct InvocationResponse {
  std::vector<StateMutation> state_mutations;
  std::vector<OutgoingMessage> outgoing_messages;
  std::vector<DelayedMessage> delayed_messages;
  std::vector<EgressMessage> egress_messages;
};

struct IncompleteContext {
  std::vector<StateSpec> missing_values;
};

// A FromFunction with neither oneof set decodes to an empty InvocationResponse (no effects).
using FunctionReply = std::variant<InvocationResponse, IncompleteContext>;

}  // namespace eddy
