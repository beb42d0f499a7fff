// Real RocksDB checkpoints through a file:// store: checkpoint -> upload -> download -> open, the
// incremental reuse of SST files, and what corrupt, missing or half-uploaded files do.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "eddy/checkpoint/incremental_uploader.h"
#include "eddy/checkpoint/restore_downloader.h"
#include "eddy/state/state_backend.h"
#include "eddy/storage/object_store.h"
#include "state/rocksdb_backend_testing.h"
#include "unit/checkpoint/checkpoint_test_util.h"

namespace eddy::checkpoint {
namespace {

namespace fs = std::filesystem;
using testing::Addr;
using testing::TempDir;

constexpr KeyGroup kKeyGroups = 64;
constexpr int64_t kNowMs = 1'000;

std::string ValueFor(int i, int version, size_t size = 200) {
  std::mt19937_64 rng(static_cast<uint64_t>(i) * 1'000'003 + static_cast<uint64_t>(version));
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

Address KeyAddr(int i) { return Addr("ns", "fn", "k" + std::to_string(i)); }
KeyGroup KgOf(int i) { return static_cast<KeyGroup>(i) % kKeyGroups; }

DelayedRecord Delayed(int i) {
  DelayedRecord r;
  r.sender = KeyAddr(i);
  r.target = Addr("ns", "target", "t" + std::to_string(i));
  r.argument = TypedValue{"io.statefun.types/string", true, "payload-" + std::to_string(i)};
  r.cancellation_token = i % 2 == 0 ? "tok-" + std::to_string(i) : "";
  r.fire_at_ms = 5'000 + i;
  r.sequence = static_cast<uint64_t>(i);
  return r;
}

void WriteValues(StateBackend& db, int from, int to, int version) {
  for (int start = from; start < to; start += 1000) {
    auto batch = db.NewWriteBatch();
    for (int i = start; i < std::min(to, start + 1000); ++i) {
      batch->PutValue(KgOf(i), KeyAddr(i), "s", StoredValue{"t/v", ValueFor(i, version), 0});
    }
    ASSERT_TRUE(db.Commit(*batch).ok());
  }
}

void WriteDelayed(StateBackend& db, int from, int to) {
  auto batch = db.NewWriteBatch();
  for (int i = from; i < to; ++i) batch->PutDelayed(KgOf(i), Delayed(i));
  ASSERT_TRUE(db.Commit(*batch).ok());
}

std::optional<StoredValue> Read(StateBackend& db, int i) {
  auto values = db.ReadValues(KgOf(i), KeyAddr(i), {"s"}, kNowMs);
  EXPECT_TRUE(values.ok()) << values.status().ToString();
  if (!values.ok()) return std::nullopt;
  return (*values)[0];
}

std::map<uint64_t, DelayedRecord> ScanAll(StateBackend& db) {
  std::map<uint64_t, DelayedRecord> out;
  Status s = db.ScanDelayed(0, kKeyGroups - 1, [&](KeyGroup, DelayedRecord r) {
    uint64_t seq = r.sequence;
    out.emplace(seq, std::move(r));
    return Status::Ok();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

void ExpectSameDelayed(const DelayedRecord& a, const DelayedRecord& b) {
  EXPECT_EQ(a.sender, b.sender);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.argument, b.argument);
  EXPECT_EQ(a.cancellation_token, b.cancellation_token);
  EXPECT_EQ(a.fire_at_ms, b.fire_at_ms);
  EXPECT_EQ(a.sequence, b.sequence);
}

int CountSst(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) n += e.path().extension() == ".sst";
  return n;
}

const CheckpointFile* FindFile(const UploadResult& r, const std::string& suffix) {
  for (const auto& f : r.files) {
    if (f.local_name.size() >= suffix.size() &&
        f.local_name.compare(f.local_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return &f;
    }
  }
  return nullptr;
}

class UploadRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenFileStore();
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }

  std::string StoreUri() const { return "file://" + dir_.Sub("store"); }
  Result<storage::ObjectStorePtr> OpenFileStore() const {
    storage::StorageConfig config;
    config.uri = StoreUri();
    return storage::OpenObjectStore(config);
  }
  std::string StorePath(const std::string& key) const { return dir_.Sub("store") + "/" + key; }

  StateBackendPtr OpenDb(const std::string& name) {
    RocksDbOptions options;
    options.path = dir_.Sub(name);
    options.block_cache_bytes = 1 << 20;
    auto db = OpenRocksDbBackend(options);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  std::unique_ptr<IncrementalUploader> NewUploader(storage::ObjectStore* store = nullptr,
                                                   int threads = 2) {
    UploaderOptions options;
    options.db_id = "w0-db";
    options.worker_id = "w0";
    options.threads = threads;
    auto uploader = IncrementalUploader::Create(store ? store : store_.get(), options);
    EXPECT_TRUE(uploader.ok()) << uploader.status().ToString();
    return uploader.ok() ? std::move(uploader).value() : nullptr;
  }

  // A small database checkpointed and uploaded as checkpoint 1.
  UploadResult SmallCheckpoint() {
    auto db = OpenDb("db");
    WriteValues(*db, 0, 300, 1);
    WriteDelayed(*db, 0, 10);
    EXPECT_TRUE(db->FlushMemtables().ok());
    WriteValues(*db, 300, 400, 1);  // WAL only
    EXPECT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-1")).ok());
    auto result = NewUploader()->Upload(1, dir_.Sub("chk-1"));
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(result).value() : UploadResult{};
  }

  TempDir dir_;
  storage::ObjectStorePtr store_;
};

TEST_F(UploadRestoreTest, CheckpointUploadDownloadOpenGivesTheSameState) {
  auto db = OpenDb("db");
  WriteValues(*db, 0, 2000, 1);
  WriteDelayed(*db, 0, 50);
  ASSERT_TRUE(db->FlushMemtables().ok());
  // After the flush: only in the memtable and the WAL, which the checkpoint must copy.
  WriteValues(*db, 2000, 2500, 1);
  WriteDelayed(*db, 50, 60);
  {
    auto batch = db->NewWriteBatch();
    batch->DeleteValue(KgOf(5), KeyAddr(5), "s");
    batch->DeleteDelayed(KgOf(4), Delayed(4));
    ASSERT_TRUE(db->Commit(*batch).ok());
  }
  const int sst_before = CountSst(dir_.Sub("db"));
  ASSERT_GT(sst_before, 0);
  Status created = db->CreateCheckpoint(dir_.Sub("chk-1"));
  ASSERT_TRUE(created.ok()) << created.ToString();
  EXPECT_EQ(CountSst(dir_.Sub("db")), sst_before) << "the checkpoint must not flush";
  WriteValues(*db, 0, 1, 99);  // after the cut: not in the checkpoint

  auto uploader = NewUploader();
  auto up = uploader->Upload(1, dir_.Sub("chk-1"));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->bytes_reused, 0);
  EXPECT_EQ(up->files_reused, 0);
  EXPECT_EQ(up->files_uploaded, static_cast<int64_t>(up->files.size()));
  int64_t total = 0;
  for (const auto& f : up->files) {
    total += f.size;
    EXPECT_EQ(fs::file_size(StorePath(f.key)), static_cast<uintmax_t>(f.size)) << f.key;
    auto local = LocalNameForKey(f.key);
    ASSERT_TRUE(local.ok()) << f.key;
    EXPECT_EQ(*local, f.local_name);
    if (f.local_name.ends_with(".sst")) {
      EXPECT_TRUE(f.key.starts_with("sst/w0-db/")) << f.key;
    } else {
      EXPECT_EQ(f.key, "chk-1/w0/" + f.local_name);
    }
  }
  EXPECT_EQ(up->bytes_uploaded, total);
  ASSERT_NE(FindFile(*up, "CURRENT"), nullptr);
  ASSERT_NE(FindFile(*up, ".sst"), nullptr);
  const CheckpointFile* wal = FindFile(*up, ".log");
  ASSERT_NE(wal, nullptr);
  EXPECT_GT(wal->size, 0);
  EXPECT_TRUE(std::is_sorted(up->files.begin(), up->files.end(),
                             [](const auto& a, const auto& b) {
                               return a.local_name < b.local_name;
                             }));

  RestoreDownloader downloader(store_.get());
  auto restored_stats = downloader.Download(up->files, dir_.Sub("restored"));
  ASSERT_TRUE(restored_stats.ok()) << restored_stats.status().ToString();
  EXPECT_EQ(restored_stats->files, static_cast<int64_t>(up->files.size()));
  EXPECT_EQ(restored_stats->bytes, total);

  auto restored = OpenDb("restored");
  ASSERT_NE(restored, nullptr);
  for (int i = 0; i < 2500; ++i) {
    auto v = Read(*restored, i);
    if (i == 5) {
      EXPECT_FALSE(v.has_value());
      continue;
    }
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_EQ(v->value, ValueFor(i, 1)) << i;
  }
  auto original = ScanAll(*db);
  auto copy = ScanAll(*restored);
  ASSERT_EQ(copy.size(), 59u);
  ASSERT_EQ(original.size(), copy.size());
  EXPECT_EQ(copy.count(4), 0u);
  for (const auto& [seq, record] : original) ExpectSameDelayed(record, copy.at(seq));
  auto by_token = restored->FindDelayedByToken(KgOf(56), KeyAddr(56), "tok-56");
  ASSERT_TRUE(by_token.ok() && by_token->has_value());
  ExpectSameDelayed(**by_token, Delayed(56));
  EXPECT_TRUE(restored->Close().ok());
  EXPECT_TRUE(db->Close().ok());
}

TEST_F(UploadRestoreTest, SecondCheckpointUploadsOnlyNewSstFiles) {
  constexpr int kKeys = 20'000;
  auto db = OpenDb("db");
  WriteValues(*db, 0, kKeys, 1);
  ASSERT_TRUE(state::CompactAllForTesting(*db).ok());
  ASSERT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-1")).ok());
  auto first = NewUploader()->Upload(1, dir_.Sub("chk-1"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->bytes_reused, 0);
  EXPECT_GT(first->bytes_uploaded, int64_t{kKeys} * 150);
  std::set<std::string> first_ssts;
  for (const auto& f : first->files) {
    if (f.key.starts_with("sst/")) first_ssts.insert(f.key);
  }
  ASSERT_FALSE(first_ssts.empty());

  // A new uploader (a restarted worker) learns the stored SSTs from a List.
  auto uploader = NewUploader();
  EXPECT_EQ(uploader->known_sst_count(), first_ssts.size());

  for (int i = 0; i < kKeys; i += 100) WriteValues(*db, i, i + 1, 2);  // 1% of the keys
  ASSERT_TRUE(db->FlushMemtables().ok());
  ASSERT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-2")).ok());
  auto second = uploader->Upload(2, dir_.Sub("chk-2"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT(second->bytes_reused, 0);
  EXPECT_GE(second->files_reused, 1);
  EXPECT_LT(second->bytes_uploaded * 10, second->total_bytes())
      << "uploaded " << second->bytes_uploaded << " of " << second->total_bytes();
  int reused_from_first = 0;
  for (const auto& f : second->files) reused_from_first += first_ssts.count(f.key);
  EXPECT_EQ(reused_from_first, second->files_reused);

  auto stats = RestoreDownloader(store_.get(), 3).Download(second->files, dir_.Sub("restored"));
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  auto restored = OpenDb("restored");
  ASSERT_NE(restored, nullptr);
  for (int i = 0; i < kKeys; i += (i % 100 == 0 ? 1 : 37)) {
    auto v = Read(*restored, i);
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_EQ(v->value, ValueFor(i, i % 100 == 0 ? 2 : 1)) << i;
  }
}

TEST_F(UploadRestoreTest, CorruptStoredFileFailsRestoreWithDataLossNamingIt) {
  UploadResult up = SmallCheckpoint();
  const CheckpointFile* sst = FindFile(up, ".sst");
  ASSERT_NE(sst, nullptr);
  {
    std::fstream f(StorePath(sst->key), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(sst->size / 2);
    char c = 0;
    f.read(&c, 1);
    f.seekp(sst->size / 2);
    c = static_cast<char>(c ^ 0x20);
    f.write(&c, 1);
  }
  RestoreDownloader downloader(store_.get());
  auto r = downloader.Download(up.files, dir_.Sub("restored"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find(sst->key), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("SHA-256"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(dir_.Sub("restored"))) << "a half-restored directory must not remain";
}

TEST_F(UploadRestoreTest, MissingOrTruncatedStoredFileIsDataLoss) {
  UploadResult up = SmallCheckpoint();
  const CheckpointFile* manifest = FindFile(up, "MANIFEST-");
  if (manifest == nullptr) {
    for (const auto& f : up.files) {
      if (f.local_name.starts_with("MANIFEST-")) manifest = &f;
    }
  }
  ASSERT_NE(manifest, nullptr);
  fs::resize_file(StorePath(manifest->key), static_cast<uintmax_t>(manifest->size - 1));
  RestoreDownloader downloader(store_.get(), 1);
  auto truncated = downloader.Download(up.files, dir_.Sub("r1"));
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(truncated.status().message().find(manifest->key), std::string::npos);
  EXPECT_NE(truncated.status().message().find("bytes, expected"), std::string::npos)
      << truncated.status().message();

  const CheckpointFile* current = FindFile(up, "CURRENT");
  ASSERT_TRUE(store_->Delete(current->key).ok());
  // An existing empty directory: allowed, and emptied again on failure (not removed).
  fs::create_directories(dir_.Sub("r2"));
  auto missing = downloader.Download(up.files, dir_.Sub("r2"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(missing.status().message().find("chk-1/w0/CURRENT"), std::string::npos)
      << missing.status().message();
  EXPECT_TRUE(fs::exists(dir_.Sub("r2")));
  EXPECT_TRUE(fs::is_empty(dir_.Sub("r2")));
}

TEST_F(UploadRestoreTest, CorruptingStoreOnReadIsDataLoss) {
  UploadResult up = SmallCheckpoint();
  storage::FaultPlan plan;
  plan.corrupt_get = true;
  auto inner = OpenFileStore();
  ASSERT_TRUE(inner.ok());
  auto faulty = storage::MakeFaultInjectingStore(std::move(inner).value(), plan);
  auto r = RestoreDownloader(faulty.get()).Download(up.files, dir_.Sub("restored"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
}

TEST_F(UploadRestoreTest, PartialUploadFailsAndReturnsNoFileList) {
  auto db = OpenDb("db");
  WriteValues(*db, 0, 500, 1);
  ASSERT_TRUE(db->FlushMemtables().ok());
  ASSERT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-1")).ok());

  storage::FaultPlan plan;
  plan.put_file_fail_after_bytes = 10;  // every upload breaks off mid-file
  auto counters = plan.counters;
  auto inner = OpenFileStore();
  ASSERT_TRUE(inner.ok());
  auto faulty = storage::MakeFaultInjectingStore(std::move(inner).value(), plan);
  auto uploader = NewUploader(faulty.get());
  auto r = uploader->Upload(1, dir_.Sub("chk-1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("injected fault"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("checkpoint 1"), std::string::npos) << r.status().message();
  EXPECT_GE(counters->faults(), 1);
  EXPECT_EQ(uploader->known_sst_count(), 0u) << "a failed SST upload must not count as stored";
  auto listed = store_->List("");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty()) << "nothing may become visible: " << listed->front().key;
}

TEST_F(UploadRestoreTest, FailedUploadCanBeRetried) {
  auto db = OpenDb("db");
  WriteValues(*db, 0, 500, 1);
  ASSERT_TRUE(db->FlushMemtables().ok());
  WriteValues(*db, 500, 600, 1);
  ASSERT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-1")).ok());
  storage::FaultPlan plan;
  plan.fail_nth = {{storage::StoreOp::kPutFile, 2}};
  auto inner = OpenFileStore();
  ASSERT_TRUE(inner.ok());
  auto faulty = storage::MakeFaultInjectingStore(std::move(inner).value(), plan);
  auto uploader = NewUploader(faulty.get(), 1);
  auto failed = uploader->Upload(1, dir_.Sub("chk-1"));
  ASSERT_FALSE(failed.ok());
  auto retried = uploader->Upload(1, dir_.Sub("chk-1"));
  ASSERT_TRUE(retried.ok()) << retried.status().ToString();
  auto stats = RestoreDownloader(store_.get()).Download(retried->files, dir_.Sub("restored"));
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  auto restored = OpenDb("restored");
  ASSERT_NE(restored, nullptr);
  for (int i = 0; i < 600; i += 7) {
    auto v = Read(*restored, i);
    ASSERT_TRUE(v.has_value()) << i;
    EXPECT_EQ(v->value, ValueFor(i, 1));
  }
}

TEST_F(UploadRestoreTest, AsyncUploadsReportOnceEvenWhenTheUploaderShutsDown) {
  auto db = OpenDb("db");
  WriteValues(*db, 0, 200, 1);
  ASSERT_TRUE(db->FlushMemtables().ok());
  ASSERT_TRUE(db->CreateCheckpoint(dir_.Sub("chk-1")).ok());
  auto uploader = NewUploader(nullptr, 1);
  auto future = uploader->UploadAsync(1, dir_.Sub("chk-1"));
  auto first = future.get();
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  std::atomic<int> calls[4] = {};
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    uploader->UploadAsync(static_cast<uint64_t>(10 + i), dir_.Sub("chk-1"),
                          [&, i](Result<UploadResult> r) {
                            ++calls[i];
                            if (r.ok()) {
                              ++ok;
                            } else {
                              EXPECT_NE(r.status().message().find("shutting down"),
                                        std::string::npos)
                                  << r.status().ToString();
                            }
                          });
  }
  uploader.reset();  // cancels what has not started; every callback has run when it returns
  for (int i = 0; i < 4; ++i) EXPECT_EQ(calls[i].load(), 1) << i;
  EXPECT_LE(ok.load(), 4);
}

TEST_F(UploadRestoreTest, BadInputsAreRefusedClearly) {
  UploaderOptions bad;
  bad.db_id = "w0/db";
  bad.worker_id = "w0";
  EXPECT_EQ(IncrementalUploader::Create(store_.get(), bad).status().code(),
            StatusCode::kInvalidArgument);
  bad.db_id = "db";
  bad.threads = 0;
  EXPECT_EQ(IncrementalUploader::Create(store_.get(), bad).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(IncrementalUploader::Create(nullptr, UploaderOptions{}).status().code(),
            StatusCode::kInvalidArgument);

  auto uploader = NewUploader();
  EXPECT_EQ(uploader->Upload(1, dir_.Sub("nope")).status().code(), StatusCode::kNotFound);
  fs::create_directories(dir_.Sub("not-a-checkpoint"));
  std::ofstream(dir_.Sub("not-a-checkpoint/000001.sst")) << "x";
  auto no_current = uploader->Upload(1, dir_.Sub("not-a-checkpoint"));
  EXPECT_EQ(no_current.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(no_current.status().message().find("CURRENT"), std::string::npos);
  auto db = OpenDb("db");
  auto live = uploader->Upload(1, dir_.Sub("db"));
  EXPECT_EQ(live.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(live.status().message().find("LOCK"), std::string::npos) << live.status().message();

  EXPECT_EQ(db->CreateCheckpoint(dir_.Sub("db")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(db->CreateCheckpoint("").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(db->Close().ok());
  EXPECT_EQ(db->CreateCheckpoint(dir_.Sub("chk-9")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(db->FlushMemtables().code(), StatusCode::kFailedPrecondition);

  RestoreDownloader downloader(store_.get());
  const std::string sha(64, 'a');
  auto code = [&](std::vector<CheckpointFile> files) {
    return downloader.Download(files, dir_.Sub("r")).status().code();
  };
  EXPECT_EQ(code({}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"chk-1/w0/OPTIONS-1", "OPTIONS-1", 1, sha}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"chk-1/w0/CURRENT", "CURRENT", 1, sha}, {"k", "../evil", 1, sha}}),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"chk-1/w0/CURRENT", "CURRENT", 1, sha}, {"k", "CURRENT", 1, sha}}),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"chk-1/w0/CURRENT", "CURRENT", -1, sha}}), StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{"chk-1/w0/CURRENT", "CURRENT", 1, "abc"}}), StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_.Sub("r")));
  fs::create_directories(dir_.Sub("full"));
  std::ofstream(dir_.Sub("full/x")) << "x";
  EXPECT_EQ(downloader.Download({{"chk-1/w0/CURRENT", "CURRENT", 1, sha}}, dir_.Sub("full"))
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir_.Sub("full/x")));
}

}  // namespace
}  // namespace eddy::checkpoint
