// StateBackend on RocksDB: one default column family, keys laid out by state/key_codec.h.
// See src/state/README.md for the design and the reasons behind it.

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "eddy/state/state_backend.h"
#include "state/key_codec.h"
#include "state/rocksdb_backend_testing.h"
#include "state/ttl_compaction_filter.h"

namespace eddy {
namespace {

using state::DescribeKey;
using state::Printable;

Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  std::string message = context + ": " + s.ToString();
  if (s.IsCorruption()) return DataLoss(std::move(message));
  if (s.IsNoSpace()) return ResourceExhausted(std::move(message));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut() || s.IsIncomplete()) {
    return Unavailable(std::move(message));
  }
  if (s.IsNotFound()) return NotFound(std::move(message));
  if (s.IsInvalidArgument() || s.IsNotSupported()) return InvalidArgument(std::move(message));
  return Internal(std::move(message));
}

std::string DescribeValue(KeyGroup kg, const Address& address, std::string_view state_name) {
  return "state '" + Printable(state_name) + "' of " + Printable(address.ToString()) +
         " (key group " + std::to_string(kg) + ")";
}

// The file names RocksDB itself creates in its directory (db/filename.cc).
bool IsRocksDbFileName(const std::string& name) {
  auto starts = [&](std::string_view p) { return name.rfind(p, 0) == 0; };
  auto ends = [&](std::string_view s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return name == "CURRENT" || name == "IDENTITY" || name == "LOCK" || name == "LOG" ||
         starts("LOG.old.") || starts("MANIFEST-") || starts("OPTIONS-") || ends(".log") ||
         ends(".sst") || ends(".blob") || ends(".dbtmp");
}

// Creates the directory if missing. Refuses a directory that holds foreign files and no
// CURRENT: pointing the state path at, say, a home directory by mistake must fail loudly
// rather than sprinkle a fresh database among someone else's files.
Status PrepareStateDir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Unavailable("cannot inspect state path " + path + ": " + ec.message());
  }
  if (!fs::exists(st)) {
    fs::create_directories(path, ec);
    if (ec) return Unavailable("cannot create state directory " + path + ": " + ec.message());
    return Status::Ok();
  }
  if (!fs::is_directory(st)) {
    return FailedPrecondition("state path " + path + " exists but is not a directory");
  }
  if (fs::exists(fs::path(path) / "CURRENT", ec)) return Status::Ok();
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!IsRocksDbFileName(name)) {
      return FailedPrecondition("state path " + path + " is not a RocksDB directory: it has no "
                                "CURRENT file but contains '" + Printable(name) + "'");
    }
  }
  if (ec) return Unavailable("cannot list state directory " + path + ": " + ec.message());
  return Status::Ok();
}

class RocksDbWriteBatch final : public StateWriteBatch {
 public:
  void PutValue(KeyGroup kg, const Address& address, std::string_view state_name,
                const StoredValue& value) override {
    // WriteBatch copies key and value into its own buffer, so two scratch strings per batch
    // replace two allocations per value (a flush writes tens of thousands of values).
    state::ValueKeyInto(kg, address, state_name, &key_scratch_);
    state::EncodeStoredValueInto(value, &value_scratch_);
    Track(batch_.Put(key_scratch_, value_scratch_));
  }

  void DeleteValue(KeyGroup kg, const Address& address, std::string_view state_name) override {
    Track(batch_.Delete(state::ValueKey(kg, address, state_name)));
  }

  void PutDelayed(KeyGroup kg, const DelayedRecord& record) override {
    Track(batch_.Put(state::DelayedKey(kg, record.fire_at_ms, record.sequence),
                     state::EncodeDelayedRecord(record)));
    if (!record.cancellation_token.empty()) {
      Track(batch_.Put(state::TokenKey(kg, record.sender, record.cancellation_token),
                       state::EncodeDelayedLocator({record.fire_at_ms, record.sequence})));
    }
  }

  void DeleteDelayed(KeyGroup kg, const DelayedRecord& record) override {
    Track(batch_.Delete(state::DelayedKey(kg, record.fire_at_ms, record.sequence)));
    if (!record.cancellation_token.empty()) {
      Track(batch_.Delete(state::TokenKey(kg, record.sender, record.cancellation_token)));
    }
  }

  bool empty() const override { return batch_.Count() == 0; }

  rocksdb::WriteBatch& batch() { return batch_; }
  // The first error a mutation hit (RocksDB only fails them for keys or values over 4 GiB);
  // the mutation methods return void, so Commit reports it instead.
  const Status& deferred() const { return deferred_; }
  void Clear() {
    batch_.Clear();
    deferred_ = Status::Ok();
  }

 private:
  void Track(const rocksdb::Status& s) {
    if (!s.ok() && deferred_.ok()) deferred_ = FromRocks(s, "adding to state write batch");
  }

  rocksdb::WriteBatch batch_;
  Status deferred_;
  std::string key_scratch_;
  std::string value_scratch_;
};

class RocksDbBackend final : public StateBackend {
 public:
  RocksDbBackend(std::unique_ptr<rocksdb::DB> db, const RocksDbOptions& options)
      : db_(std::move(db)), path_(options.path) {
    write_options_.sync = options.sync_writes;
  }

  ~RocksDbBackend() override {
    // Nobody can look at the status of an implicit close; an explicit Close() reports it.
    if (db_) (void)Close();
  }

  Result<std::vector<std::optional<StoredValue>>> ReadValues(
      KeyGroup kg, const Address& address, const std::vector<std::string>& state_names,
      int64_t now_ms) override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    const size_t n = state_names.size();
    std::vector<std::optional<StoredValue>> out(n);
    if (n == 0) return out;
    if (n == 1) {
      // The common case (one state per function): a plain Get skips MultiGet's per-call setup
      // and the four vectors below; the key buffer is reused per thread (shards call this for
      // every first touch of an address).
      thread_local std::string key;
      state::ValueKeyInto(kg, address, state_names[0], &key);
      rocksdb::PinnableSlice value;
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), key, &value);
      if (s.IsNotFound()) return out;
      auto live = DecodeLive(s, kg, address, state_names[0], key, value.ToStringView(), now_ms);
      if (!live.ok()) return live.status();
      out[0] = std::move(live).value();
      return out;
    }
    std::vector<std::string> keys;
    keys.reserve(n);
    for (const auto& name : state_names) keys.push_back(state::ValueKey(kg, address, name));
    std::vector<rocksdb::Slice> key_slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(n);
    std::vector<rocksdb::Status> statuses(n);
    db_->MultiGet(rocksdb::ReadOptions(), db_->DefaultColumnFamily(), n, key_slices.data(),
                  values.data(), statuses.data());
    for (size_t i = 0; i < n; ++i) {
      if (statuses[i].IsNotFound()) continue;
      auto live = DecodeLive(statuses[i], kg, address, state_names[i], keys[i],
                             values[i].ToStringView(), now_ms);
      if (!live.ok()) return live.status();
      out[i] = std::move(live).value();
    }
    return out;
  }

  Result<std::optional<DelayedRecord>> FindDelayedByToken(KeyGroup kg, const Address& sender,
                                                          std::string_view token) override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    using Found = std::optional<DelayedRecord>;
    if (token.empty()) return Found();  // empty tokens are never indexed
    std::string token_key = state::TokenKey(kg, sender, token);
    std::string locator_bytes;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), token_key, &locator_bytes);
    if (s.IsNotFound()) return Found();
    if (!s.ok()) return FromRocks(s, "reading token index " + DescribeKey(token_key));
    auto locator = state::DecodeDelayedLocator(locator_bytes);
    if (!locator) {
      return DataLoss("token index entry is not a delayed-record locator at " +
                      DescribeKey(token_key));
    }
    std::string record_key = state::DelayedKey(kg, locator->fire_at_ms, locator->sequence);
    std::string record_bytes;
    s = db_->Get(rocksdb::ReadOptions(), record_key, &record_bytes);
    if (s.IsNotFound()) {
      // Record and index are written and deleted in one batch, so this is never expected.
      return DataLoss("token index " + DescribeKey(token_key) + " points to missing " +
                      DescribeKey(record_key));
    }
    if (!s.ok()) return FromRocks(s, "reading delayed record " + DescribeKey(record_key));
    auto record = DecodeDelayedAt(record_key, record_bytes);
    if (!record.ok()) return record.status();
    if (!(record->sender == sender) || record->cancellation_token != token) {
      return DataLoss("token index " + DescribeKey(token_key) + " points to a delayed record of "
                      "another sender or token at " + DescribeKey(record_key));
    }
    return Found(std::move(record).value());
  }

  Status ScanDelayed(KeyGroup first, KeyGroup last,
                     const std::function<Status(KeyGroup, DelayedRecord)>& visit) override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    if (first > last) {
      return InvalidArgument("ScanDelayed range is empty: first " + std::to_string(first) +
                             " > last " + std::to_string(last));
    }
    rocksdb::ReadOptions read_options;
    std::string upper;  // must outlive the iterator
    rocksdb::Slice upper_slice;
    if (last < std::numeric_limits<KeyGroup>::max()) {
      upper = state::KeyGroupPrefix(last + 1);
      upper_slice = upper;
      read_options.iterate_upper_bound = &upper_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options));
    // Delayed records of consecutive key groups are not contiguous (values and tokens sit
    // between them), so seek once per key group, but jump straight to the next key group that
    // has any key at all: cost is O(non-empty key groups + records), not O(range).
    uint64_t kg = first;
    while (kg <= last) {
      it->Seek(state::RecordPrefix(static_cast<KeyGroup>(kg), state::kDelayedTag));
      for (; it->Valid(); it->Next()) {
        std::string_view key = it->key().ToStringView();
        auto header = state::ParseKeyHeader(key);
        if (!header) return DataLoss("malformed " + DescribeKey(key));
        if (header->key_group != kg || header->tag != state::kDelayedTag) break;
        auto record = DecodeDelayedAt(key, it->value().ToStringView());
        if (!record.ok()) return record.status();
        EDDY_RETURN_IF_ERROR(visit(header->key_group, std::move(record).value()));
      }
      if (!it->Valid()) break;
      auto next = state::ParseKeyHeader(it->key().ToStringView());
      if (!next) return DataLoss("malformed " + DescribeKey(it->key().ToStringView()));
      if (next->key_group == kg || next->tag > state::kDelayedTag) {
        kg = uint64_t{next->key_group} + 1;
      } else {
        kg = next->key_group;
      }
    }
    if (!it->status().ok()) {
      return FromRocks(it->status(), "scanning delayed records of key groups " +
                                         std::to_string(first) + ".." + std::to_string(last));
    }
    return Status::Ok();
  }

  std::unique_ptr<StateWriteBatch> NewWriteBatch() override {
    return std::make_unique<RocksDbWriteBatch>();
  }

  Status Commit(StateWriteBatch& batch) override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    auto* rocks_batch = dynamic_cast<RocksDbWriteBatch*>(&batch);
    if (rocks_batch == nullptr) {
      return InvalidArgument("Commit got a write batch that the RocksDB backend did not create");
    }
    EDDY_RETURN_IF_ERROR(rocks_batch->deferred());
    if (rocks_batch->empty()) return Status::Ok();
    rocksdb::Status s = db_->Write(write_options_, &rocks_batch->batch());
    if (!s.ok()) return FromRocks(s, "committing state batch to " + path_);
    // Cleared so that re-committing the same object cannot apply the mutations twice.
    rocks_batch->Clear();
    return Status::Ok();
  }

  Status Close() override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    Status result;
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    rocksdb::Status s = db_->Flush(flush_options);
    if (!s.ok()) result = FromRocks(s, "flushing state at " + path_);
    s = db_->Close();
    if (!s.ok() && result.ok()) result = FromRocks(s, "closing state at " + path_);
    db_.reset();  // closed even if flushing failed: the WAL still holds the writes
    return result;
  }

  Status CreateCheckpoint(const std::string& checkpoint_dir) override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    namespace fs = std::filesystem;
    if (checkpoint_dir.empty()) return InvalidArgument("checkpoint directory is empty");
    std::error_code ec;
    // RocksDB wants an absolute path (it writes <dir>.tmp, then renames).
    std::string dir = fs::absolute(checkpoint_dir, ec).lexically_normal().string();
    if (ec) {
      return InvalidArgument("bad checkpoint directory " + checkpoint_dir + ": " + ec.message());
    }
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (fs::exists(fs::symlink_status(dir, ec))) {
      return Status(StatusCode::kAlreadyExists, "checkpoint directory " + dir + " already exists");
    }
    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
    if (!s.ok()) return FromRocks(s, "preparing a checkpoint of " + path_);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // log_size_for_flush = max: never flush (DBImpl::GetLiveFilesStorageInfo skips the flush
    // for exactly this value); every live WAL goes into the copy instead, the last one copied up
    // to its size after FlushWAL, so the copy replays to the state of the last finished commit.
    s = checkpoint->CreateCheckpoint(dir, std::numeric_limits<uint64_t>::max());
    if (!s.ok()) return FromRocks(s, "creating checkpoint of " + path_ + " in " + dir);
    return Status::Ok();
  }

  Status FlushMemtables() override {
    EDDY_RETURN_IF_ERROR(CheckOpen());
    rocksdb::FlushOptions flush_options;
    flush_options.wait = true;
    rocksdb::Status s = db_->Flush(flush_options);
    if (!s.ok()) return FromRocks(s, "flushing state at " + path_);
    return Status::Ok();
  }

  // For the testing hooks.
  Status CheckOpen() const {
    if (!db_) return FailedPrecondition("state backend at " + path_ + " is closed");
    return Status::Ok();
  }
  rocksdb::DB& db() { return *db_; }
  const std::string& path() const { return path_; }

 private:
  // Decodes a delayed record and checks that it agrees with the key it is stored under.
  static Result<DelayedRecord> DecodeDelayedAt(std::string_view key, std::string_view value) {
    auto locator = state::ParseDelayedKey(key);
    if (!locator) return DataLoss("malformed delayed record " + DescribeKey(key));
    auto record = state::DecodeDelayedRecord(value);
    if (!record.ok()) return DataLoss(record.status().message() + " at " + DescribeKey(key));
    if (record->fire_at_ms != locator->fire_at_ms || record->sequence != locator->sequence) {
      return DataLoss("delayed record's fire time or sequence disagrees with its " +
                      DescribeKey(key));
    }
    return record;
  }

  // One read result (not NotFound): the decoded value, nullopt if expired at now_ms, or the
  // error naming the state.
  static Result<std::optional<StoredValue>> DecodeLive(const rocksdb::Status& s, KeyGroup kg,
                                                       const Address& address,
                                                       const std::string& state_name,
                                                       std::string_view key,
                                                       std::string_view bytes, int64_t now_ms) {
    if (!s.ok()) return FromRocks(s, "reading " + DescribeValue(kg, address, state_name));
    auto decoded = state::DecodeStoredValue(bytes);
    if (!decoded.ok()) {
      return DataLoss(decoded.status().message() + " at " +
                      DescribeValue(kg, address, state_name) + ", " + DescribeKey(key));
    }
    int64_t expires_at = decoded->expires_at_ms;
    if (expires_at != 0 && expires_at <= now_ms) return std::optional<StoredValue>();
    return std::optional<StoredValue>(std::move(decoded).value());
  }

  // Null once closed. Close() must not race with other calls (the owner closes after all
  // shards stopped); everything else may run concurrently from several shard threads.
  std::unique_ptr<rocksdb::DB> db_;
  const std::string path_;
  rocksdb::WriteOptions write_options_;
};

Result<StateBackendPtr> OpenImpl(const RocksDbOptions& options, std::function<int64_t()> now_ms) {
  if (options.path.empty()) return InvalidArgument("RocksDB state path is empty");
  EDDY_RETURN_IF_ERROR(PrepareStateDir(options.path));

  rocksdb::BlockBasedTableOptions table_options;
  if (options.block_cache_bytes == 0) {
    table_options.no_block_cache = true;
  } else {
    table_options.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  }
  // State reads are point lookups (Get/MultiGet): a whole-key bloom filter skips most SST reads.
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  db_options.compaction_filter_factory = state::NewTtlCompactionFilterFactory(std::move(now_ms));
  db_options.keep_log_file_num = 5;
  // Whole-key bloom over each memtable: a read of a key the memtable does not hold (every first
  // touch of an address, every key already flushed) skips the skiplist search, which otherwise
  // cost ~25% of a worker's CPU at 1M keys (tens of cache-missing key compares per lookup).
  // 2% of the write buffer (1.3 MiB of 64) is ~15 bits per entry for small states' ~100 bytes.
  // No prefix extractor: whole-key filtering needs none, and scans cross key groups.
  db_options.memtable_whole_key_filtering = true;
  db_options.memtable_prefix_bloom_size_ratio = 0.02;

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return FailedPrecondition("state path " + options.path +
                                " is locked by another open instance: " + s.ToString());
    }
    return FromRocks(s, "cannot open RocksDB state at " + options.path);
  }
  return StateBackendPtr(
      std::make_unique<RocksDbBackend>(std::unique_ptr<rocksdb::DB>(raw), options));
}

Result<RocksDbBackend*> AsOpenRocksDb(StateBackend& backend) {
  auto* rocks = dynamic_cast<RocksDbBackend*>(&backend);
  if (rocks == nullptr) return InvalidArgument("not the RocksDB state backend");
  EDDY_RETURN_IF_ERROR(rocks->CheckOpen());
  return rocks;
}

}  // namespace

Result<StateBackendPtr> OpenRocksDbBackend(const RocksDbOptions& options) {
  return OpenImpl(options, state::WallClockNowMs);
}

namespace state {

Result<StateBackendPtr> OpenRocksDbBackendForTesting(const RocksDbOptions& options,
                                                     std::function<int64_t()> now_ms) {
  return OpenImpl(options, std::move(now_ms));
}

Status CompactAllForTesting(StateBackend& backend) {
  auto rocks = AsOpenRocksDb(backend);
  if (!rocks.ok()) return rocks.status();
  rocksdb::DB& db = (*rocks)->db();
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  rocksdb::Status s = db.Flush(flush_options);
  if (!s.ok()) return FromRocks(s, "flushing before compaction");
  rocksdb::CompactRangeOptions compact_options;
  compact_options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  s = db.CompactRange(compact_options, nullptr, nullptr);
  if (!s.ok()) return FromRocks(s, "compacting " + (*rocks)->path());
  return Status::Ok();
}

Result<size_t> CountRawKeysForTesting(StateBackend& backend, std::optional<char> tag) {
  auto rocks = AsOpenRocksDb(backend);
  if (!rocks.ok()) return rocks.status();
  std::unique_ptr<rocksdb::Iterator> it((*rocks)->db().NewIterator(rocksdb::ReadOptions()));
  size_t count = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto header = ParseKeyHeader(it->key().ToStringView());
    if (!tag || (header && header->tag == *tag)) ++count;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "counting keys");
  return count;
}

Status PutRawForTesting(StateBackend& backend, std::string_view key, std::string_view value) {
  auto rocks = AsOpenRocksDb(backend);
  if (!rocks.ok()) return rocks.status();
  rocksdb::Status s = (*rocks)->db().Put(rocksdb::WriteOptions(), key, value);
  if (!s.ok()) return FromRocks(s, "raw put");
  return Status::Ok();
}

}  // namespace state
}  // namespace eddy
