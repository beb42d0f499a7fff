#pragma once
// A tiny "function SDK" for tests, behaving like the official StateFun SDKs where it matters to
// the runtime:
//  - a declared state counts as present when its name is in the request, with or without value;
//    while any declared state is missing the function answers IncompleteInvocationContext listing
//    the missing specs (like the Python SDK: expiration_spec always set, mode NONE by default);
//  - invocations of a batch run in order against one context, so a write is visible to the
//    next invocation, and each written state yields exactly one final mutation.
// It builds protobuf messages directly (no dependency on Eddy's own codec).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fakes/function_server.h"
#include "statefun/sdk/request_reply.pb.h"

namespace eddy::fakes {

namespace reqreply = io::statefun::sdk::reqreply;

inline constexpr std::string_view kBoolType = "io.statefun.types/bool";
inline constexpr std::string_view kIntType = "io.statefun.types/int";
inline constexpr std::string_view kLongType = "io.statefun.types/long";
inline constexpr std::string_view kStringType = "io.statefun.types/string";
inline constexpr std::string_view kKafkaProducerRecordType =
    "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord";

// Built-in typed values: the payload is the serialized wrapper message.
reqreply::TypedValue BoolValue(bool v);
reqreply::TypedValue IntValue(int32_t v);
reqreply::TypedValue LongValue(int64_t v);
reqreply::TypedValue StringValue(std::string_view v);
// A custom type: `value` is stored as is.
reqreply::TypedValue CustomValue(std::string_view type_name, std::string_view value);

// Decoders: nullopt when has_value is false, the type name differs or the bytes do not parse.
std::optional<bool> DecodeBool(const reqreply::TypedValue& v);
std::optional<int32_t> DecodeInt(const reqreply::TypedValue& v);
std::optional<int64_t> DecodeLong(const reqreply::TypedValue& v);
std::optional<std::string> DecodeString(const reqreply::TypedValue& v);

reqreply::Address MakeAddress(std::string_view ns, std::string_view type, std::string_view id);

struct StateSpec {
  std::string name;
  std::string type_name;
  reqreply::FromFunction::ExpirationSpec::ExpireMode expire_mode =
      reqreply::FromFunction::ExpirationSpec::NONE;
  int64_t expire_after_ms = 0;
};

// Declared specs whose names are absent from the request (empty when the request is complete).
std::vector<StateSpec> MissingStates(const ToFunction& request,
                                     const std::vector<StateSpec>& declared);
FromFunction IncompleteContext(const std::vector<StateSpec>& missing);

// A decoded KafkaProducerRecord egress message (for assertions).
struct KafkaRecord {
  std::string topic;
  std::string key;
  std::string value;
};
std::optional<KafkaRecord> DecodeKafkaEgress(const reqreply::TypedValue& v);

// One batch's view of state plus the effects the function produces.
class FunctionContext {
 public:
  explicit FunctionContext(const ToFunction& request);

  const reqreply::Address& self() const { return self_; }

  // Whether the request listed this state name (with or without value).
  bool HasState(std::string_view name) const;
  // nullopt when the state is missing, has no value, or holds another type.
  std::optional<int32_t> GetInt(std::string_view name) const;
  std::optional<int64_t> GetLong(std::string_view name) const;
  std::optional<std::string> GetString(std::string_view name) const;
  const reqreply::TypedValue* GetRaw(std::string_view name) const;

  void Set(std::string_view name, reqreply::TypedValue value);  // MODIFY
  void SetInt(std::string_view name, int32_t v) { Set(name, IntValue(v)); }
  void SetLong(std::string_view name, int64_t v) { Set(name, LongValue(v)); }
  void SetString(std::string_view name, std::string_view v) { Set(name, StringValue(v)); }
  void Delete(std::string_view name);  // DELETE

  void Send(const reqreply::Address& target, reqreply::TypedValue argument);
  void SendAfter(std::chrono::milliseconds delay, const reqreply::Address& target,
                 reqreply::TypedValue argument, std::string cancellation_token = "");
  void CancelDelayed(std::string cancellation_token);
  void Egress(std::string_view ns, std::string_view type, reqreply::TypedValue argument);
  // Egress a KafkaProducerRecord with the typename every SDK uses.
  void EgressKafka(std::string_view ns, std::string_view type, std::string_view topic,
                   std::string_view key, std::string_view value);

  // The InvocationResponse: side effects in call order, then one mutation per written state.
  FromFunction Build() const;

 private:
  reqreply::Address self_;
  // Current view: name -> value (nullopt = present without value / deleted).
  std::map<std::string, std::optional<reqreply::TypedValue>, std::less<>> states_;
  std::vector<std::string> dirty_;  // names in first-write order
  reqreply::FromFunction::InvocationResponse effects_;
};

using InvocationFn =
    std::function<void(FunctionContext& context, const ToFunction::Invocation& invocation)>;

// An SDK-like function: Incomplete while declared states are missing, otherwise runs `fn` once
// per invocation in batch order and replies with the collected effects.
Handler StatefulFunction(std::vector<StateSpec> declared, InvocationFn fn);

struct CounterEgress {
  std::string egress_namespace;
  std::string egress_type;
  std::string topic;
};

// Keyed counter: state "count" (io.statefun.types/int), +1 per invocation. With an egress,
// each invocation also emits a KafkaProducerRecord{topic, key = id, value = decimal count}.
Handler CounterFunction(std::optional<CounterEgress> egress = std::nullopt);

}  // namespace eddy::fakes
