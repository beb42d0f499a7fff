#pragma once
// Private to src/coordinator: the one thread that drives a CheckpointCoordinator. gRPC callback
// threads only post events here (the coordinator may block on storage while completing a
// checkpoint, and a blocked gRPC callback thread would stall unrelated streams); the loop runs
// them in order and calls Poll() whenever the coordinator's next deadline passes.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "eddy/coordinator/checkpoint_coordinator.h"

namespace eddy::coordinator {

class CoordinatorLoop {
 public:
  CoordinatorLoop(std::unique_ptr<CheckpointCoordinator> core, Clock* clock);
  ~CoordinatorLoop();  // Stop()

  void Start();
  // Runs `fn` on the loop thread. Dropped after Stop.
  void Post(std::function<void()> fn);
  // Wakes the loop so it re-reads the coordinator's deadline (after RequestCheckpoint).
  void Wake();
  // Runs what is queued, then joins. Idempotent.
  void Stop();

  CheckpointCoordinator& core() { return *core_; }

 private:
  void Run();

  std::unique_ptr<CheckpointCoordinator> core_;
  Clock* const clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace eddy::coordinator
