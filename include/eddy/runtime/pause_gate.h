#pragma once
// PauseGate: the checkpoint cut's boundary inside an ingress thread. The ingress holds the gate
// (Enter/Exit) around one unit of work (routing one Kafka record, emitting one generator batch);
// Pause, from the checkpoint agent's thread, waits until no unit is in progress and keeps the
// next one out until Resume. Only ingresses use it, once per record or batch; the lock is not on
// the shard's message path.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace eddy {

class PauseGate {
 public:
  // Blocks while paused. False when the wait ended because `*stop` became true (then the gate
  // is not held). Wake() re-checks `stop` for a waiting thread.
  bool Enter(const std::atomic<bool>* stop = nullptr) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !paused_ || (stop != nullptr && stop->load()); });
    if (paused_) return false;
    busy_ = true;
    return true;
  }
  void Exit() {
    std::lock_guard lock(mu_);
    busy_ = false;
    cv_.notify_all();
  }
  // True once no unit is in progress (the gate then stays closed until Resume); false, with the
  // gate open again, when that did not happen within `timeout`.
  bool Pause(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    paused_ = true;
    if (cv_.wait_for(lock, timeout, [&] { return !busy_; })) return true;
    paused_ = false;
    cv_.notify_all();
    return false;
  }
  void Resume() {
    std::lock_guard lock(mu_);
    paused_ = false;
    cv_.notify_all();
  }
  void Wake() {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false;
  bool busy_ = false;
};

}  // namespace eddy
