#include "dispatch/state_cache.h"

#include <utility>

namespace eddy {

// Value changes stay in the cache; delayed-message changes go to an inner batch.
class StateCache::Batch final : public StateWriteBatch {
 public:
  explicit Batch(std::unique_ptr<StateWriteBatch> inner) : inner_(std::move(inner)) {}

  void PutValue(KeyGroup kg, const Address& address, std::string_view state_name,
                const StoredValue& value) override {
    values_.push_back({kg, address, std::string(state_name), value});
  }
  void DeleteValue(KeyGroup kg, const Address& address, std::string_view state_name) override {
    values_.push_back({kg, address, std::string(state_name), std::nullopt});
  }
  void PutDelayed(KeyGroup kg, const DelayedRecord& record) override {
    inner_->PutDelayed(kg, record);
  }
  void DeleteDelayed(KeyGroup kg, const DelayedRecord& record) override {
    inner_->DeleteDelayed(kg, record);
  }
  bool empty() const override { return values_.empty() && inner_->empty(); }

  struct ValueOp {
    KeyGroup kg;
    Address address;
    std::string name;
    std::optional<StoredValue> value;  // nullopt = delete
  };
  std::vector<ValueOp> values_;
  std::unique_ptr<StateWriteBatch> inner_;
};

StateCache::StateCache(StateBackend* inner, size_t capacity_bytes)
    : inner_(inner), capacity_bytes_(capacity_bytes) {}

StateCache::~StateCache() = default;

size_t StateCache::SlotBytes(const Slot& slot) {
  // Heap blocks of the strings are counted roughly (allocator overhead included in kPerString).
  constexpr size_t kPerString = 16;
  size_t n = slot.name.size() + sizeof(Slot) + kPerString;
  if (slot.value) n += slot.value->type_name.size() + slot.value->value.size() + 2 * kPerString;
  return n;
}

StateCache::Node& StateCache::EntryFor(KeyGroup kg, const Address& address) {
  auto [it, inserted] = entries_.try_emplace(address);
  Entry& entry = it->second;
  if (inserted) {
    entry.kg = kg;
    // The map node, its bucket pointer and the LRU list node come on top of the strings.
    entry.bytes = sizeof(Node) + address.type.ns.size() + address.type.name.size() +
                  address.id.size() + 128;
    bytes_ += entry.bytes;
    lru_.push_front(&it->first);
    entry.lru = lru_.begin();
  } else if (entry.lru != lru_.begin()) {
    lru_.splice(lru_.begin(), lru_, entry.lru);
  }
  return *it;
}

StateCache::Slot& StateCache::SlotFor(Entry& entry, std::string_view name, bool* created) {
  for (Slot& slot : entry.slots) {
    if (slot.name == name) return slot;
  }
  Slot& slot = entry.slots.emplace_back();
  slot.name = std::string(name);
  *created = true;
  return slot;
}

void StateCache::SetSlot(Node& node, std::string_view name, std::optional<StoredValue> value,
                         bool dirty) {
  Entry& entry = node.second;
  bool created = false;
  Slot& slot = SlotFor(entry, name, &created);
  size_t before = created ? 0 : SlotBytes(slot);  // a new slot's own size counts as added
  slot.value = std::move(value);
  slot.dirty = slot.dirty || dirty;
  size_t after = SlotBytes(slot);
  entry.bytes += after;
  entry.bytes -= before;
  bytes_ += after;
  bytes_ -= before;
  if (dirty && !entry.dirty) {
    entry.dirty = true;
    dirty_.push_back(&node);
  }
}

Result<std::vector<std::optional<StoredValue>>> StateCache::ReadValues(
    KeyGroup kg, const Address& address, const std::vector<std::string>& state_names,
    int64_t now_ms) {
  Node& node = EntryFor(kg, address);
  Entry& entry = node.second;
  std::vector<std::optional<StoredValue>> out(state_names.size());
  std::vector<std::string> missing;
  std::vector<size_t> missing_at;
  for (size_t i = 0; i < state_names.size(); ++i) {
    const Slot* found = nullptr;
    for (const Slot& slot : entry.slots) {
      if (slot.name == state_names[i]) found = &slot;
    }
    if (found == nullptr) {
      missing.push_back(state_names[i]);
      missing_at.push_back(i);
    } else if (found->value &&
               (found->value->expires_at_ms == 0 || found->value->expires_at_ms > now_ms)) {
      out[i] = found->value;  // an expired value reads as absent, as from the backend
    }
  }
  if (!missing.empty()) {
    auto read = inner_->ReadValues(kg, address, missing, now_ms);
    if (!read.ok()) return read.status();
    for (size_t j = 0; j < missing.size(); ++j) {
      out[missing_at[j]] = read.value()[j];
      SetSlot(node, missing[j], std::move(read.value()[j]), /*dirty=*/false);
    }
    Evict();
  }
  return out;
}

Result<std::optional<DelayedRecord>> StateCache::FindDelayedByToken(KeyGroup kg,
                                                                    const Address& sender,
                                                                    std::string_view token) {
  return inner_->FindDelayedByToken(kg, sender, token);
}

Status StateCache::ScanDelayed(KeyGroup first, KeyGroup last,
                               const std::function<Status(KeyGroup, DelayedRecord)>& visit) {
  return inner_->ScanDelayed(first, last, visit);
}

std::unique_ptr<StateWriteBatch> StateCache::NewWriteBatch() {
  return std::make_unique<Batch>(inner_->NewWriteBatch());
}

void StateCache::AddDirtyTo(StateWriteBatch& out) const {
  for (const Node* node : dirty_) {
    const Entry& entry = node->second;
    for (const Slot& slot : entry.slots) {
      if (!slot.dirty) continue;
      if (slot.value) {
        out.PutValue(entry.kg, node->first, slot.name, *slot.value);
      } else {
        out.DeleteValue(entry.kg, node->first, slot.name);
      }
    }
  }
}

void StateCache::MarkAllClean() {
  for (Node* node : dirty_) {
    Entry& entry = node->second;
    entry.dirty = false;
    for (Slot& slot : entry.slots) slot.dirty = false;
  }
  dirty_.clear();
}

Status StateCache::Commit(StateWriteBatch& batch) {
  auto& b = static_cast<Batch&>(batch);
  if (!b.inner_->empty()) {
    // Delayed-message changes are durable at once, atomically with every value written so far
    // (including this batch's): the durable state never has one without the other.
    AddDirtyTo(*b.inner_);
    for (const auto& op : b.values_) {
      if (op.value) {
        b.inner_->PutValue(op.kg, op.address, op.name, *op.value);
      } else {
        b.inner_->DeleteValue(op.kg, op.address, op.name);
      }
    }
    EDDY_RETURN_IF_ERROR(inner_->Commit(*b.inner_));
    MarkAllClean();
    for (auto& op : b.values_) {
      SetSlot(EntryFor(op.kg, op.address), op.name, std::move(op.value), false);
    }
  } else {
    for (auto& op : b.values_) {
      SetSlot(EntryFor(op.kg, op.address), op.name, std::move(op.value), true);
    }
  }
  Evict();
  return Status::Ok();
}

Status StateCache::Flush() {
  if (dirty_.empty()) return Status::Ok();
  auto batch = inner_->NewWriteBatch();
  AddDirtyTo(*batch);
  EDDY_RETURN_IF_ERROR(inner_->Commit(*batch));
  MarkAllClean();
  Evict();
  return Status::Ok();
}

void StateCache::Evict() {
  // Only clean entries can go; dirty ones wait for the next Flush (the shard flushes often, and
  // the dirty set is bounded by the messages in flight, which FlowControl bounds).
  // Bounded scan: when the oldest entries are all dirty (a flush is due anyway), walking past
  // thousands of them on every commit would cost the shard more than the memory saved.
  constexpr int kMaxDirtySkips = 64;
  int dirty_skips = 0;
  auto it = lru_.end();
  while (bytes_ > capacity_bytes_ && it != lru_.begin()) {
    --it;
    auto found = entries_.find(**it);
    if (found->second.dirty) {
      if (++dirty_skips > kMaxDirtySkips) break;
      continue;
    }
    bytes_ -= found->second.bytes;
    it = lru_.erase(it);
    entries_.erase(found);
  }
}

Status StateCache::Close() { return Flush(); }

}  // namespace eddy
