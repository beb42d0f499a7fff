#pragma once
// AddressTable: an open-addressing hash table from Address to a heap node holding the key and a
// value, for per-shard maps that reach millions of addresses (the state cache).
//
// Why not std::unordered_map: at 1,000,000 keys a lookup there walks bucket -> previous node ->
// node, comparing whole addresses on the way (libstdc++ does not cache AddressHash), and every
// rehash re-hashes every key from its node: several cache misses per message, measured at ~15%
// of a shard's time. Here a lookup is one probe sequence over a flat array of (hash, node)
// pairs, where the full 64-bit hash filters candidates without touching them, plus one access
// to the node it finds; a rehash moves only the flat pairs.
//
// Nodes never move: a Node* stays valid until that node is erased (callers keep them in side
// lists). Erase uses backward-shift deletion (no tombstones), so probe sequences stay short
// under insert/erase churn. Erased nodes are kept (up to kMaxSpareNodes) and reused by later
// inserts together with their strings' capacity: a reused node's `value` still holds what the
// erased one left there, and the caller re-initializes it (Insert says whether it inserted).
// Single-threaded, like everything a shard owns.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/model/address.h"

namespace eddy {

template <typename V>
class AddressTable {
 public:
  struct Node {
    Address key;
    V value{};
    uint64_t hash = 0;
  };

  AddressTable() = default;
  ~AddressTable() {
    Clear();
    for (Node* n : spare_) delete n;
  }
  AddressTable(const AddressTable&) = delete;
  AddressTable& operator=(const AddressTable&) = delete;

  static uint64_t HashOf(const Address& a) {
    std::hash<std::string_view> h;
    uint64_t x = h(a.id);
    x = Combine(x, h(a.type.name));
    x = Combine(x, h(a.type.ns));
    // Final avalanche (SplitMix64's), so the low bits used as the home slot are well mixed.
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  Node* Find(const Address& key) const { return Find(key, HashOf(key)); }
  Node* Find(const Address& key, uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.node == nullptr) return nullptr;
      if (s.hash == hash && s.node->key == key) return s.node;
    }
  }

  // Prefetch hints (no effect on results): the home slot of `hash`, and the node found there.
  // A caller that knows upcoming keys issues the slot prefetches first and the node prefetches
  // later, so the two dependent cache misses of a lookup overlap with other work.
  void PrefetchSlot(uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }
  void PrefetchNode(uint64_t hash) const {
    if (slots_.empty()) return;
    const Slot& s = slots_[hash & mask_];
    if (s.node == nullptr || s.hash != hash) return;
    const char* p = reinterpret_cast<const char*>(s.node);
    for (size_t at = 0; at < sizeof(Node); at += 64) __builtin_prefetch(p + at);
  }

  // The node for `key`, inserted when absent (second = true; see the reuse note above).
  std::pair<Node*, bool> Insert(const Address& key) { return Insert(key, HashOf(key)); }
  std::pair<Node*, bool> Insert(const Address& key, uint64_t hash) {
    if (Node* found = Find(key, hash)) return {found, false};
    if ((size_ + 1) * 10 > slots_.size() * 7) Grow();
    Node* node;
    if (spare_.empty()) {
      node = new Node();
    } else {
      node = spare_.back();
      spare_.pop_back();
    }
    node->key = key;  // assignment keeps a reused node's string capacity
    node->hash = hash;
    size_t i = hash & mask_;
    while (slots_[i].node != nullptr) i = (i + 1) & mask_;
    slots_[i] = Slot{hash, node};
    ++size_;
    return {node, true};
  }

  // `node` must be in the table; it is invalid afterwards.
  void Erase(Node* node) {
    size_t i = node->hash & mask_;
    while (slots_[i].node != node) i = (i + 1) & mask_;
    EraseAt(i);
  }

  // Slot-level access, for a sweep over every node (e.g. a CLOCK eviction hand). EraseAt(i)
  // may move a later node into slot i, so a sweep that erases at i looks at i again before
  // moving on; such a sweep never skips a node (it may see one twice after wrapping around).
  size_t slot_count() const { return slots_.size(); }
  Node* NodeAt(size_t i) const { return slots_[i].node; }
  void EraseAt(size_t i) {
    Node* node = slots_[i].node;
    // Backward-shift deletion: pull later members of the probe run into the hole, unless their
    // home slot lies cyclically in (hole, their position].
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j].node != nullptr; j = (j + 1) & mask_) {
      size_t home = slots_[j].hash & mask_;
      bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{};
    --size_;
    if (spare_.size() < kMaxSpareNodes) {
      spare_.push_back(node);
    } else {
      delete node;
    }
  }

  template <typename F>
  void ForEach(F&& visit) const {
    for (const Slot& s : slots_) {
      if (s.node != nullptr) visit(*s.node);
    }
  }

  void Clear() {
    for (Slot& s : slots_) {
      delete s.node;
      s = Slot{};
    }
    size_ = 0;
  }

 private:
  static constexpr size_t kMaxSpareNodes = 1024;
  struct Slot {
    uint64_t hash = 0;
    Node* node = nullptr;  // nullptr: empty
  };

  static uint64_t Combine(uint64_t seed, uint64_t v) {
    return seed ^ (v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
  }

  void Grow() {
    std::vector<Slot> old = std::move(slots_);
    size_t n = old.empty() ? 16 : old.size() * 2;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    for (const Slot& s : old) {
      if (s.node == nullptr) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].node != nullptr) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
  std::vector<Node*> spare_;
};

}  // namespace eddy
