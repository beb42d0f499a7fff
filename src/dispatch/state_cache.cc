#include "dispatch/state_cache.h"

#include <algorithm>
#include <cassert>
#include <string_view>
#include <utility>

namespace eddy {

// Value changes stay in the cache; delayed-message changes go to an inner batch.
class StateCache::Batch final : public StateWriteBatch {
 public:
  // The inner (RocksDB) batch is created on the first delayed-message change: most replies
  // only change values, and an inner batch per reply was a measurable allocation.
  explicit Batch(StateBackend* backend) : backend_(backend) {}

  void PutValue(KeyGroup kg, const Address& address, std::string_view state_name,
                const StoredValue& value) override {
    values_.push_back({kg, address, std::string(state_name), value});
  }
  void DeleteValue(KeyGroup kg, const Address& address, std::string_view state_name) override {
    values_.push_back({kg, address, std::string(state_name), std::nullopt});
  }
  void PutDelayed(KeyGroup kg, const DelayedRecord& record) override {
    Inner().PutDelayed(kg, record);
  }
  void DeleteDelayed(KeyGroup kg, const DelayedRecord& record) override {
    Inner().DeleteDelayed(kg, record);
  }
  bool empty() const override { return values_.empty() && !HasDelayed(); }
  bool HasDelayed() const { return inner_ && !inner_->empty(); }
  StateWriteBatch& Inner() {
    if (!inner_) inner_ = backend_->NewWriteBatch();
    return *inner_;
  }

  struct ValueOp {
    KeyGroup kg;
    Address address;
    std::string name;
    std::optional<StoredValue> value;  // nullopt = delete
  };
  std::vector<ValueOp> values_;
  StateBackend* backend_;
  std::unique_ptr<StateWriteBatch> inner_;  // null until a delayed-message change
};

StateCache::StateCache(StateBackend* inner, size_t capacity_bytes)
    : inner_(inner), capacity_bytes_(capacity_bytes) {}

StateCache::~StateCache() = default;

// Memory is counted as glibc's malloc spends it (a block is the request plus an 8-byte header,
// rounded up to 16, at least 32), so that `capacity_bytes` is close to the heap the cache really
// holds: at 1,000,000 one-state entries (a long under a 22-character type name) mallinfo2
// showed 328 B per entry and this count says 360. An earlier rough count said 449, which made a
// given capacity hold about 25% fewer keys than it could.
namespace {
constexpr size_t HeapBlock(size_t request) {
  return std::max<size_t>(32, (request + 8 + 15) & ~size_t{15});
}
size_t HeapOf(const std::string& s) {
  constexpr size_t kInline = 15;  // libstdc++'s short-string buffer
  return s.capacity() > kInline ? HeapBlock(s.capacity() + 1) : 0;
}
}  // namespace

size_t StateCache::SlotBytes(const Slot& slot) {
  // The Slot itself lives in its entry's vector block.
  size_t n = sizeof(Slot) + HeapOf(slot.name);
  if (slot.value) n += HeapOf(slot.value->type_name) + HeapOf(slot.value->value);
  return n;
}

size_t StateCache::EntryBytes(const Node& node) {
  // The node's block, its key's strings, the vector block's header, and the table's share:
  // one 16-byte (hash, pointer) pair per slot at a load factor between 0.35 and 0.7.
  constexpr size_t kTableShare = 32;
  constexpr size_t kVectorHeader = 16;
  return HeapBlock(sizeof(Node)) + HeapOf(node.key.type.ns) + HeapOf(node.key.type.name) +
         HeapOf(node.key.id) + kVectorHeader + kTableShare;
}

StateCache::Node& StateCache::EntryFor(KeyGroup kg, const Address& address,
                                       const uint64_t* hash) {
  if (last_ != nullptr && last_->key == address) {
    last_->value.referenced = true;
    return *last_;
  }
  assert(hash == nullptr || *hash == Table::HashOf(address));
  auto [node, inserted] =
      hash != nullptr ? entries_.Insert(address, *hash) : entries_.Insert(address);
  Entry& entry = node->value;
  if (inserted) {
    entry.kg = kg;
    entry.slots.clear();  // a reused node keeps the vector's capacity
    entry.dirty = false;
    entry.bytes = EntryBytes(*node);
    bytes_ += entry.bytes;
  }
  entry.referenced = true;
  last_ = node;
  return *node;
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
  Entry& entry = node.value;
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
  // ReadRefs's lookup, load and expiry, with copies (the caller keeps them past eviction).
  std::vector<const StoredValue*> refs;
  EDDY_RETURN_IF_ERROR(ReadRefs(kg, address, state_names, [now_ms] { return now_ms; }, &refs));
  std::vector<std::optional<StoredValue>> out(state_names.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i] != nullptr) out[i] = *refs[i];
  }
  Evict();
  return out;
}

Status StateCache::ReadRefs(KeyGroup kg, const Address& address,
                            const std::vector<std::string>& state_names,
                            const std::function<int64_t()>& now_ms,
                            std::vector<const StoredValue*>* out, const uint64_t* hash) {
  int64_t now = -1;
  Node& node = EntryFor(kg, address, hash);
  Entry& entry = node.value;
  auto find = [&entry](const std::string& name) -> const Slot* {
    for (const Slot& slot : entry.slots) {
      if (slot.name == name) return &slot;
    }
    return nullptr;
  };
  // An address's first read loads what is missing first: loading may grow the slots vector,
  // so pointers are only taken afterwards.
  std::vector<std::string> missing;
  for (const std::string& name : state_names) {
    if (find(name) == nullptr) missing.push_back(name);
  }
  if (!missing.empty()) {
    now = now_ms();
    auto read = inner_->ReadValues(kg, address, missing, now);
    if (!read.ok()) return read.status();
    for (size_t j = 0; j < missing.size(); ++j) {
      SetSlot(node, missing[j], std::move(read.value()[j]), /*dirty=*/false);
    }
  }
  out->assign(state_names.size(), nullptr);
  for (size_t i = 0; i < state_names.size(); ++i) {
    const Slot* slot = find(state_names[i]);
    if (slot == nullptr || !slot->value) continue;
    if (slot->value->expires_at_ms != 0) {
      if (now < 0) now = now_ms();
      if (slot->value->expires_at_ms <= now) continue;  // expired reads as absent, as from RocksDB
    }
    (*out)[i] = &*slot->value;
  }
  // No eviction here (it could free what `out` points at): the caller evicts after its writes.
  return Status::Ok();
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
  return std::make_unique<Batch>(inner_);
}

size_t StateCache::AddDirtyTo(StateWriteBatch& out) const {
  size_t added = 0;
  for (const Node* node : dirty_) {
    const Entry& entry = node->value;
    for (const Slot& slot : entry.slots) {
      if (!slot.dirty) continue;
      ++added;
      if (slot.value) {
        out.PutValue(entry.kg, node->key, slot.name, *slot.value);
      } else {
        out.DeleteValue(entry.kg, node->key, slot.name);
      }
    }
  }
  return added;
}

void StateCache::MarkAllClean() {
  for (Node* node : dirty_) {
    Entry& entry = node->value;
    entry.dirty = false;
    for (Slot& slot : entry.slots) slot.dirty = false;
  }
  dirty_.clear();
}

Status StateCache::Commit(StateWriteBatch& batch) {
  auto& b = static_cast<Batch&>(batch);
  if (b.HasDelayed()) {
    // Delayed-message changes are durable at once, atomically with every value written so far
    // (including this batch's): the durable state never has one without the other.
    (void)AddDirtyTo(*b.inner_);
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

void StateCache::Put(KeyGroup kg, const Address& address, std::string_view name,
                     std::optional<StoredValue> value) {
  SetSlot(EntryFor(kg, address), name, std::move(value), /*dirty=*/true);
}

// Approximately RocksDB's key order (key group, then the length-prefixed address; here only
// the id's length and first bytes): consecutive inserts then land next to each other in the
// memtable's skip list, which costs far less than random inserts when many distinct addresses
// are dirty (1,000,000 keys). A 64-bit key per node keeps the sort itself cheap; order is only a
// locality hint, correctness does not depend on it.
void StateCache::SortDirtyByKey() {
  if (dirty_.size() < 64) return;
  std::vector<std::pair<uint64_t, Node*>> keyed;
  keyed.reserve(dirty_.size());
  for (Node* node : dirty_) {
    const std::string& id = node->key.id;
    uint64_t key = (static_cast<uint64_t>(node->value.kg & 0xffff) << 48) |
                   (static_cast<uint64_t>(std::min<size_t>(id.size(), 255)) << 40);
    for (size_t i = 0; i < 5 && i < id.size(); ++i) {
      key |= static_cast<uint64_t>(static_cast<unsigned char>(id[i])) << (32 - 8 * i);
    }
    keyed.emplace_back(key, node);
  }
  std::sort(keyed.begin(), keyed.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < keyed.size(); ++i) dirty_[i] = keyed[i].second;
}

Status StateCache::Flush(size_t* values_written) {
  if (values_written != nullptr) *values_written = 0;
  if (dirty_.empty()) return Status::Ok();
  SortDirtyByKey();
  auto batch = inner_->NewWriteBatch();
  const size_t values = AddDirtyTo(*batch);
  EDDY_RETURN_IF_ERROR(inner_->Commit(*batch));
  if (values_written != nullptr) *values_written = values;
  MarkAllClean();
  Evict(3 * entries_.slot_count() + 2);  // a pass to clear bits, a pass to evict, re-looks
  return Status::Ok();
}

void StateCache::Evict(size_t max_visits) {
  // Only clean entries can go; dirty ones wait for the next Flush (the shard flushes often, and
  // the dirty set is bounded by the messages in flight, which FlowControl bounds).
  // Bounded sweep: when most entries are dirty (a flush is due anyway) or recently used, walking
  // the whole table on every commit would cost the shard more than the memory saved; the next
  // call continues where this one stopped. Flush sweeps (up to) twice around the table instead
  // (every entry then is clean), so the cache is back under its capacity after every flush and
  // OverCapacity cannot trigger a flush per message.
  size_t visits = 0;
  while (bytes_ > capacity_bytes_ && !entries_.empty() && visits++ < max_visits) {
    if (hand_ >= entries_.slot_count()) hand_ = 0;
    Node* node = entries_.NodeAt(hand_);
    if (node == nullptr || node->value.dirty) {
      ++hand_;
      continue;
    }
    if (node->value.referenced) {
      node->value.referenced = false;  // second chance
      ++hand_;
      continue;
    }
    bytes_ -= node->value.bytes;
    if (node == last_) last_ = nullptr;
    entries_.EraseAt(hand_);  // a later node may move into this slot: look at it next
  }
}

Status StateCache::Close() { return Flush(); }

}  // namespace eddy
