// RunBatch: one ToFunction batch through a function, as a StateFun SDK runs it. This is the
// embedded fast path (no protobuf, no maps): the storage is a small vector indexed by the
// position of each declared state, and effects are appended straight into the reply.

#include <boost/container/small_vector.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "eddy/sdk/function.h"
#include "statefun/sdk/egress.pb.h"

namespace eddy::sdk {
namespace {

class StorageImpl final : public AddressScopedStorage {
 public:
  enum class Change { kNone, kModified, kDeleted };
  struct Slot {
    const StateSpec* spec = nullptr;
    const TypedValue* initial = nullptr;  // points into the batch; null when empty
    Change change = Change::kNone;
    TypedValue written;  // kModified only
  };

  // Inline room for a few states: no allocation per batch for typical functions (the embedded
  // path runs one batch per message).
  using Slots = boost::container::small_vector<Slot, 4>;
  explicit StorageImpl(Slots slots) : slots_(std::move(slots)) {}

  std::optional<TypedValue> GetRaw(std::string_view name) const override {
    const Slot* slot = Lookup(name);
    if (slot == nullptr) return std::nullopt;
    switch (slot->change) {
      case Change::kModified:
        return slot->written;
      case Change::kDeleted:
        return std::nullopt;
      case Change::kNone:
        break;
    }
    if (slot->initial == nullptr) return std::nullopt;
    return *slot->initial;
  }

  void SetRaw(std::string_view name, TypedValue value) override {
    Slot& slot = Require(name);
    if (!value.has_value) {  // a value-less TypedValue means "no value"
      slot.change = Change::kDeleted;
      return;
    }
    if (value.type_name != slot.spec->type_name) {
      throw std::invalid_argument("state '" + slot.spec->name + "' is declared as " +
                                  slot.spec->type_name + " but was set to a value of type " +
                                  value.type_name);
    }
    slot.change = Change::kModified;
    slot.written = std::move(value);
  }

  void Remove(std::string_view name) override {
    Slot& slot = Require(name);
    slot.change = Change::kDeleted;
    slot.written = {};
  }

  // The final mutation of every changed state, in declaration order.
  void AppendMutations(std::vector<StateMutation>& out) {
    for (Slot& slot : slots_) {
      if (slot.change == Change::kModified) {
        out.push_back({StateMutation::Kind::kModify, slot.spec->name, std::move(slot.written)});
      } else if (slot.change == Change::kDeleted) {
        out.push_back({StateMutation::Kind::kDelete, slot.spec->name, {}});
      }
    }
  }

 private:
  const Slot* Lookup(std::string_view name) const {
    for (const Slot& slot : slots_) {
      if (slot.spec->name == name) return &slot;
    }
    return nullptr;
  }
  Slot& Require(std::string_view name) {
    const Slot* slot = Lookup(name);
    if (slot == nullptr) {
      throw std::invalid_argument("state '" + std::string(name) + "' is not declared");
    }
    return const_cast<Slot&>(*slot);
  }

  Slots slots_;
};

class ContextImpl final : public Context {
 public:
  ContextImpl(const Address& self, StorageImpl& storage, InvocationResponse& out)
      : self_(self), storage_(storage), out_(out) {}

  void set_caller(const std::optional<Address>* caller) { caller_ = caller; }

  const Address& Self() const override { return self_; }
  const std::optional<Address>& Caller() const override { return *caller_; }
  AddressScopedStorage& Storage() override { return storage_; }

  void Send(const Address& target, TypedValue value) override {
    out_.outgoing_messages.push_back({target, std::move(value)});
  }
  void SendAfter(std::chrono::milliseconds delay, const Address& target, TypedValue value,
                 std::string cancellation_token) override {
    // The runtime would refuse the whole reply; failing here names the culprit instead.
    if (delay.count() < 0) throw std::invalid_argument("SendAfter with a negative delay");
    DelayedMessage& d = out_.delayed_messages.emplace_back();
    d.cancellation_token = std::move(cancellation_token);
    d.delay_ms = delay.count();
    d.target = target;
    d.argument = std::move(value);
  }
  void CancelDelayedMessage(std::string cancellation_token) override {
    if (cancellation_token.empty()) {
      throw std::invalid_argument("CancelDelayedMessage with an empty cancellation token");
    }
    DelayedMessage& d = out_.delayed_messages.emplace_back();
    d.is_cancellation = true;
    d.cancellation_token = std::move(cancellation_token);
  }
  void SendEgress(const FunctionType& egress, TypedValue value) override {
    out_.egress_messages.push_back({egress.ns, egress.name, std::move(value)});
  }

 private:
  const Address& self_;
  StorageImpl& storage_;
  InvocationResponse& out_;
  const std::optional<Address>* caller_ = nullptr;
};

}  // namespace

void Context::SendKafka(const FunctionType& egress, std::string_view topic, std::string_view key,
                        std::string_view value) {
  io::statefun::sdk::egress::KafkaProducerRecord record;
  record.set_topic(std::string(topic));
  if (!key.empty()) record.set_key(std::string(key));
  record.set_value_bytes(std::string(value));
  SendEgress(egress, TypedValue{std::string(types::kKafkaProducerRecord), true,
                                record.SerializeAsString()});
}

void ThrowBadStoredValue(std::string_view name, std::string_view type_name) {
  throw std::invalid_argument("state '" + std::string(name) + "' holds bytes that are not a valid " +
                              std::string(type_name));
}

Result<FunctionReply> RunBatch(const FunctionSpec& spec, const InvocationBatch& batch) {
  StorageImpl::Slots slots(spec.states.size());
  IncompleteContext incomplete;
  for (size_t i = 0; i < spec.states.size(); ++i) {
    const StateSpec& declared = spec.states[i];
    slots[i].spec = &declared;
    bool found = false;
    for (const StateValue& sent : batch.states) {
      if (sent.name != declared.name) continue;
      found = true;
      if (sent.value && sent.value->has_value) slots[i].initial = &*sent.value;
      break;
    }
    if (!found) incomplete.missing_values.push_back(declared);
  }
  if (!incomplete.missing_values.empty()) return FunctionReply(std::move(incomplete));

  StorageImpl storage(std::move(slots));
  InvocationResponse response;
  ContextImpl context(batch.target, storage, response);
  try {
    for (const Invocation& invocation : batch.invocations) {
      context.set_caller(&invocation.caller);
      spec.handler(context, Message(invocation.argument));
    }
  } catch (const std::exception& e) {
    return Internal("function " + spec.type.ToString() + ": " + e.what());
  } catch (...) {
    return Internal("function " + spec.type.ToString() + ": unknown exception (not a std::exception)");
  }
  storage.AppendMutations(response.state_mutations);
  return FunctionReply(std::move(response));
}

}  // namespace eddy::sdk
