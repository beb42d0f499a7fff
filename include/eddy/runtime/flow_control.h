#pragma once
// FlowControl: the global bound on buffered messages. Shards add and remove what they buffer
// (inboxes, mailbox backlogs, batches in flight); the ingress asks ShouldPause() before every
// poll and pauses its partitions until ShouldResume(). Relaxed atomics: the bound is a soft
// high-water mark, overshoot is at most one poll's worth of records.

#include <atomic>
#include <cstdint>

namespace eddy {

class FlowControl {
 public:
  explicit FlowControl(uint64_t max_buffered) : max_(max_buffered), low_(max_buffered / 2) {}

  void Add(int64_t n) { buffered_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Buffered() const { return buffered_.load(std::memory_order_relaxed); }
  uint64_t Max() const { return max_; }

  bool ShouldPause() const { return Buffered() >= static_cast<int64_t>(max_); }
  bool ShouldResume() const { return Buffered() <= static_cast<int64_t>(low_); }

 private:
  std::atomic<int64_t> buffered_{0};
  const uint64_t max_;
  const uint64_t low_;
};

}  // namespace eddy
