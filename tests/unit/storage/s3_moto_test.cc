// The S3 backend against moto_server in auth mode: real SigV4 verification, real listings and
// multipart uploads. Skipped (with the reason) when moto_server is not installed.
#include <gtest/gtest.h>

#include <thread>

#include "eddy/storage/object_store.h"
#include "fakes/moto_server.h"
#include "unit/storage/storage_test_util.h"

namespace eddy::storage {
namespace {

using eddy::testing::MotoServer;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

class S3MotoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (MotoServer::FindBinary().empty()) return;
    auto m = MotoServer::Start("eddy-storage-test");
    if (!m.ok()) {
      start_error_ = new std::string(m.status().ToString());
      return;
    }
    moto_ = std::move(m).value().release();
  }
  static void TearDownTestSuite() {
    delete moto_;
    moto_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }
  void SetUp() override {
    if (MotoServer::FindBinary().empty()) {
      GTEST_SKIP() << "moto_server is not on PATH (it comes with the machine image's Python and "
                      "cannot be installed from here)";
    }
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    ASSERT_NE(moto_, nullptr);
  }

  // A store under a prefix of its own per test, so tests do not see each other's objects.
  StorageConfig Config(const std::string& prefix) const {
    StorageConfig c;
    c.uri = "s3://" + moto_->bucket() + "/" + prefix;
    c.endpoint = moto_->endpoint();
    c.access_key_id = moto_->access_key_id();
    c.secret_access_key = moto_->secret_access_key();
    c.max_attempts = 2;
    c.retry_base_delay = std::chrono::milliseconds(5);
    c.request_timeout = std::chrono::milliseconds(10000);
    return c;
  }
  ObjectStorePtr Open(const StorageConfig& c) const {
    auto s = OpenObjectStore(c);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static MotoServer* moto_;
  static std::string* start_error_;
};
MotoServer* S3MotoTest::moto_ = nullptr;
std::string* S3MotoTest::start_error_ = nullptr;

TEST_F(S3MotoTest, PutGetOverwriteDelete) {
  auto store = Open(Config("basic"));
  std::string binary("x\0y\xff\r\n", 6);
  ASSERT_TRUE(store->Put("chk-1/w0/snapshot.pb", binary).ok());
  auto got = store->Get("chk-1/w0/snapshot.pb");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, binary);
  ASSERT_TRUE(store->Put("chk-1/w0/snapshot.pb", "v2").ok());
  EXPECT_EQ(*store->Get("chk-1/w0/snapshot.pb"), "v2");
  ASSERT_TRUE(store->Put("empty", "").ok());
  EXPECT_EQ(*store->Get("empty"), "");
  ASSERT_TRUE(store->Delete("chk-1/w0/snapshot.pb").ok());
  EXPECT_EQ(store->Get("chk-1/w0/snapshot.pb").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store->Delete("chk-1/w0/snapshot.pb").ok());  // absent is OK
  EXPECT_EQ(store->Put("bad key", "x").code(), StatusCode::kInvalidArgument);
}

TEST_F(S3MotoTest, ListPaginatesWithSmallPages) {
  StorageConfig c = Config("list");
  c.list_page_size = 2;  // 7 objects -> 4 pages through continuation tokens
  auto store = Open(c);
  std::vector<std::string> want;
  for (int i = 6; i >= 0; --i) {
    std::string key = "chk-1/w" + std::to_string(i % 2) + "/f" + std::to_string(i);
    ASSERT_TRUE(store->Put(key, std::string(static_cast<size_t>(i), 'a')).ok());
    want.push_back(key);
  }
  ASSERT_TRUE(store->Put("chk-10/other", "x").ok());
  ASSERT_TRUE(store->Put("chk-2/other", "x").ok());
  std::sort(want.begin(), want.end());
  auto r = store->List("chk-1/");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string> keys;
  for (const auto& o : *r) {
    keys.push_back(o.key);
    EXPECT_EQ(o.size, o.key.back() - '0') << o.key;
  }
  EXPECT_EQ(keys, want);
  auto all = store->List("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 9u);
  auto none = store->List("chk-3/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(S3MotoTest, KeysAreRelativeToTheUriPrefix) {
  auto nested = Open(Config("root/sub"));
  ASSERT_TRUE(nested->Put("LATEST", "7").ok());
  auto whole = Open(Config(""));
  auto r = whole->List("root/");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].key, "root/sub/LATEST");
  EXPECT_EQ(*whole->Get("root/sub/LATEST"), "7");
  auto listed = nested->List("");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].key, "LATEST");
}

TEST_F(S3MotoTest, PutFileAndGetFileRoundTrip) {
  auto store = Open(Config("files"));
  TempDir dir;
  std::string data = RandomBytes(1 << 20, 11);
  WriteFile(dir.path() + "/in", data);
  ASSERT_TRUE(store->PutFile("sst/000007.sst", dir.path() + "/in").ok());
  ASSERT_TRUE(store->GetFile("sst/000007.sst", dir.path() + "/restore/000007.sst").ok());
  EXPECT_EQ(ReadFile(dir.path() + "/restore/000007.sst"), data);
  EXPECT_EQ(store->GetFile("sst/absent", dir.path() + "/x").code(), StatusCode::kNotFound);
}

TEST_F(S3MotoTest, MultipartUploadRoundTrip) {
  StorageConfig c = Config("multipart");
  c.multipart_threshold = 5 << 20;
  c.part_size = 5 << 20;  // 12 MiB -> parts of 5, 5 and 2 MiB
  auto store = Open(c);
  TempDir dir;
  std::string data = RandomBytes(12 << 20, 12);
  WriteFile(dir.path() + "/big", data);
  Status st = store->PutFile("big.sst", dir.path() + "/big");
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto got = store->Get("big.sst");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data) << "multipart round trip changed the bytes (size " << got->size()
                            << ")";
  auto listed = store->List("big");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].size, 12 << 20);
}

TEST_F(S3MotoTest, WrongSecretIsAClearCredentialsError) {
  StorageConfig c = Config("denied");
  c.secret_access_key = "not-the-secret";
  auto store = Open(c);
  Status st = store->Put("k", "v");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st.message(), "SignatureDoesNotMatch")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "check credentials")) << st.message();
  auto listed = store->List("x/");
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(Contains(listed.status().message(), "check credentials"))
      << listed.status().message();

  c = Config("denied");
  c.access_key_id = "AKIANOTAREALKEY00000";
  st = Open(c)->Put("k", "v");
  EXPECT_TRUE(Contains(st.message(), "InvalidAccessKeyId")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "check credentials")) << st.message();
}

TEST_F(S3MotoTest, UnknownBucketIsAClearError) {
  StorageConfig c = Config("x");
  c.uri = "s3://no-such-bucket-here/x";
  auto store = Open(c);
  Status st = store->Put("k", "v");
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Contains(st.message(), "bucket 'no-such-bucket-here' does not exist"))
      << st.message();
  auto listed = store->List("");
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(Contains(listed.status().message(), "does not exist")) << listed.status().message();
}

TEST_F(S3MotoTest, ConcurrentUploadsFromSeveralThreads) {
  auto store = Open(Config("threads"));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::string key = "t" + std::to_string(t) + "/o" + std::to_string(i);
        std::string value = RandomBytes(1000 + static_cast<size_t>(t * 10 + i), t * 100 + i);
        if (!store->Put(key, value).ok()) ++failures;
        auto got = store->Get(key);
        if (!got.ok() || *got != value) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto listed = store->List("");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 20u);
}

TEST_F(S3MotoTest, InjectedPartialUploadLeavesNothingAtTheKey) {
  FaultPlan plan;
  plan.put_file_fail_after_bytes = 4096;
  auto counters = plan.counters;
  auto store = MakeFaultInjectingStore(Open(Config("faults")), std::move(plan));
  TempDir dir;
  WriteFile(dir.path() + "/f", RandomBytes(100000, 3));
  Status st = store->PutFile("chk-1/part.sst", dir.path() + "/f");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(Contains(st.message(), "after 4096 bytes")) << st.message();
  EXPECT_EQ(store->Get("chk-1/part.sst").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(counters->calls(StoreOp::kPutFile), 1);
  EXPECT_EQ(counters->calls(StoreOp::kGet), 1);
}

}  // namespace
}  // namespace eddy::storage
