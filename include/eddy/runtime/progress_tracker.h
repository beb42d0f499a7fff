#pragma once
// ProgressTracker: tells each ingress which of its records are fully processed, so it commits
// offsets only for those (at-least-once without checkpoints; checkpoints replace this later).
//
// Time is cut into epochs by one closer (the worker's timer calls CloseEpoch). Every unit of
// outstanding work (an envelope not yet processed, an egress record not yet acknowledged) holds
// one count on an epoch:
// - An ingress pins new records with Pin(n), which counts them on the current epoch and returns
//   it. Pin re-checks the epoch after counting, so a record is never counted on an epoch that
//   was already closed (seq_cst makes the check and CloseEpoch totally ordered).
// - Work derived from a batch (outgoing messages, egress records) is acquired on the *lowest*
//   epoch of that batch before the batch's own counts are released, so "every epoch <= E is at
//   zero" is never observed while descendants of an epoch-E record are still pending.
// Epoch E is complete when it is closed and every epoch <= E is at zero; an ingress then commits
// the positions it had reached when it first pinned a record on an epoch after E.
//
// Thread-safety: every method may be called from any thread; all are lock-free.

#include <array>
#include <atomic>
#include <cstdint>

namespace eddy {

class ProgressTracker {
 public:
  static constexpr uint64_t kSlots = 1024;

  uint64_t CurrentEpoch() const { return current_.load(); }

  // Counts n new records on the current (open) epoch and returns that epoch.
  uint64_t Pin(int64_t n = 1) {
    for (;;) {
      uint64_t e = current_.load();
      slot(e).fetch_add(n);
      if (current_.load() == e) return e;
      slot(e).fetch_sub(n);  // the epoch closed meanwhile: count on the next one instead
    }
  }

  // For derived work: `epoch` must already hold a count (the batch that derives it).
  void Acquire(uint64_t epoch, int64_t n = 1) { slot(epoch).fetch_add(n); }
  void Release(uint64_t epoch, int64_t n = 1) { slot(epoch).fetch_sub(n); }

  // Closes the current epoch and opens the next, unless that would reuse the slot of an epoch
  // not yet complete (then the current epoch just lasts longer). Returns true when it advanced.
  bool CloseEpoch() {
    uint64_t cur = current_.load();
    if (cur + 1 - CompletedNext() >= kSlots) return false;
    current_.store(cur + 1);
    return true;
  }

  // Highest closed epoch E such that every epoch <= E has no outstanding work; -1 when none.
  int64_t CompletedThrough() { return static_cast<int64_t>(CompletedNext()) - 1; }

 private:
  uint64_t CompletedNext() {
    uint64_t next = completed_next_.load();
    uint64_t cur = current_.load();
    uint64_t n = next;
    while (n < cur && slot(n).load() == 0) ++n;
    // Another caller may have advanced further; keep the maximum.
    while (n > next && !completed_next_.compare_exchange_weak(next, n)) {
    }
    return n > next ? n : next;
  }

  std::atomic<int64_t>& slot(uint64_t epoch) { return slots_[epoch % kSlots]; }
  std::array<std::atomic<int64_t>, kSlots> slots_{};
  std::atomic<uint64_t> current_{0};
  std::atomic<uint64_t> completed_next_{0};
};

}  // namespace eddy
