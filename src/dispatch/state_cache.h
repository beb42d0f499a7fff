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
// straight to the inner backend (they are always durable). Clean entries are evicted when the
// cache holds more than `capacity_bytes`, in CLOCK order (an approximation of least recently
// used: a sweeping hand gives every entry used since its last visit a second chance). An exact
// LRU list cost a list-node splice per access, i.e. extra cache misses per message at 1,000,000
// addresses; entries live in an AddressTable (address_table.h) for the same reason.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dispatch/address_table.h"
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

  // The shard's inline read: ReadValues without copies. (*out)[i] points at the cached value of
  // state_names[i], nullptr when absent or expired; valid until the next call on this cache.
  // Does not evict (call EvictIfNeeded after using the values).
  // `hash`, when given, must be HashOf(address) (computed earlier for a prefetch).
  // `now_ms` is only called when a value has a TTL or states are loaded (a clock read per
  // message was measurable).
  Status ReadRefs(KeyGroup kg, const Address& address, const std::vector<std::string>& state_names,
                  const std::function<int64_t()>& now_ms, std::vector<const StoredValue*>* out,
                  const uint64_t* hash = nullptr);
  static uint64_t HashOf(const Address& address) { return Table::HashOf(address); }
  // Prefetching only pays when the table is larger than the CPU caches (measured: a loss at
  // 1,000 addresses, a gain at 1,000,000).
  bool WorthPrefetching() const { return entries_.slot_count() >= (size_t{1} << 16); }
  void PrefetchSlot(uint64_t hash) const { entries_.PrefetchSlot(hash); }
  void PrefetchEntry(uint64_t hash) const { entries_.PrefetchNode(hash); }

  // The shard's fast path for a reply without delayed-message changes: one value change (nullopt
  // deletes), kept dirty exactly as Commit keeps a batch's value changes. Call EvictIfNeeded
  // after the reply's last change.
  void Put(KeyGroup kg, const Address& address, std::string_view name,
           std::optional<StoredValue> value);
  void EvictIfNeeded() { Evict(); }

  // Writes every dirty value to the inner backend in one batch. On failure nothing is marked
  // clean (the next Flush retries). `values_written`, when given, receives how many values the
  // batch held (0 on failure).
  Status Flush(size_t* values_written = nullptr);
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
    bool referenced = false;  // used since the CLOCK hand last passed
    size_t bytes = 0;
  };
  class Batch;
  using Table = AddressTable<Entry>;
  using Node = Table::Node;  // stable until evicted

  Node& EntryFor(KeyGroup kg, const Address& address, const uint64_t* hash = nullptr);
  Slot& SlotFor(Entry& entry, std::string_view name, bool* created);
  void SetSlot(Node& node, std::string_view name, std::optional<StoredValue> value, bool dirty);
  size_t AddDirtyTo(StateWriteBatch& out) const;  // returns the number of values added
  void SortDirtyByKey();
  void MarkAllClean();
  static constexpr size_t kEvictVisits = 1024;  // slots one eviction call may look at
  void Evict(size_t max_visits = kEvictVisits);
  static size_t SlotBytes(const Slot& slot);
  static size_t EntryBytes(const Node& node);

  StateBackend* inner_;
  size_t capacity_bytes_;
  size_t bytes_ = 0;
  Table entries_;
  size_t hand_ = 0;          // CLOCK hand: a slot index of entries_
  Node* last_ = nullptr;     // the last entry looked up (a reply's writes follow its read)
  std::vector<Node*> dirty_;  // nodes with dirty slots (never evicted, so pointers stay valid)
};

}  // namespace eddy
