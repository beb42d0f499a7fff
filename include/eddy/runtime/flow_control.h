#pragma once
// FlowControl: the global bound on buffered messages. Shards add and remove what they buffer
// (inboxes, mailbox backlogs, batches in flight); the ingress asks ShouldPause() before every
// poll and pauses its partitions until ShouldResume(). Relaxed atomics: the bound is a soft
// high-water mark, overshoot is at most one poll's worth of records.
//
// Other bounded buffers downstream of the shards (an exactly-once egress waiting for its
// checkpoint to commit) hold back the ingresses too: Hold(+1) while over their own bound,
// Hold(-1) once below it again. Ingestion resumes only when nobody holds.

#include <atomic>
#include <cstdint>

namespace eddy {

class FlowControl {
 public:
  explicit FlowControl(uint64_t max_buffered) : max_(max_buffered), low_(max_buffered / 2) {}

  void Add(int64_t n) { buffered_.fetch_add(n, std::memory_order_relaxed); }
  int64_t Buffered() const { return buffered_.load(std::memory_order_relaxed); }
  uint64_t Max() const { return max_; }

  void Hold(int n) { holds_.fetch_add(n, std::memory_order_relaxed); }
  int Holds() const { return holds_.load(std::memory_order_relaxed); }

  bool ShouldPause() const { return Buffered() >= static_cast<int64_t>(max_) || Holds() > 0; }
  bool ShouldResume() const { return Buffered() <= static_cast<int64_t>(low_) && Holds() == 0; }

 private:
  std::atomic<int64_t> buffered_{0};
  std::atomic<int> holds_{0};
  const uint64_t max_;
  const uint64_t low_;
};

}  // namespace eddy
