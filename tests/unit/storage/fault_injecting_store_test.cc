#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "eddy/storage/object_store.h"
#include "unit/storage/storage_test_util.h"

namespace eddy::storage {
namespace {

using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  ObjectStorePtr Wrap(FaultPlan plan) {
    counters_ = plan.counters;
    auto inner = OpenObjectStore(testing::FileConfig("file://" + dir_.path() + "/store"));
    EXPECT_TRUE(inner.ok());
    return MakeFaultInjectingStore(std::move(inner).value(), std::move(plan));
  }
  TempDir dir_;
  std::shared_ptr<FaultCounters> counters_;
};

TEST_F(FaultInjectingStoreTest, FailsTheNthCallOnce) {
  FaultPlan plan;
  plan.fail_nth = {{StoreOp::kPut, 2}, {StoreOp::kGet, 1}};
  auto store = Wrap(std::move(plan));
  EXPECT_TRUE(store->Put("a", "1").ok());
  Status second = store->Put("b", "2");
  EXPECT_EQ(second.code(), StatusCode::kUnavailable);
  EXPECT_NE(second.message().find("injected fault"), std::string::npos) << second.message();
  EXPECT_TRUE(store->Put("c", "3").ok());
  EXPECT_EQ(store->Get("a").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*store->Get("a"), "1");
  EXPECT_EQ(store->Get("b").status().code(), StatusCode::kNotFound);  // never reached the store
  EXPECT_EQ(counters_->calls(StoreOp::kPut), 3);
  EXPECT_EQ(counters_->calls(StoreOp::kGet), 3);
  EXPECT_EQ(counters_->calls(StoreOp::kDelete), 0);
  EXPECT_EQ(counters_->faults(), 2);
}

TEST_F(FaultInjectingStoreTest, FailsEveryCallWhoseKeyMatches) {
  FaultPlan plan;
  plan.fail_key_substring = "chk-3/";
  plan.fault_code = StatusCode::kDeadlineExceeded;
  auto store = Wrap(std::move(plan));
  EXPECT_EQ(store->Put("chk-3/a", "x").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store->Get("chk-3/a").status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store->List("chk-3/").status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(store->Delete("chk-3/a").code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(store->Put("chk-4/a", "x").ok());
  auto all = store->List("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(counters_->faults(), 4);
}

TEST_F(FaultInjectingStoreTest, PartialPutFileLeavesTheOldObject) {
  FaultPlan plan;
  plan.put_file_fail_after_bytes = 1000;
  auto store = Wrap(std::move(plan));
  ASSERT_TRUE(store->Put("obj", "old").ok());
  WriteFile(dir_.path() + "/f", RandomBytes(50000, 1));
  Status st = store->PutFile("obj", dir_.path() + "/f");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("after 1000 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(*store->Get("obj"), "old");
  EXPECT_EQ(store->PutFile("new", dir_.path() + "/f").code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Get("new").status().code(), StatusCode::kNotFound);
}

TEST_F(FaultInjectingStoreTest, CorruptsReads) {
  FaultPlan plan;
  plan.corrupt_get = true;
  auto store = Wrap(std::move(plan));
  std::string data = RandomBytes(4096, 2);
  ASSERT_TRUE(store->Put("obj", data).ok());
  ASSERT_TRUE(store->Put("empty", "").ok());
  auto got = store->Get("obj");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size(), data.size());
  EXPECT_NE(*got, data);
  EXPECT_NE(*store->Get("empty"), "");
  std::string local = dir_.path() + "/local";
  ASSERT_TRUE(store->GetFile("obj", local).ok());
  std::string file = ReadFile(local);
  EXPECT_EQ(file.size(), data.size());
  EXPECT_NE(file, data);
  EXPECT_EQ(file, *got);
}

TEST_F(FaultInjectingStoreTest, CountersAreThreadSafe) {
  FaultPlan plan;
  plan.fail_nth = {{StoreOp::kGet, 250}};
  auto store = Wrap(std::move(plan));
  ASSERT_TRUE(store->Put("k", "v").ok());
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        if (!store->Get("k").ok()) ++failed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counters_->calls(StoreOp::kGet), 400);
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(counters_->faults(), 1);
  EXPECT_STREQ(StoreOpName(StoreOp::kGetFile), "GetFile");
}

}  // namespace
}  // namespace eddy::storage
