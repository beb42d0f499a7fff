#pragma once
// ProgressTracker: tells the ingress which of its records are fully processed, so it commits
// offsets only for those (at-least-once without checkpoints).
//
// Ingress time is cut into epochs. Every unit of outstanding work (an envelope not yet
// processed, an egress record not yet acknowledged) holds one count on an epoch. Work derived
// from a batch (outgoing messages, egress records) is acquired on the *lowest* epoch of that
// batch before the batch's own counts are released, so "every epoch <= E has count 0" can never
// be observed too early. Epoch E is complete when it is closed and every epoch <= E is at zero;
// the ingress then commits the offsets it recorded when it closed E.
//
// Thread-safety: Acquire/Release from any thread (lock-free atomics); CloseEpoch and
// CompletedThrough from the ingress thread only.

#include <array>
#include <atomic>
#include <cstdint>

namespace eddy {

class ProgressTracker {
 public:
  static constexpr uint64_t kSlots = 1024;

  ProgressTracker() = default;

  uint64_t CurrentEpoch() const { return current_.load(std::memory_order_acquire); }

  void Acquire(uint64_t epoch, int64_t n = 1) {
    slot(epoch).fetch_add(n, std::memory_order_acq_rel);
  }
  void Release(uint64_t epoch, int64_t n = 1) {
    slot(epoch).fetch_sub(n, std::memory_order_acq_rel);
  }

  // Closes the current epoch and opens the next, unless the ring is full (the oldest incomplete
  // epoch is kSlots behind); returns true when it advanced.
  bool CloseEpoch() {
    uint64_t cur = current_.load(std::memory_order_relaxed);
    if (cur + 1 - completed_next_ >= kSlots) return false;
    current_.store(cur + 1, std::memory_order_release);
    return true;
  }

  // Highest closed epoch E such that every epoch <= E has no outstanding work; -1 when none.
  int64_t CompletedThrough() {
    uint64_t cur = current_.load(std::memory_order_acquire);
    while (completed_next_ < cur && slot(completed_next_).load(std::memory_order_acquire) == 0) {
      ++completed_next_;
    }
    return static_cast<int64_t>(completed_next_) - 1;
  }

 private:
  std::atomic<int64_t>& slot(uint64_t epoch) { return slots_[epoch % kSlots]; }
  std::array<std::atomic<int64_t>, kSlots> slots_{};
  std::atomic<uint64_t> current_{0};
  uint64_t completed_next_ = 0;  // ingress thread only
};

}  // namespace eddy
