#pragma once
// StateCache: a shard's write-back cache in front of the shared StateBackend (RocksDB).
//
// Why: with fast (embedded) functions the per-request RocksDB read and write dominated the
// shard's time (a memtable insert and a WAL write per reply, most of them overwriting the same
// hot keys). The cache serves reads of recently used addresses from memory and keeps state
// writes in memory until Flush, which writes every dirty value in one RocksDB batch: hot keys are
// written once per flush instead of once per message.
//
// Durability contract (what the shard relies on):
//  - Flush writes *all* dirty values at once, so what is durable is always the shard's state as
//    of one point in its history, never a mix.
//  - A batch that carries delayed-message changes commits immediately, together with every dirty
//    value, so state and delayed messages stay atomic with each other as without the cache.
//  - The shard releases a message's progress/flow counts only after a Flush made its effects
//    durable (Shard::FinishInflight), so ingress offsets never run ahead of durable state.
//
// One instance per shard, used only on that shard's thread (no locks). Delayed-message reads go
// straight to the inner backend (they are always durable). Clean entries are evicted least
// recently used first when the cache holds more than `capacity_bytes`.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "eddy/state/state_backend.h"

namespace eddy {

class StateCache final : public StateBackend {
 public:
  StateCache(StateBackend* inner, size_t capacity_bytes);
  ~StateCache() override;

  Result<std::vector<std::optional<StoredValue>>> ReadValues(
      KeyGroup kg, const Address& address, const std::vector<std::string>& state_names,
      int64_t now_ms) override;
  Result<std::optional<DelayedRecord>> FindDelayedByToken(KeyGroup kg, const Address& sender,
                                                          std::string_view token) override;
  Status ScanDelayed(KeyGroup first, KeyGroup last,
                     const std::function<Status(KeyGroup, DelayedRecord)>& visit) override;
  std::unique_ptr<StateWriteBatch> NewWriteBatch() override;
  Status Commit(StateWriteBatch& batch) override;
  // Flushes; does not close the inner backend (shared by all shards).
  Status Close() override;

  // Writes every dirty value to the inner backend in one batch. On failure nothing is marked
  // clean (the next Flush retries).
  Status Flush();
  bool HasDirty() const { return !dirty_.empty(); }
  size_t dirty_addresses() const { return dirty_.size(); }
  size_t bytes() const { return bytes_; }
  // Dirty state alone is over the capacity: the shard should flush now rather than on its timer.
  bool OverCapacity() const { return bytes_ > capacity_bytes_ && !dirty_.empty(); }

 private:
  struct Slot {
    std::string name;
    std::optional<StoredValue> value;  // nullopt = known absent
    bool dirty = false;
  };
  struct Entry {
    KeyGroup kg = 0;
    std::vector<Slot> slots;
    bool dirty = false;
    size_t bytes = 0;
    std::list<const Address*>::iterator lru;
  };
  class Batch;
  using Node = std::pair<const Address, Entry>;  // stable address inside entries_

  Node& EntryFor(KeyGroup kg, const Address& address);
  Slot& SlotFor(Entry& entry, std::string_view name, bool* created);
  void SetSlot(Node& node, std::string_view name, std::optional<StoredValue> value, bool dirty);
  void AddDirtyTo(StateWriteBatch& out) const;
  void MarkAllClean();
  void Evict();
  static size_t SlotBytes(const Slot& slot);

  StateBackend* inner_;
  size_t capacity_bytes_;
  size_t bytes_ = 0;
  std::unordered_map<Address, Entry, AddressHash> entries_;
  std::list<const Address*> lru_;  // front = most recently used; points at entries_' keys
  std::vector<Node*> dirty_;  // nodes with dirty slots (pointers stay valid: node-based map)
};

}  // namespace eddy
