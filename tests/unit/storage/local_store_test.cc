#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "eddy/storage/object_store.h"
#include "unit/storage/storage_test_util.h"

namespace eddy::storage {
namespace {

using testing::CountFilesContaining;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/store";
    auto s = OpenObjectStore(testing::FileConfig("file://" + root_));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  std::vector<std::string> Keys(const std::string& prefix) {
    auto r = store_->List(prefix);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> keys;
    if (r.ok())
      for (auto& o : *r) keys.push_back(o.key);
    return keys;
  }

  TempDir dir_;
  std::string root_;
  ObjectStorePtr store_;
};

TEST_F(LocalStoreTest, PutGetOverwriteBinaryAndEmpty) {
  std::string binary("a\0b\xff\n", 5);
  ASSERT_TRUE(store_->Put("chk-1/w0/snapshot.pb", binary).ok());
  auto got = store_->Get("chk-1/w0/snapshot.pb");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, binary);
  ASSERT_TRUE(store_->Put("chk-1/w0/snapshot.pb", "v2").ok());
  EXPECT_EQ(*store_->Get("chk-1/w0/snapshot.pb"), "v2");
  ASSERT_TRUE(store_->Put("empty", "").ok());
  EXPECT_EQ(*store_->Get("empty"), "");
  EXPECT_EQ(ReadFile(root_ + "/chk-1/w0/snapshot.pb"), "v2");
  EXPECT_EQ(store_->Describe(), "file://" + root_);
}

TEST_F(LocalStoreTest, MissingObjectsAreNotFound) {
  EXPECT_EQ(store_->Get("nope").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->Put("dir/file", "x").ok());
  // "dir" is a folder here, not an object; "dir/file/x" goes through a file.
  EXPECT_EQ(store_->Get("dir").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("dir/file/x").status().code(), StatusCode::kNotFound);
  std::string local = dir_.path() + "/out";
  EXPECT_EQ(store_->GetFile("nope", local).code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(local));
}

TEST_F(LocalStoreTest, ListIsRecursiveSortedAndFilteredByPrefix) {
  for (const char* k :
       {"chk-2/w1/b", "chk-2/w0/a", "chk-10/x", "chk-1/y", "LATEST", "sst/db/1.sst"}) {
    ASSERT_TRUE(store_->Put(k, std::string(std::strlen(k), 'z')).ok());
  }
  // Files that are not objects: a temporary file and a name no key could have.
  WriteFile(root_ + "/chk-2/.b#tmp-123456", "partial");
  WriteFile(root_ + "/chk-2/not a key", "x");
  auto all = store_->List("");
  ASSERT_TRUE(all.ok());
  std::vector<std::string> keys;
  for (auto& o : *all) {
    keys.push_back(o.key);
    EXPECT_EQ(o.size, static_cast<int64_t>(o.key.size()));
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"LATEST", "chk-1/y", "chk-10/x", "chk-2/w0/a",
                                            "chk-2/w1/b", "sst/db/1.sst"}));
  EXPECT_EQ(Keys("chk-1"), (std::vector<std::string>{"chk-1/y", "chk-10/x"}));
  EXPECT_EQ(Keys("chk-1/"), (std::vector<std::string>{"chk-1/y"}));
  EXPECT_EQ(Keys("chk-2/w"), (std::vector<std::string>{"chk-2/w0/a", "chk-2/w1/b"}));
  EXPECT_EQ(Keys("chk-3/"), std::vector<std::string>{});
  EXPECT_EQ(Keys("nothing/here/"), std::vector<std::string>{});
}

TEST_F(LocalStoreTest, DeleteIsIdempotentAndTidiesEmptyFolders) {
  ASSERT_TRUE(store_->Put("chk-1/w0/a", "1").ok());
  ASSERT_TRUE(store_->Put("chk-1/w1/b", "2").ok());
  ASSERT_TRUE(store_->Delete("chk-1/w0/a").ok());
  EXPECT_EQ(store_->Get("chk-1/w0/a").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(root_ + "/chk-1/w0"));
  EXPECT_TRUE(fs::exists(root_ + "/chk-1/w1/b"));
  ASSERT_TRUE(store_->Delete("chk-1/w0/a").ok());  // absent is OK
  ASSERT_TRUE(store_->Delete("never/existed").ok());
  ASSERT_TRUE(store_->Delete("chk-1/w1/b").ok());
  EXPECT_FALSE(fs::exists(root_ + "/chk-1"));
  EXPECT_TRUE(fs::is_directory(root_));  // the root stays
}

TEST_F(LocalStoreTest, BadKeysAreInvalidArgumentForEveryOperation) {
  std::string local = dir_.path() + "/f";
  WriteFile(local, "x");
  for (const char* key : {"", "../escape", "/etc/passwd", "a//b", "a/./b", "trailing/"}) {
    EXPECT_EQ(store_->Put(key, "x").code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->PutFile(key, local).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Get(key).status().code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->GetFile(key, local).code(), StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(store_->Delete(key).code(), StatusCode::kInvalidArgument) << key;
  }
  EXPECT_EQ(store_->List("../").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_.path() + "/escape"));
}

TEST_F(LocalStoreTest, PutFileAndGetFileRoundTrip) {
  std::string data = RandomBytes(3 << 20, 7);
  std::string src = dir_.path() + "/src.sst";
  WriteFile(src, data);
  ASSERT_TRUE(store_->PutFile("sst/db/000001.sst", src).ok());
  std::string dst = dir_.path() + "/restore/deep/000001.sst";  // parent folders are created
  ASSERT_TRUE(store_->GetFile("sst/db/000001.sst", dst).ok());
  EXPECT_EQ(ReadFile(dst), data);
  auto listed = store_->List("sst/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].size, 3 << 20);
  EXPECT_EQ(store_->PutFile("k", dir_.path() + "/missing").code(), StatusCode::kNotFound);
  EXPECT_EQ(CountFilesContaining(dir_.path(), "#tmp-"), 0);
}

TEST_F(LocalStoreTest, FailedGetFileLeavesDestinationUntouched) {
  std::string dst = dir_.path() + "/existing";
  WriteFile(dst, "old contents");
  EXPECT_EQ(store_->GetFile("absent", dst).code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadFile(dst), "old contents");
}

TEST_F(LocalStoreTest, FailedPutLeavesNoTemporaryFile) {
  ASSERT_TRUE(store_->Put("file", "x").ok());
  Status st = store_->Put("file/child", "y");  // "file" is a file, so no folder can be made
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(CountFilesContaining(root_, "#tmp-"), 0);
  EXPECT_EQ(*store_->Get("file"), "x");
}

// Readers racing an overwriting writer see the old or the new object, never a mix or a torn one.
TEST_F(LocalStoreTest, OverwritesAreAtomicForConcurrentReaders) {
  const std::string a = RandomBytes(1 << 20, 1), b = RandomBytes(1 << 20, 2);
  ASSERT_TRUE(store_->Put("obj", a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done.load()) {
        auto got = store_->Get("obj");
        if (!got.ok() || (*got != a && *got != b)) ++bad;
        ++reads;
      }
    });
  }
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(store_->Put("obj", i % 2 ? a : b).ok());
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

// Deletes tidy up empty folders while other threads write into the same folders.
TEST_F(LocalStoreTest, ConcurrentPutsAndDeletesInSharedFolders) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        std::string key = "shared/d" + std::to_string(i % 3) + "/t" + std::to_string(t);
        Status put = store_->Put(key, "v");
        Status del = store_->Delete(key);
        if (!put.ok() || !del.ok()) {
          ++failures;
          ADD_FAILURE() << put.ToString() << " / " << del.ToString();
        }
      }
      if (!store_->Put("final/t" + std::to_string(t), "v").ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Keys(""), (std::vector<std::string>{"final/t0", "final/t1", "final/t2", "final/t3"}));
}

}  // namespace
}  // namespace eddy::storage
