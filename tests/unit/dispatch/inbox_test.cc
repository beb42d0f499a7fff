#include "dispatch/inbox.h"

#include <gtest/gtest.h>

#include <chrono>
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

// Pops `producers * each` envelopes (target id = producer, epoch = sequence) and checks that
// each producer's arrive in the order it pushed them. A lost envelope fails after 30 s instead
// of hanging until the ctest timeout.
void ExpectPerProducerOrder(Inbox& inbox, int producers, int each) {
  std::vector<int> next(producers, 0);
  int received = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (received < producers * each) {
    auto e = inbox.Pop();
    if (!e) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "only " << received << " of " << producers * each << " envelopes arrived";
      std::this_thread::yield();
      continue;
    }
    int p = std::stoi(e->target.id);
    ASSERT_EQ(e->epoch, static_cast<uint64_t>(next[p])) << "producer " << p;
    next[p]++;
    received++;
  }
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
  ExpectPerProducerOrder(inbox, kProducers, kEach);
  for (auto& t : producers) t.join();
  EXPECT_FALSE(inbox.Pop());
}

// PushBatch: one node for many envelopes, popped one by one in order, interleaved correctly
// with single pushes before and after it.
TEST(Inbox, BatchesKeepOrderWithSinglePushes) {
  Inbox inbox;
  inbox.Push(Make(0, 0));
  std::vector<Envelope> batch;
  for (int i = 1; i <= 5; ++i) batch.push_back(Make(0, i));
  inbox.PushBatch(std::move(batch));
  inbox.PushBatch({});  // an empty batch is nothing
  inbox.Push(Make(0, 6));
  std::vector<Envelope> second{Make(0, 7)};
  inbox.PushBatch(std::move(second));
  for (int i = 0; i <= 7; ++i) {
    auto e = inbox.Pop();
    ASSERT_TRUE(e) << i;
    EXPECT_EQ(e->epoch, static_cast<uint64_t>(i));
  }
  EXPECT_FALSE(inbox.Pop());
}

// Undelivered batch envelopes are destroyed with the inbox (ASan checks for leaks).
TEST(Inbox, DestroysPendingBatches) {
  Inbox inbox;
  std::vector<Envelope> batch(3, Make(0, 1));
  inbox.PushBatch(std::move(batch));
  EXPECT_TRUE(inbox.Pop());  // one taken, two left in the consumer's current batch
  std::vector<Envelope> more(2, Make(0, 2));
  inbox.PushBatch(std::move(more));
}

TEST(Inbox, ConcurrentBatchAndSingleProducers) {
  Inbox inbox;
  constexpr int kProducers = 3;
  constexpr int kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&inbox, p] {
      std::vector<Envelope> batch;
      for (int i = 0; i < kEach; ++i) {
        if (p == 0) {
          inbox.Push(Make(p, i));
          continue;
        }
        batch.push_back(Make(p, i));
        if (batch.size() == static_cast<size_t>(p * 7)) {
          inbox.PushBatch(std::move(batch));
          batch.clear();
        }
      }
      inbox.PushBatch(std::move(batch));
    });
  }
  ExpectPerProducerOrder(inbox, kProducers, kEach);
  for (auto& t : producers) t.join();
  EXPECT_FALSE(inbox.Pop());
}

}  // namespace
}  // namespace eddy
