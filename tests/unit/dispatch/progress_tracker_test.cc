#include "eddy/runtime/progress_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace eddy {
namespace {

TEST(ProgressTracker, EpochCompletesOnlyWhenAllEarlierWorkIsDone) {
  ProgressTracker t;
  uint64_t e0 = t.Pin(2);
  EXPECT_EQ(e0, 0u);
  EXPECT_EQ(t.CompletedThrough(), -1);
  ASSERT_TRUE(t.CloseEpoch());
  uint64_t e1 = t.Pin(1);
  EXPECT_EQ(e1, 1u);
  ASSERT_TRUE(t.CloseEpoch());
  t.Release(e1);
  EXPECT_EQ(t.CompletedThrough(), -1) << "epoch 1 is done but epoch 0 is not";
  t.Acquire(e0, 3);  // derived work of an epoch-0 batch
  t.Release(e0, 2);
  EXPECT_EQ(t.CompletedThrough(), -1);
  t.Release(e0, 3);
  EXPECT_EQ(t.CompletedThrough(), 1);
}

TEST(ProgressTracker, OpenEpochNeverCompletes) {
  ProgressTracker t;
  EXPECT_EQ(t.CompletedThrough(), -1);  // epoch 0 is open even with nothing pinned
  t.CloseEpoch();
  EXPECT_EQ(t.CompletedThrough(), 0);
}

TEST(ProgressTracker, RingFullStopsAdvancing) {
  ProgressTracker t;
  t.Pin(1);  // epoch 0 stays incomplete
  int advanced = 0;
  for (uint64_t i = 0; i < ProgressTracker::kSlots + 10; ++i) advanced += t.CloseEpoch();
  EXPECT_EQ(advanced, static_cast<int>(ProgressTracker::kSlots) - 1);
  EXPECT_EQ(t.CompletedThrough(), -1);
}

// A record pinned concurrently with CloseEpoch is never lost: when its epoch reports complete,
// the record has been released.
TEST(ProgressTracker, PinRacingWithCloseIsSafe) {
  ProgressTracker t;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> violations{0};
  std::thread closer([&] {
    while (!stop) t.CloseEpoch();
  });
  for (int i = 0; i < 20000; ++i) {
    uint64_t e = t.Pin(1);
    if (t.CompletedThrough() >= static_cast<int64_t>(e)) violations++;
    t.Release(e);
  }
  stop = true;
  closer.join();
  EXPECT_EQ(violations.load(), 0);
}

}  // namespace
}  // namespace eddy
