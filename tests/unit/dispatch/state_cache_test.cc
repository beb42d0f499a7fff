// StateCache against the real RocksDB backend (and a wrapper that can fail commits): reads served
// from memory, writes held until Flush, delayed-message batches committed with every dirty value,
// expiry, eviction of clean entries only, and a failed flush that loses nothing.
#include "dispatch/state_cache.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "unit/dispatch/flaky_backend.h"

namespace eddy {
namespace {

Address Addr(const std::string& id) { return Address{FunctionType{"test", "fn"}, id}; }

StoredValue Val(const std::string& v, int64_t expires_at = 0) {
  return StoredValue{"io.statefun.types/string", v, expires_at};
}

using ::eddy::testing::FlakyBackend;

class StateCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-state-cache-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto db = OpenRocksDbBackend(RocksDbOptions{dir_.string()});
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    flaky_ = std::make_unique<FlakyBackend>(db_.get());
  }
  void TearDown() override {
    (void)db_->Close();
    std::filesystem::remove_all(dir_);
  }

  std::optional<StoredValue> Durable(const std::string& id, const std::string& name = "s") {
    auto r = db_->ReadValues(KeyGroupOf(id, 16), Addr(id), {name}, 0);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value()[0] : std::nullopt;
  }
  std::optional<StoredValue> Cached(StateCache& c, const std::string& id, int64_t now = 0) {
    auto r = c.ReadValues(KeyGroupOf(id, 16), Addr(id), {"s"}, now);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value()[0] : std::nullopt;
  }
  void Write(StateCache& c, const std::string& id, std::optional<StoredValue> v) {
    auto b = c.NewWriteBatch();
    if (v) {
      b->PutValue(KeyGroupOf(id, 16), Addr(id), "s", *v);
    } else {
      b->DeleteValue(KeyGroupOf(id, 16), Addr(id), "s");
    }
    ASSERT_TRUE(c.Commit(*b).ok());
  }

  std::filesystem::path dir_;
  StateBackendPtr db_;
  std::unique_ptr<FlakyBackend> flaky_;
};

TEST_F(StateCacheTest, WritesStayInMemoryUntilFlush) {
  StateCache cache(flaky_.get(), 1 << 20);
  Write(cache, "a", Val("1"));
  Write(cache, "a", Val("2"));
  EXPECT_EQ(Cached(cache, "a")->value, "2");
  EXPECT_FALSE(Durable("a").has_value());
  EXPECT_TRUE(cache.HasDirty());
  ASSERT_TRUE(cache.Flush().ok());
  EXPECT_EQ(Durable("a")->value, "2");
  EXPECT_EQ(flaky_->commits, 1) << "two writes of a hot key, one RocksDB write";
  EXPECT_FALSE(cache.HasDirty());

  Write(cache, "a", std::nullopt);
  EXPECT_FALSE(Cached(cache, "a").has_value());
  EXPECT_TRUE(Durable("a").has_value());
  ASSERT_TRUE(cache.Flush().ok());
  EXPECT_FALSE(Durable("a").has_value()) << "deletes are flushed too";
}

TEST_F(StateCacheTest, ReadsAreServedFromMemoryAfterTheFirst) {
  StateCache cache(flaky_.get(), 1 << 20);
  EXPECT_FALSE(Cached(cache, "a").has_value());
  EXPECT_FALSE(Cached(cache, "a").has_value());
  EXPECT_EQ(flaky_->reads, 1) << "absence is cached as well";
  Write(cache, "a", Val("x"));
  EXPECT_EQ(Cached(cache, "a")->value, "x");
  EXPECT_EQ(flaky_->reads, 1);
}

TEST_F(StateCacheTest, ExpiredValuesReadAsAbsent) {
  StateCache cache(flaky_.get(), 1 << 20);
  Write(cache, "a", Val("x", /*expires_at=*/100));
  EXPECT_TRUE(Cached(cache, "a", 99).has_value());
  EXPECT_FALSE(Cached(cache, "a", 100).has_value());
}

TEST_F(StateCacheTest, DelayedChangesCommitWithEveryDirtyValue) {
  StateCache cache(flaky_.get(), 1 << 20);
  Write(cache, "a", Val("1"));
  auto b = cache.NewWriteBatch();
  b->PutValue(KeyGroupOf("b", 16), Addr("b"), "s", Val("2"));
  DelayedRecord rec{Addr("b"), Addr("a"), TypedValue{"t/t", true, "v"}, "tok", 5000, 1};
  b->PutDelayed(KeyGroupOf("b", 16), rec);
  ASSERT_TRUE(cache.Commit(*b).ok());
  EXPECT_EQ(Durable("a")->value, "1");
  EXPECT_EQ(Durable("b")->value, "2");
  auto found = db_->FindDelayedByToken(KeyGroupOf("b", 16), Addr("b"), "tok");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found.value().has_value());
  EXPECT_FALSE(cache.HasDirty());
}

TEST_F(StateCacheTest, EvictsOnlyCleanEntries) {
  StateCache cache(flaky_.get(), 1);  // everything is over capacity
  Write(cache, "a", Val("dirty"));
  EXPECT_EQ(Cached(cache, "b"), std::nullopt);  // read of another key triggers eviction
  EXPECT_EQ(Cached(cache, "a")->value, "dirty") << "a dirty entry is never evicted";
  ASSERT_TRUE(cache.Flush().ok());
  EXPECT_EQ(cache.bytes(), 0u) << "after the flush everything is clean and evictable";
  int reads = flaky_->reads;
  EXPECT_EQ(Cached(cache, "a")->value, "dirty");
  EXPECT_EQ(flaky_->reads, reads + 1) << "evicted: read back from RocksDB";
}

TEST_F(StateCacheTest, CountsKnownAbsentSlotsAndOverwritesOnce) {
  StateCache cache(flaky_.get(), 1 << 20);
  std::vector<std::string> names;
  for (int i = 0; i < 10; ++i) names.push_back("state-" + std::to_string(i));
  ASSERT_TRUE(cache.ReadValues(KeyGroupOf("a", 16), Addr("a"), names, 0).ok());
  size_t ten_absent = cache.bytes();
  EXPECT_GE(ten_absent, 10 * sizeof(std::string)) << "known-absent slots cost memory too";
  Write(cache, "a", Val(std::string(1000, 'x')));
  size_t with_value = cache.bytes();
  EXPECT_GE(with_value, ten_absent + 1000);
  Write(cache, "a", Val(std::string(1000, 'y')));
  EXPECT_EQ(cache.bytes(), with_value) << "overwriting a slot must not count it twice";
  ASSERT_TRUE(cache.Flush().ok());
  EXPECT_FALSE(cache.OverCapacity());
}

TEST_F(StateCacheTest, AFailedFlushLosesNothing) {
  StateCache cache(flaky_.get(), 1 << 20);
  Write(cache, "a", Val("1"));
  flaky_->fail_commits = true;
  EXPECT_EQ(cache.Flush().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(cache.HasDirty());
  auto b = cache.NewWriteBatch();
  b->PutDelayed(KeyGroupOf("a", 16),
                DelayedRecord{Addr("a"), Addr("a"), TypedValue{"t/t", true, "v"}, "", 1, 1});
  EXPECT_FALSE(cache.Commit(*b).ok());
  EXPECT_TRUE(cache.HasDirty());
  flaky_->fail_commits = false;
  ASSERT_TRUE(cache.Flush().ok());
  EXPECT_EQ(Durable("a")->value, "1");
}

const std::function<int64_t()> Zero = [] { return int64_t{0}; };

// The shard's inline path: ReadRefs reads in place (loading missing states once), Put writes
// like a value-only Commit.
TEST_F(StateCacheTest, ReadRefsAndPutMatchReadValuesAndCommit) {
  StateCache cache(flaky_.get(), 1 << 20);
  Write(cache, "a", Val("1"));
  ASSERT_TRUE(cache.Flush().ok());
  StateCache fresh(flaky_.get(), 1 << 20);
  std::vector<const StoredValue*> refs;
  int reads = flaky_->reads;
  ASSERT_TRUE(fresh.ReadRefs(KeyGroupOf("a", 16), Addr("a"), {"s", "other"}, Zero, &refs).ok());
  EXPECT_EQ(flaky_->reads, reads + 1) << "missing states are loaded once";
  ASSERT_EQ(refs.size(), 2u);
  ASSERT_NE(refs[0], nullptr);
  EXPECT_EQ(refs[0]->value, "1");
  EXPECT_EQ(refs[1], nullptr) << "absent";
  ASSERT_TRUE(fresh.ReadRefs(KeyGroupOf("a", 16), Addr("a"), {"other", "s"}, Zero, &refs).ok());
  EXPECT_EQ(flaky_->reads, reads + 1) << "now served from memory";
  EXPECT_EQ(refs[0], nullptr);
  EXPECT_EQ(refs[1]->value, "1");

  fresh.Put(KeyGroupOf("a", 16), Addr("a"), "s", Val("2", /*expires_at=*/50));
  fresh.Put(KeyGroupOf("b", 16), Addr("b"), "s", Val("3"));
  fresh.EvictIfNeeded();
  EXPECT_TRUE(fresh.HasDirty());
  EXPECT_EQ(Durable("a")->value, "1") << "not flushed yet";
  EXPECT_EQ(Cached(fresh, "a", 10)->value, "2");
  auto at_50 = [] { return int64_t{50}; };
  ASSERT_TRUE(fresh.ReadRefs(KeyGroupOf("a", 16), Addr("a"), {"s"}, at_50, &refs).ok());
  EXPECT_EQ(refs[0], nullptr) << "expired values read as absent";
  fresh.Put(KeyGroupOf("b", 16), Addr("b"), "s", std::nullopt);
  ASSERT_TRUE(fresh.Flush().ok());
  EXPECT_EQ(Durable("a")->value, "2");
  EXPECT_FALSE(Durable("b").has_value()) << "a delete via Put is flushed";
}

// Many addresses through a small cache: memory stays bounded (clean entries are evicted in
// CLOCK order), dirty entries are never evicted, a flush writes everything (sorted into key
// order, which must not lose or mix up any value), and evicted values read back correctly.
TEST_F(StateCacheTest, ManyKeysStayBoundedAndCorrect) {
  constexpr size_t kCapacity = 64 << 10;
  StateCache cache(flaky_.get(), kCapacity);
  constexpr int kKeys = 20000;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kKeys; ++i) {
      std::string id = "key-" + std::to_string(i);
      std::vector<const StoredValue*> refs;
      ASSERT_TRUE(cache.ReadRefs(KeyGroupOf(id, 16), Addr(id), {"s"}, Zero, &refs).ok());
      std::string expect = round == 0 ? "" : std::to_string(i);
      ASSERT_EQ(refs[0] ? refs[0]->value : "", expect) << id;
      cache.Put(KeyGroupOf(id, 16), Addr(id), "s",
                Val(std::to_string(i + (round == 0 ? 0 : 1000000))));
      cache.EvictIfNeeded();
      if (i % 1000 == 999) {
        ASSERT_TRUE(cache.Flush().ok());
        EXPECT_LE(cache.bytes(), kCapacity * 2) << "clean entries are evicted after a flush";
      }
    }
    ASSERT_TRUE(cache.Flush().ok());
    if (round == 0) {
      // Everything durable and correct; round 1 reads it back (mostly from RocksDB).
      for (int i = 0; i < kKeys; i += 997) {
        EXPECT_EQ(Durable("key-" + std::to_string(i))->value, std::to_string(i));
      }
    }
  }
  for (int i = 0; i < kKeys; i += 991) {
    EXPECT_EQ(Durable("key-" + std::to_string(i))->value, std::to_string(i + 1000000));
  }
}

}  // namespace
}  // namespace eddy
