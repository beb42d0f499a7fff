#pragma once
// Inbox: a shard's multi-producer, single-consumer queue of envelopes (Vyukov's intrusive MPSC
// queue). Producers (ingress threads, other shards) push without locks; only the owning shard
// pops. Unbounded by itself: FlowControl bounds what ingresses put in, and refusing
// function-to-function messages could deadlock cycles of functions.

#include <atomic>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "eddy/runtime/envelope.h"

namespace eddy {

class Inbox {
 public:
  Inbox() : head_(&stub_), tail_(&stub_) {}
  ~Inbox() {
    while (Pop()) {
    }
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  // Any thread.
  void Push(Envelope envelope) {
    Node* node = new Node{{nullptr}, std::move(envelope), {}};
    Node* prev = head_.exchange(node, std::memory_order_acq_rel);
    prev->next.store(node, std::memory_order_release);
  }

  // Any thread. The whole vector becomes one node: one allocation and one contended exchange
  // for the batch instead of one per envelope (per-envelope nodes, allocated by the ingress
  // thread and freed by the shard, cost a cross-thread malloc/free pair per message).
  void PushBatch(std::vector<Envelope>&& envelopes) {
    if (envelopes.empty()) return;
    Node* node = new Node{{nullptr}, {}, std::move(envelopes)};
    Node* prev = head_.exchange(node, std::memory_order_acq_rel);
    prev->next.store(node, std::memory_order_release);
  }

  // Owner thread only: the envelopes the next Pops return from the batch node being handed out
  // (empty when the next Pop takes a new node). For prefetching; Pop is unchanged by it.
  std::span<const Envelope> PeekBatch() const {
    return {batch_.data() + batch_pos_, batch_.size() - batch_pos_};
  }

  // Owner thread only. nullopt when empty, or when a producer is half-way through a push (its
  // envelope becomes visible to a later Pop; the producer's wake-up guarantees that Pop happens).
  std::optional<Envelope> Pop() {
    if (batch_pos_ < batch_.size()) return TakeFromBatch();
    Node* tail = tail_;
    Node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) return std::nullopt;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return Take(tail);
    }
    if (tail != head_.load(std::memory_order_acquire)) return std::nullopt;  // push in progress
    // tail is the last node: re-insert the stub behind it so tail can be handed out.
    stub_.next.store(nullptr, std::memory_order_relaxed);
    Node* prev = head_.exchange(&stub_, std::memory_order_acq_rel);
    prev->next.store(&stub_, std::memory_order_release);
    next = tail->next.load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return Take(tail);
    }
    return std::nullopt;
  }

 private:
  struct Node {
    std::atomic<Node*> next;
    Envelope envelope;            // a single Push
    std::vector<Envelope> batch;  // a PushBatch (non-empty)
  };
  std::optional<Envelope> Take(Node* node) {
    if (!node->batch.empty()) {
      batch_ = std::move(node->batch);
      batch_pos_ = 0;
      delete node;
      return TakeFromBatch();
    }
    std::optional<Envelope> out(std::move(node->envelope));
    delete node;
    return out;
  }
  std::optional<Envelope> TakeFromBatch() {
    std::optional<Envelope> out(std::move(batch_[batch_pos_++]));
    if (batch_pos_ == batch_.size()) {
      batch_.clear();
      batch_pos_ = 0;
    }
    return out;
  }

  Node stub_{{nullptr}, {}, {}};
  std::atomic<Node*> head_;  // producers push here
  Node* tail_;               // consumer pops here
  std::vector<Envelope> batch_;  // consumer: the batch node being handed out
  size_t batch_pos_ = 0;
};

}  // namespace eddy
