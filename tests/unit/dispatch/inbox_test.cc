#include "dispatch/inbox.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace eddy {
namespace {

Envelope Make(int producer, int seq) {
  Envelope e;
  e.target.id = std::to_string(producer);
  e.epoch = static_cast<uint64_t>(seq);
  return e;
}

TEST(Inbox, FifoSingleProducer) {
  Inbox inbox;
  EXPECT_FALSE(inbox.Pop());
  for (int i = 0; i < 100; ++i) inbox.Push(Make(0, i));
  for (int i = 0; i < 100; ++i) {
    auto e = inbox.Pop();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->epoch, static_cast<uint64_t>(i));
  }
  EXPECT_FALSE(inbox.Pop());
}

// Several producers, one consumer: nothing lost or duplicated, per-producer order kept.
TEST(Inbox, ConcurrentProducersKeepPerProducerOrder) {
  Inbox inbox;
  constexpr int kProducers = 3;
  constexpr int kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&inbox, p] {
      for (int i = 0; i < kEach; ++i) inbox.Push(Make(p, i));
    });
  }
  std::vector<int> next(kProducers, 0);
  int received = 0;
  while (received < kProducers * kEach) {
    auto e = inbox.Pop();
    if (!e) {
      std::this_thread::yield();
      continue;
    }
    int p = std::stoi(e->target.id);
    ASSERT_EQ(e->epoch, static_cast<uint64_t>(next[p])) << "producer " << p;
    next[p]++;
    received++;
  }
  for (auto& t : producers) t.join();
  EXPECT_FALSE(inbox.Pop());
}

}  // namespace
}  // namespace eddy
