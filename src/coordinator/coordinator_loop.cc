#include "coordinator/coordinator_loop.h"

#include <algorithm>

namespace eddy::coordinator {

CoordinatorLoop::CoordinatorLoop(std::unique_ptr<CheckpointCoordinator> core, Clock* clock)
    : core_(std::move(core)), clock_(clock ? clock : SystemClock()) {}

CoordinatorLoop::~CoordinatorLoop() { Stop(); }

void CoordinatorLoop::Start() { thread_ = std::thread([this] { Run(); }); }

void CoordinatorLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void CoordinatorLoop::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void CoordinatorLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CoordinatorLoop::Run() {
  // With a test clock, the coordinator's deadlines do not follow real time: poll often instead.
  const auto max_wait = clock_ == SystemClock() ? std::chrono::milliseconds(1000)
                                                : std::chrono::milliseconds(5);
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty() && !woken_ && !stop_) {
      lock.unlock();
      auto until = core_->NextDeadline() - clock_->Now();
      lock.lock();
      auto wait = std::clamp<std::chrono::steady_clock::duration>(
          until, std::chrono::steady_clock::duration::zero(), max_wait);
      if (wait > std::chrono::steady_clock::duration::zero()) {
        cv_.wait_for(lock, wait, [this] { return !queue_.empty() || woken_ || stop_; });
      }
    }
    std::deque<std::function<void()>> batch;
    batch.swap(queue_);
    woken_ = false;
    bool stopping = stop_;
    lock.unlock();
    for (auto& fn : batch) fn();
    if (stopping) return;
    core_->Poll();
    lock.lock();
  }
}

}  // namespace eddy::coordinator
