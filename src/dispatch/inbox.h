#pragma once
// Inbox: a shard's multi-producer, single-consumer queue of envelopes (Vyukov's intrusive MPSC
// queue). Producers (ingress threads, other shards) push without locks; only the owning shard
// pops. Unbounded by itself: FlowControl bounds what ingresses put in, and refusing
// function-to-function messages could deadlock cycles of functions.

#include <atomic>
#include <optional>
#include <utility>

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
    Node* node = new Node{{nullptr}, std::move(envelope)};
    Node* prev = head_.exchange(node, std::memory_order_acq_rel);
    prev->next.store(node, std::memory_order_release);
  }

  // Owner thread only. nullopt when empty, or when a producer is half-way through a push (its
  // envelope becomes visible to a later Pop; the producer's wake-up guarantees that Pop happens).
  std::optional<Envelope> Pop() {
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
    Envelope envelope;
  };
  static std::optional<Envelope> Take(Node* node) {
    std::optional<Envelope> out(std::move(node->envelope));
    delete node;
    return out;
  }

  Node stub_{{nullptr}, {}};
  std::atomic<Node*> head_;  // producers push here
  Node* tail_;               // consumer pops here
};

}  // namespace eddy
