#pragma once
// Eddy's C++ function API. A function written against it runs unchanged in three places:
//  - embedded in the worker (io.eddy.embedded.v1/module, no network hop, no protobuf round trip),
//  - as a remote endpoint served over HTTP or gRPC (eddy/sdk/server.h),
//  - in a unit test against an in-memory runtime (eddy/sdk/testing.h).
//
// The semantics are StateFun's remote SDKs': a function type declares its state values; each
// invocation gets a Context with the target address, the caller, the declared state, and the
// ways to send messages (now, or delayed with an optional cancellation token) and egress
// records. Invocations of one address never run concurrently. Example:
//
//   const auto kSeen = eddy::sdk::ValueSpec<int64_t>::Of("seen", eddy::sdk::LongType());
//   registry.Register({.type = {"example", "counter"}, .states = {kSeen.Describe()},
//       .handler = [](eddy::sdk::Context& ctx, const eddy::sdk::Message& msg) {
//         int64_t seen = ctx.Storage().Get(kSeen).value_or(0) + 1;
//         ctx.Storage().Set(kSeen, seen);
//         ctx.Send({{"example", "printer"}, ctx.Self().id}, eddy::sdk::LongType(), seen);
//       }});
//
// A handler may throw: the runtime catches it and treats the batch like a failed remote call
// (nothing of the batch is applied, the address is retried or dead-lettered per failure policy).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/model/address.h"
#include "eddy/model/invocation.h"
#include "eddy/model/typed_value.h"

namespace eddy::sdk {

// ---- types: a typename plus how to turn values into bytes and back ----

template <typename T>
struct Type {
  std::string type_name;
  std::function<std::string(const T&)> serialize;
  // nullopt when the bytes are not a valid T.
  std::function<std::optional<T>(std::string_view)> deserialize;
};

// The built-in StateFun types (payload = serialized protobuf wrapper, as every SDK writes them).
Type<bool> BoolType();
Type<int32_t> IntType();
Type<int64_t> LongType();
Type<float> FloatType();
Type<double> DoubleType();
Type<std::string> StringType();
// A custom typename whose payload is the bytes as they are (e.g. JSON or a user protobuf).
Type<std::string> RawType(std::string type_name);

// ---- state ----

struct Expiration {
  ExpireMode mode = ExpireMode::kNone;
  std::chrono::milliseconds after{0};
  static Expiration AfterWrite(std::chrono::milliseconds d) { return {ExpireMode::kAfterWrite, d}; }
  static Expiration AfterInvoke(std::chrono::milliseconds d) {
    return {ExpireMode::kAfterInvoke, d};
  }
};

template <typename T>
struct ValueSpec {
  std::string name;
  Type<T> type;
  Expiration expiration;

  static ValueSpec Of(std::string name, Type<T> type, Expiration expiration = {}) {
    return ValueSpec{std::move(name), std::move(type), expiration};
  }
  // The untyped description the runtime registers (name, typename, expiration).
  StateSpec Describe() const {
    return StateSpec{name, type.type_name, expiration.mode, expiration.after.count()};
  }
};

// The declared state of one address during one batch. Reads see earlier writes of the same
// batch; the runtime receives one final mutation per changed state.
class AddressScopedStorage {
 public:
  virtual ~AddressScopedStorage() = default;

  // Raw access by state name. Get: nullopt when empty. Set/Remove of an undeclared name, or Set
  // with a typename other than the declared one, throws std::invalid_argument (a programming
  // error, contained by the runtime like any other exception from a handler).
  virtual std::optional<TypedValue> GetRaw(std::string_view name) const = 0;
  virtual void SetRaw(std::string_view name, TypedValue value) = 0;
  virtual void Remove(std::string_view name) = 0;

  // Typed access. Get throws std::invalid_argument when the stored bytes are not a valid T.
  template <typename T>
  std::optional<T> Get(const ValueSpec<T>& spec) const;
  template <typename T>
  void Set(const ValueSpec<T>& spec, const T& value);
  template <typename T>
  void Remove(const ValueSpec<T>& spec) {
    Remove(spec.name);
  }
};

// ---- messages ----

// A view of one invocation's argument, valid for the duration of the handler call (the runtime
// owns the bytes; copying them for every invocation showed on the embedded fast path). Keep
// Raw() or a converted value, not the Message, if it must outlive the call.
class Message {
 public:
  explicit Message(const TypedValue& value) : value_(&value) {}
  Message(TypedValue&&) = delete;  // a view of a temporary would dangle

  const TypedValue& Raw() const { return *value_; }
  const std::string& TypeName() const { return value_->type_name; }

  template <typename T>
  bool Is(const Type<T>& type) const {
    return value_->type_name == type.type_name;
  }
  // nullopt when the typename differs or the bytes are not a valid T.
  template <typename T>
  std::optional<T> As(const Type<T>& type) const {
    if (!Is(type)) return std::nullopt;
    return type.deserialize(value_->value);
  }

 private:
  const TypedValue* value_;
};

template <typename T>
TypedValue MakeValue(const Type<T>& type, const T& value) {
  return TypedValue{type.type_name, true, type.serialize(value)};
}

// ---- the invocation context ----

class Context {
 public:
  virtual ~Context() = default;

  virtual const Address& Self() const = 0;
  // Absent for messages from an ingress or a delayed message sent by the runtime itself.
  virtual const std::optional<Address>& Caller() const = 0;
  virtual AddressScopedStorage& Storage() = 0;

  virtual void Send(const Address& target, TypedValue value) = 0;
  // Delivered after `delay`. A non-empty cancellation token lets CancelDelayedMessage withdraw it.
  virtual void SendAfter(std::chrono::milliseconds delay, const Address& target, TypedValue value,
                         std::string cancellation_token = {}) = 0;
  virtual void CancelDelayedMessage(std::string cancellation_token) = 0;
  // An egress record; `egress` is the egress id ("ns/name") from module.yaml.
  virtual void SendEgress(const FunctionType& egress, TypedValue value) = 0;

  template <typename T>
  void Send(const Address& target, const Type<T>& type, const T& value) {
    Send(target, MakeValue(type, value));
  }
  template <typename T>
  void SendAfter(std::chrono::milliseconds delay, const Address& target, const Type<T>& type,
                 const T& value, std::string cancellation_token = {}) {
    SendAfter(delay, target, MakeValue(type, value), std::move(cancellation_token));
  }
  // A record for a Kafka egress (io.statefun.kafka.v1/egress): builds the KafkaProducerRecord.
  // An empty key produces a record without key.
  void SendKafka(const FunctionType& egress, std::string_view topic, std::string_view key,
                 std::string_view value);
};

// ---- function types and the registry ----

using Handler = std::function<void(Context&, const Message&)>;

struct FunctionSpec {
  FunctionType type;
  std::vector<StateSpec> states;  // ValueSpec<T>::Describe() of each declared value
  Handler handler;
};

// The functions a module (a shared library, a worker binary, a remote server) provides.
class FunctionRegistry {
 public:
  // InvalidArgument when the type is malformed, already registered, the handler is empty, or
  // two states share a name.
  Status Register(FunctionSpec spec);
  // nullptr when unknown.
  const FunctionSpec* Find(const FunctionType& type) const;
  std::vector<FunctionType> Types() const;
  // Moves every spec of `other` into this registry; fails (registering nothing) on a duplicate.
  Status Merge(FunctionRegistry&& other);

 private:
  std::map<std::string, std::shared_ptr<const FunctionSpec>> specs_;  // by "ns/name"
};

// Runs one batch for `spec`, as an SDK does on receiving a ToFunction:
//  - a declared state whose name is absent from batch.states makes the reply an
//    IncompleteContext listing every missing spec (nothing runs);
//  - otherwise every invocation runs in order against one storage, and the reply carries one
//    mutation per changed state, then the messages, delayed messages and egress records in the
//    order the handler produced them.
// An exception from the handler becomes an Internal error naming the type and the exception.
Result<FunctionReply> RunBatch(const FunctionSpec& spec, const InvocationBatch& batch);

// ---- templates ----

// Throws std::invalid_argument naming the state (keeps <stdexcept> out of this header).
[[noreturn]] void ThrowBadStoredValue(std::string_view name, std::string_view type_name);

template <typename T>
std::optional<T> AddressScopedStorage::Get(const ValueSpec<T>& spec) const {
  std::optional<TypedValue> raw = GetRaw(spec.name);
  if (!raw || !raw->has_value) return std::nullopt;
  std::optional<T> value = spec.type.deserialize(raw->value);
  if (!value) ThrowBadStoredValue(spec.name, spec.type.type_name);
  return value;
}

template <typename T>
void AddressScopedStorage::Set(const ValueSpec<T>& spec, const T& value) {
  SetRaw(spec.name, MakeValue(spec.type, value));
}

}  // namespace eddy::sdk
