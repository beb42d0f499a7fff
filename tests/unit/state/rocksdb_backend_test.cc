#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eddy/state/state_backend.h"
#include "state/key_codec.h"
#include "state/rocksdb_backend_testing.h"
#include "unit/state/state_test_util.h"

namespace eddy {
namespace {

using namespace std::string_literals;
using testing_state::Addr;
using testing_state::Delayed;
using ::testing::HasSubstr;

constexpr int64_t kNow = 1'700'000'000'000;

class RocksDbBackendTest : public testing_state::TempDirTest {
 protected:
  // Use as ASSERT_NO_FATAL_FAILURE(Open()).
  void Open() {
    auto opened = OpenRocksDbBackend(Options());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    backend_ = std::move(opened).value();
  }

  void Commit(const std::function<void(StateWriteBatch&)>& fill) {
    auto batch = backend_->NewWriteBatch();
    fill(*batch);
    Status st = backend_->Commit(*batch);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  void Put(KeyGroup kg, const Address& a, const std::string& name, const std::string& value,
           int64_t expires_at = 0) {
    Commit([&](StateWriteBatch& b) {
      b.PutValue(kg, a, name, StoredValue{"test/type", value, expires_at});
    });
  }

  std::vector<std::optional<StoredValue>> Read(KeyGroup kg, const Address& a,
                                               const std::vector<std::string>& names,
                                               int64_t now = kNow) {
    auto read = backend_->ReadValues(kg, a, names, now);
    EXPECT_TRUE(read.ok()) << read.status().ToString();
    // On failure, as many nullopts as names, so callers may index without crashing.
    return read.ok() ? std::move(read).value()
                     : std::vector<std::optional<StoredValue>>(names.size());
  }

  // The value bytes of one state, or "<absent>".
  std::string ReadOne(KeyGroup kg, const Address& a, const std::string& name, int64_t now = kNow) {
    auto values = Read(kg, a, {name}, now);
    return values[0].has_value() ? values[0]->value : "<absent>";
  }

  // (key group, fire time, sequence) of every delayed record in [first, last], in scan order.
  std::vector<std::tuple<KeyGroup, int64_t, uint64_t>> Scan(KeyGroup first, KeyGroup last) {
    std::vector<std::tuple<KeyGroup, int64_t, uint64_t>> seen;
    Status st = backend_->ScanDelayed(first, last, [&](KeyGroup kg, DelayedRecord r) {
      seen.emplace_back(kg, r.fire_at_ms, r.sequence);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return seen;
  }

  size_t CountKeys(std::optional<char> tag = std::nullopt) {
    auto count = state::CountRawKeysForTesting(*backend_, tag);
    EXPECT_TRUE(count.ok()) << count.status().ToString();
    return count.ok() ? *count : 0;
  }

  StateBackendPtr backend_;
  const Address alice_ = Addr("shop", "cart", "alice");
  const Address bob_ = Addr("shop", "cart", "bob");
};

TEST_F(RocksDbBackendTest, PutGetRoundTripWithSeveralStates) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Commit([&](StateWriteBatch& b) {
    b.PutValue(4, alice_, "items", StoredValue{"t/items", "\x01\x02"s, 0});
    b.PutValue(4, alice_, "total", StoredValue{"io.statefun.types/int", "\x0d\x05\0\0\0"s, 0});
    b.PutValue(4, alice_, "empty", StoredValue{"t/empty", "", kNow + 1000});
  });
  auto values = Read(4, alice_, {"total", "missing", "items", "empty"});
  ASSERT_EQ(values.size(), 4u);
  ASSERT_TRUE(values[0].has_value());
  EXPECT_EQ(values[0]->type_name, "io.statefun.types/int");
  EXPECT_EQ(values[0]->value, "\x0d\x05\0\0\0"s);
  EXPECT_FALSE(values[1].has_value());
  ASSERT_TRUE(values[2].has_value());
  EXPECT_EQ(values[2]->value, "\x01\x02"s);
  ASSERT_TRUE(values[3].has_value());  // an empty value is a value
  EXPECT_EQ(values[3]->value, "");
  EXPECT_EQ(values[3]->expires_at_ms, kNow + 1000);

  // Overwrite replaces.
  Put(4, alice_, "items", "new");
  EXPECT_EQ(ReadOne(4, alice_, "items"), "new");
}

TEST_F(RocksDbBackendTest, AbsentNamesAddressesAndKeyGroupsAreNullopt) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(4, alice_, "items", "a");
  EXPECT_TRUE(Read(4, alice_, {}).empty());
  EXPECT_FALSE(Read(4, alice_, {"other"})[0].has_value());
  EXPECT_FALSE(Read(4, bob_, {"items"})[0].has_value());
  EXPECT_FALSE(Read(5, alice_, {"items"})[0].has_value());
  EXPECT_FALSE(Read(4, Addr("shop", "wishlist", "alice"), {"items"})[0].has_value());
  EXPECT_TRUE(Read(4, alice_, {"items"})[0].has_value());
}

TEST_F(RocksDbBackendTest, DeleteValueRemovesOnlyThatState) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(4, alice_, "a", "1");
  Put(4, alice_, "b", "2");
  Commit([&](StateWriteBatch& b) { b.DeleteValue(4, alice_, "a"); });
  auto values = Read(4, alice_, {"a", "b"});
  EXPECT_FALSE(values[0].has_value());
  ASSERT_TRUE(values[1].has_value());
  EXPECT_EQ(values[1]->value, "2");
  // Deleting something absent is fine.
  Commit([&](StateWriteBatch& b) { b.DeleteValue(4, bob_, "nothing"); });
}

TEST_F(RocksDbBackendTest, ManyValuesOfDifferentSizesInOneBatchRoundTrip) {
  // One batch reuses its key and value buffers for every value: long then short entries must
  // each arrive intact, read one at a time (Get) and together (MultiGet).
  ASSERT_NO_FATAL_FAILURE(Open());
  std::vector<std::string> names;
  Commit([&](StateWriteBatch& b) {
    for (int i = 0; i < 40; ++i) {
      std::string name = std::string(i % 2 == 0 ? 30 : 1, 'n') + std::to_string(i);
      std::string value(i % 2 == 0 ? 300 : 1, static_cast<char>('a' + i % 26));
      b.PutValue(2, Address{FunctionType{"shop", "cart"}, std::to_string(i)}, name,
                 StoredValue{i % 2 == 0 ? std::string(50, 'T') : "t", value, 0});
      names.push_back(name);
    }
  });
  for (int i = 0; i < 40; ++i) {
    Address a{FunctionType{"shop", "cart"}, std::to_string(i)};
    auto one = Read(2, a, {names[i]});
    ASSERT_TRUE(one[0].has_value()) << i;
    EXPECT_EQ(one[0]->value, std::string(i % 2 == 0 ? 300 : 1, static_cast<char>('a' + i % 26)));
    EXPECT_EQ(one[0]->type_name, i % 2 == 0 ? std::string(50, 'T') : "t");
    auto two = Read(2, a, {names[i], "absent"});
    ASSERT_TRUE(two[0].has_value()) << i;
    EXPECT_EQ(two[0]->value, one[0]->value);
    EXPECT_FALSE(two[1].has_value());
  }
}

TEST_F(RocksDbBackendTest, ExpiredValuesAreNeverReturned) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(1, alice_, "ttl", "v", /*expires_at=*/kNow);
  Put(1, alice_, "forever", "v", /*expires_at=*/0);
  EXPECT_TRUE(Read(1, alice_, {"ttl"}, kNow - 1)[0].has_value());
  EXPECT_FALSE(Read(1, alice_, {"ttl"}, kNow)[0].has_value());  // expiry is inclusive
  EXPECT_FALSE(Read(1, alice_, {"ttl"}, kNow + 1)[0].has_value());
  EXPECT_TRUE(Read(1, alice_, {"forever"}, std::numeric_limits<int64_t>::max())[0].has_value());
  // Re-writing with a later expiry brings it back.
  Put(1, alice_, "ttl", "v2", kNow + 10);
  EXPECT_EQ(ReadOne(1, alice_, "ttl", kNow + 9), "v2");
}

TEST_F(RocksDbBackendTest, CompactionDropsExpiredValuesAndKeepsTheRest) {
  std::atomic<int64_t> clock{kNow};
  auto opened = state::OpenRocksDbBackendForTesting(Options(), [&] { return clock.load(); });
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  backend_ = std::move(opened).value();

  Put(1, alice_, "expired", "x", kNow - 1);
  Put(1, alice_, "later", "x", kNow + 5000);
  Put(2, bob_, "forever", "x", 0);
  Commit([&](StateWriteBatch& b) { b.PutDelayed(1, Delayed(alice_, kNow - 100, 1, "tok")); });
  std::string garbage_key = state::ValueKey(3, bob_, "garbage");
  ASSERT_TRUE(state::PutRawForTesting(*backend_, garbage_key, "\x09not a value").ok());
  ASSERT_EQ(CountKeys(state::kValueTag), 4u);

  ASSERT_TRUE(state::CompactAllForTesting(*backend_).ok());
  // Only the expired value is gone; undecodable bytes are kept for the reader to report.
  EXPECT_EQ(CountKeys(state::kValueTag), 3u);
  EXPECT_EQ(CountKeys(state::kDelayedTag), 1u);  // delayed records have no TTL
  EXPECT_EQ(CountKeys(state::kTokenTag), 1u);
  auto values = Read(1, alice_, {"expired", "later"});
  EXPECT_FALSE(values[0].has_value());
  EXPECT_TRUE(values[1].has_value());

  clock = kNow + 5000;
  ASSERT_TRUE(state::CompactAllForTesting(*backend_).ok());
  EXPECT_EQ(CountKeys(state::kValueTag), 2u);
  EXPECT_TRUE(Read(2, bob_, {"forever"})[0].has_value());
}

TEST_F(RocksDbBackendTest, WallClockCompactionDropsValuesExpiredLongAgo) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(1, alice_, "old", "x", /*expires_at=*/1000);  // 1970
  Put(1, alice_, "future", "x", /*expires_at=*/std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(state::CompactAllForTesting(*backend_).ok());
  EXPECT_EQ(CountKeys(state::kValueTag), 1u);
  EXPECT_TRUE(Read(1, alice_, {"future"})[0].has_value());
}

TEST_F(RocksDbBackendTest, ScanOrdersByKeyGroupThenFireTimeThenSequence) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Commit([&](StateWriteBatch& b) {
    b.PutDelayed(3, Delayed(alice_, 500, 1));
    b.PutDelayed(1, Delayed(bob_, 900, 4, "t1"));
    b.PutDelayed(1, Delayed(bob_, 100, 7));
    b.PutDelayed(1, Delayed(bob_, 900, 2));
    b.PutDelayed(2, Delayed(alice_, 50, 0, "t2"));
    b.PutDelayed(1, Delayed(bob_, 256, 0));
    // Values and token entries interleave with delayed records in the key space.
    b.PutValue(1, bob_, "s", StoredValue{"t", "v", 0});
    b.PutValue(2, alice_, "s", StoredValue{"t", "v", 0});
  });
  using T = std::tuple<KeyGroup, int64_t, uint64_t>;
  EXPECT_THAT(Scan(0, 10), ::testing::ElementsAre(T{1, 100, 7}, T{1, 256, 0}, T{1, 900, 2},
                                                   T{1, 900, 4}, T{2, 50, 0}, T{3, 500, 1}));
}

TEST_F(RocksDbBackendTest, ScanHonoursInclusiveRangeBounds) {
  ASSERT_NO_FATAL_FAILURE(Open());
  const KeyGroup kMax = std::numeric_limits<KeyGroup>::max();
  Commit([&](StateWriteBatch& b) {
    for (KeyGroup kg : {0u, 4u, 5u, 9u, 70000u, kMax}) {
      b.PutDelayed(kg, Delayed(alice_, 10, kg, "tok"));
      b.PutValue(kg, alice_, "s", StoredValue{"t", "v", 0});
    }
  });
  using T = std::tuple<KeyGroup, int64_t, uint64_t>;
  EXPECT_THAT(Scan(4, 5), ::testing::ElementsAre(T{4, 10, 4}, T{5, 10, 5}));
  EXPECT_THAT(Scan(5, 5), ::testing::ElementsAre(T{5, 10, 5}));
  EXPECT_TRUE(Scan(6, 8).empty());
  EXPECT_THAT(Scan(0, 0), ::testing::ElementsAre(T{0, 10, 0}));
  EXPECT_THAT(Scan(9, kMax), ::testing::ElementsAre(T{9, 10, 9}, T{70000, 10, 70000},
                                                    T{kMax, 10, kMax}));
  EXPECT_EQ(Scan(0, kMax).size(), 6u);

  Status st = backend_->ScanDelayed(5, 4, [](KeyGroup, DelayedRecord) { return Status::Ok(); });
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);

  // A failing visitor stops the scan and its status comes back.
  int visits = 0;
  st = backend_->ScanDelayed(0, kMax, [&](KeyGroup, DelayedRecord) {
    ++visits;
    return Internal("stop here");
  });
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_EQ(st.message(), "stop here");
  EXPECT_EQ(visits, 1);
}

TEST_F(RocksDbBackendTest, ScanReturnsTheFullRecord) {
  ASSERT_NO_FATAL_FAILURE(Open());
  DelayedRecord r = Delayed(Addr("ns", "f", "id\0/x"s), kNow, 3, "cancel-me");
  r.argument = TypedValue{"io.statefun.types/string", false, ""};
  Commit([&](StateWriteBatch& b) { b.PutDelayed(8, r); });
  int visits = 0;
  ASSERT_TRUE(backend_->ScanDelayed(8, 8, [&](KeyGroup kg, DelayedRecord got) {
    ++visits;
    EXPECT_EQ(kg, 8u);
    EXPECT_EQ(got.sender, r.sender);
    EXPECT_EQ(got.target, r.target);
    EXPECT_EQ(got.argument, r.argument);
    EXPECT_EQ(got.cancellation_token, "cancel-me");
    return Status::Ok();
  }).ok());
  EXPECT_EQ(visits, 1);
}

TEST_F(RocksDbBackendTest, TokenIndexFindsAndDeleteRemovesBoth) {
  ASSERT_NO_FATAL_FAILURE(Open());
  DelayedRecord with_token = Delayed(alice_, kNow + 10, 1, "reminder");
  DelayedRecord without_token = Delayed(alice_, kNow + 20, 2);
  Commit([&](StateWriteBatch& b) {
    b.PutDelayed(6, with_token);
    b.PutDelayed(6, without_token);
  });
  EXPECT_EQ(CountKeys(state::kDelayedTag), 2u);
  EXPECT_EQ(CountKeys(state::kTokenTag), 1u);  // only non-empty tokens are indexed

  auto found = backend_->FindDelayedByToken(6, alice_, "reminder");
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->fire_at_ms, kNow + 10);
  EXPECT_EQ((*found)->sequence, 1u);
  EXPECT_EQ((*found)->target, with_token.target);

  for (auto [kg, sender, token] : std::vector<std::tuple<KeyGroup, Address, std::string>>{
           {6, alice_, "other"}, {6, bob_, "reminder"}, {7, alice_, "reminder"}, {6, alice_, ""}}) {
    auto missing = backend_->FindDelayedByToken(kg, sender, token);
    ASSERT_TRUE(missing.ok()) << missing.status().ToString();
    EXPECT_FALSE(missing->has_value()) << token;
  }

  Commit([&](StateWriteBatch& b) { b.DeleteDelayed(6, with_token); });
  auto gone = backend_->FindDelayedByToken(6, alice_, "reminder");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(CountKeys(state::kTokenTag), 0u);
  using T = std::tuple<KeyGroup, int64_t, uint64_t>;
  EXPECT_THAT(Scan(6, 6), ::testing::ElementsAre(T{6, kNow + 20, 2}));
}

TEST_F(RocksDbBackendTest, IdsWithSlashAndNulDoNotCollide) {
  ASSERT_NO_FATAL_FAILURE(Open());
  std::vector<std::pair<Address, std::string>> cells = {
      {Addr("a", "b", "c/d"), "x"}, {Addr("a", "b/c", "d"), "x"}, {Addr("a", "b", "c\0"s), "x"},
      {Addr("a", "b", "c"), "\0x"s}, {Addr("a", "b", "c"), "x"}, {Addr("a", "b", "cx"), ""},
  };
  Commit([&](StateWriteBatch& b) {
    for (size_t i = 0; i < cells.size(); ++i) {
      b.PutValue(0, cells[i].first, cells[i].second, StoredValue{"t", std::to_string(i), 0});
      b.PutDelayed(0, Delayed(cells[i].first, 1, i, cells[i].second + "-tok"));
    }
  });
  EXPECT_EQ(CountKeys(state::kValueTag), cells.size());
  EXPECT_EQ(CountKeys(state::kTokenTag), cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    auto v = Read(0, cells[i].first, {cells[i].second});
    ASSERT_TRUE(v[0].has_value()) << i;
    EXPECT_EQ(v[0]->value, std::to_string(i));
    auto found = backend_->FindDelayedByToken(0, cells[i].first, cells[i].second + "-tok");
    ASSERT_TRUE(found.ok() && found->has_value()) << i;
    EXPECT_EQ((*found)->sequence, i);
  }
}

TEST_F(RocksDbBackendTest, ValuesAndDelayedRecordsSurviveReopen) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(2, alice_, "s", "persisted");
  Put(2, alice_, "ttl", "x", kNow + 100);
  Commit([&](StateWriteBatch& b) { b.PutDelayed(2, Delayed(alice_, kNow, 9, "tok")); });
  ASSERT_TRUE(backend_->Close().ok());

  // Every call after Close fails cleanly.
  EXPECT_EQ(backend_->Close().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(backend_->ReadValues(2, alice_, {"s"}, kNow).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(backend_->FindDelayedByToken(2, alice_, "tok").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(backend_->ScanDelayed(0, 9, [](KeyGroup, DelayedRecord) { return Status::Ok(); })
                .code(),
            StatusCode::kFailedPrecondition);
  auto batch = backend_->NewWriteBatch();
  batch->PutValue(2, alice_, "s", StoredValue{"t", "late", 0});
  Status late = backend_->Commit(*batch);
  EXPECT_EQ(late.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.message(), HasSubstr(Options().path));

  ASSERT_NO_FATAL_FAILURE(Open());
  auto values = Read(2, alice_, {"s", "ttl"});
  ASSERT_TRUE(values[0].has_value());
  EXPECT_EQ(values[0]->value, "persisted");
  ASSERT_TRUE(values[1].has_value());
  EXPECT_EQ(values[1]->expires_at_ms, kNow + 100);
  EXPECT_EQ(Scan(0, 10).size(), 1u);
  auto found = backend_->FindDelayedByToken(2, alice_, "tok");
  ASSERT_TRUE(found.ok() && found->has_value());

  // The destructor closes too, and the data survives that as well.
  Put(2, bob_, "s", "after-destructor");
  backend_.reset();
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(ReadOne(2, bob_, "s"), "after-destructor");
}

TEST_F(RocksDbBackendTest, BatchIsAtomicAndInvisibleUntilCommit) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(1, alice_, "old", "x");
  auto batch = backend_->NewWriteBatch();
  EXPECT_TRUE(batch->empty());
  batch->PutValue(1, alice_, "a", StoredValue{"t", "1", 0});
  batch->PutValue(2, bob_, "b", StoredValue{"t", "2", 0});
  batch->DeleteValue(1, alice_, "old");
  batch->PutDelayed(1, Delayed(alice_, 5, 1, "tok"));
  EXPECT_FALSE(batch->empty());

  EXPECT_FALSE(Read(1, alice_, {"a"})[0].has_value());
  EXPECT_TRUE(Read(1, alice_, {"old"})[0].has_value());
  EXPECT_TRUE(Scan(0, 5).empty());

  ASSERT_TRUE(backend_->Commit(*batch).ok());
  EXPECT_TRUE(batch->empty());  // a committed batch cannot be applied twice
  EXPECT_TRUE(Read(1, alice_, {"a"})[0].has_value());
  EXPECT_TRUE(Read(2, bob_, {"b"})[0].has_value());
  EXPECT_FALSE(Read(1, alice_, {"old"})[0].has_value());
  EXPECT_EQ(Scan(0, 5).size(), 1u);
  EXPECT_TRUE(backend_->Commit(*batch).ok());  // empty commit is a no-op

  // A batch of another implementation is refused and applies nothing.
  class ForeignBatch final : public StateWriteBatch {
   public:
    void PutValue(KeyGroup, const Address&, std::string_view, const StoredValue&) override {}
    void DeleteValue(KeyGroup, const Address&, std::string_view) override {}
    void PutDelayed(KeyGroup, const DelayedRecord&) override {}
    void DeleteDelayed(KeyGroup, const DelayedRecord&) override {}
    bool empty() const override { return false; }
  } foreign;
  EXPECT_EQ(backend_->Commit(foreign).code(), StatusCode::kInvalidArgument);
}

TEST_F(RocksDbBackendTest, CorruptValueBytesAreDataLossNamingTheKey) {
  ASSERT_NO_FATAL_FAILURE(Open());
  Put(3, alice_, "good", "fine");
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::ValueKey(3, alice_, "bad"),
                                      "\xde\xad garbage"s)
                  .ok());
  auto read = backend_->ReadValues(3, alice_, {"good", "bad"}, kNow);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("'bad'"));
  EXPECT_THAT(read.status().message(), HasSubstr("shop/cart/alice"));
  EXPECT_THAT(read.status().message(), HasSubstr("key group 3"));
  // Reading the healthy state alone still works.
  EXPECT_TRUE(Read(3, alice_, {"good"})[0].has_value());

  // Truncated v1 bytes are caught too, not read past their end.
  std::string truncated = state::EncodeStoredValue({"a/long/type/name", "v", 0}).substr(0, 12);
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::ValueKey(3, bob_, "t"), truncated).ok());
  EXPECT_EQ(backend_->ReadValues(3, bob_, {"t"}, kNow).status().code(), StatusCode::kDataLoss);
}

TEST_F(RocksDbBackendTest, CorruptDelayedRecordsAndTokensAreDataLoss) {
  ASSERT_NO_FATAL_FAILURE(Open());
  auto noop = [](KeyGroup, DelayedRecord) { return Status::Ok(); };
  // Garbage record bytes.
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::DelayedKey(4, 10, 1), "\xff\xff").ok());
  Status st = backend_->ScanDelayed(0, 9, noop);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("key group 4"));
  // A scan that does not reach the bad key group is unaffected.
  EXPECT_TRUE(backend_->ScanDelayed(5, 9, noop).ok());

  // A valid record whose fire time disagrees with its key.
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::DelayedKey(5, 10, 1),
                                      state::EncodeDelayedRecord(Delayed(alice_, 11, 1)))
                  .ok());
  EXPECT_EQ(backend_->ScanDelayed(5, 5, noop).code(), StatusCode::kDataLoss);

  // A delayed key with a malformed locator.
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::RecordPrefix(6, state::kDelayedTag) + "x",
                                      state::EncodeDelayedRecord(Delayed(alice_, 1, 1)))
                  .ok());
  EXPECT_EQ(backend_->ScanDelayed(6, 6, noop).code(), StatusCode::kDataLoss);

  // A token entry that is not a locator, and one that points at nothing.
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::TokenKey(7, alice_, "bad"), "xyz").ok());
  auto found = backend_->FindDelayedByToken(7, alice_, "bad");
  EXPECT_EQ(found.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(found.status().message(), HasSubstr("key group 7"));
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::TokenKey(7, alice_, "dangling"),
                                      state::EncodeDelayedLocator({99, 1}))
                  .ok());
  EXPECT_EQ(backend_->FindDelayedByToken(7, alice_, "dangling").status().code(),
            StatusCode::kDataLoss);
  // A token entry that points at another sender's record.
  Commit([&](StateWriteBatch& b) { b.PutDelayed(7, Delayed(bob_, 50, 2, "mine")); });
  ASSERT_TRUE(state::PutRawForTesting(*backend_, state::TokenKey(7, alice_, "mine"),
                                      state::EncodeDelayedLocator({50, 2}))
                  .ok());
  EXPECT_EQ(backend_->FindDelayedByToken(7, alice_, "mine").status().code(),
            StatusCode::kDataLoss);
}

TEST_F(RocksDbBackendTest, SecondOpenOfALockedPathFailsNamingThePath) {
  ASSERT_NO_FATAL_FAILURE(Open());
  auto second = OpenRocksDbBackend(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr(Options().path));
  EXPECT_THAT(second.status().message(), HasSubstr("locked"));
  // Once the first closes, the path opens again.
  ASSERT_TRUE(backend_->Close().ok());
  EXPECT_TRUE(OpenRocksDbBackend(Options()).ok());
}

TEST_F(RocksDbBackendTest, OpenRejectsPathsThatAreNotRocksDbDirectories) {
  std::filesystem::create_directories(dir_);
  {
    std::ofstream(dir_ / "plain-file") << "hello";
  }
  RocksDbOptions file_path;
  file_path.path = (dir_ / "plain-file").string();
  auto opened = OpenRocksDbBackend(file_path);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(file_path.path));

  // A directory full of someone else's files.
  std::filesystem::create_directories(dir_ / "home");
  {
    std::ofstream(dir_ / "home" / "notes.txt") << "mine";
  }
  RocksDbOptions foreign;
  foreign.path = (dir_ / "home").string();
  opened = OpenRocksDbBackend(foreign);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr(foreign.path));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "home" / "notes.txt"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "home" / "LOCK"));

  // A directory that claims to be RocksDB but whose CURRENT is garbage.
  std::filesystem::create_directories(dir_ / "broken");
  {
    std::ofstream(dir_ / "broken" / "CURRENT") << "no newline here";
  }
  RocksDbOptions broken;
  broken.path = (dir_ / "broken").string();
  opened = OpenRocksDbBackend(broken);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.status().message(), HasSubstr(broken.path));

  EXPECT_EQ(OpenRocksDbBackend(RocksDbOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RocksDbBackendTest, CreatesMissingParentsAndHonoursOptions) {
  RocksDbOptions options = Options("nested/deeper/db");
  options.block_cache_bytes = 0;  // no block cache at all
  options.sync_writes = true;
  auto opened = OpenRocksDbBackend(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  backend_ = std::move(opened).value();
  Put(0, alice_, "s", "synced");
  EXPECT_EQ(ReadOne(0, alice_, "s"), "synced");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "nested/deeper/db/CURRENT"));
}

TEST_F(RocksDbBackendTest, TestingHooksRefuseOtherBackendsAndClosedOnes) {
  ASSERT_NO_FATAL_FAILURE(Open());
  ASSERT_TRUE(backend_->Close().ok());
  EXPECT_EQ(state::CompactAllForTesting(*backend_).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(state::CountRawKeysForTesting(*backend_).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace eddy
