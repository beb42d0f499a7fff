#pragma once
// StateBackend: durable per-address state, delayed messages and their cancellation index.
//
// Every key starts with the key group (4 bytes, big-endian) so a range of key groups can be
// scanned, dropped or moved as a unit. Thread-safety: the backend object is shared by all
// shards; each shard only reads and writes keys of the key groups it owns, so no two threads
// ever touch the same key. RocksDB itself is thread-safe for that pattern.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/model/address.h"
#include "eddy/model/key_group.h"
#include "eddy/model/typed_value.h"

namespace eddy {

struct StoredValue {
  std::string type_name;
  std::string value;
  int64_t expires_at_ms = 0;  // 0 = never expires (processing time, ms since epoch)
};

// A delayed message, stored under the *sender's* key group (as in StateFun).
struct DelayedRecord {
  Address sender;
  Address target;
  TypedValue argument;
  std::string cancellation_token;  // empty = cannot be cancelled
  int64_t fire_at_ms = 0;
  uint64_t sequence = 0;           // tie-breaker: messages with equal fire time keep send order
};

// Writes applied atomically by StateBackend::Commit.
class StateWriteBatch {
 public:
  virtual ~StateWriteBatch() = default;
  virtual void PutValue(KeyGroup kg, const Address& address, std::string_view state_name,
                        const StoredValue& value) = 0;
  virtual void DeleteValue(KeyGroup kg, const Address& address, std::string_view state_name) = 0;
  // Also indexes the token (sender + token -> record) when the token is non-empty.
  virtual void PutDelayed(KeyGroup kg, const DelayedRecord& record) = 0;
  // Removes the record and its token index entry.
  virtual void DeleteDelayed(KeyGroup kg, const DelayedRecord& record) = 0;
  virtual bool empty() const = 0;
};

class StateBackend {
 public:
  virtual ~StateBackend() = default;

  // One value per requested name, in order; nullopt when absent or expired at now_ms.
  virtual Result<std::vector<std::optional<StoredValue>>> ReadValues(
      KeyGroup kg, const Address& address, const std::vector<std::string>& state_names,
      int64_t now_ms) = 0;

  // The pending delayed message of sender with this token, if any.
  virtual Result<std::optional<DelayedRecord>> FindDelayedByToken(
      KeyGroup kg, const Address& sender, std::string_view token) = 0;

  // Visits every delayed message of key groups [first, last] (inclusive). Used at startup to
  // rebuild the in-memory timer queue. Stops early and returns the status if visit fails.
  virtual Status ScanDelayed(KeyGroup first, KeyGroup last,
                             const std::function<Status(KeyGroup, DelayedRecord)>& visit) = 0;

  virtual std::unique_ptr<StateWriteBatch> NewWriteBatch() = 0;
  virtual Status Commit(StateWriteBatch& batch) = 0;

  // Flushes memtables and closes. Later calls fail with FailedPrecondition.
  virtual Status Close() = 0;

  // ---- Checkpoints (docs/design/checkpoints.md; optional, so the defaults refuse) ----

  // Writes an openable copy of the store into `checkpoint_dir`, which must not exist (its parent
  // must; put it on the store's filesystem so SST files become hard links, not copies). Memtables
  // are not flushed: the WAL is copied up to its current end instead, so the call costs links
  // plus a WAL copy whatever the memtable holds. The copy has every commit that returned before
  // the call; run it while no Commit is in progress (the checkpoint cut pauses writers) to get
  // exactly one point in time. Open the copy with OpenRocksDbBackend. AlreadyExists when the
  // directory exists.
  virtual Status CreateCheckpoint(const std::string& checkpoint_dir) {
    (void)checkpoint_dir;
    return FailedPrecondition("this state backend cannot create checkpoints");
  }

  // Writes memtables to SST files and waits; the store stays open. (Not needed before
  // CreateCheckpoint; useful to bound WAL size and in tests and benchmarks.)
  virtual Status FlushMemtables() {
    return FailedPrecondition("this state backend has no memtables to flush");
  }
};

using StateBackendPtr = std::unique_ptr<StateBackend>;

struct RocksDbOptions {
  std::string path;                      // directory, created if missing
  size_t block_cache_bytes = 64 << 20;
  bool sync_writes = false;              // fsync the WAL on every commit
};

// Opens (or creates) the RocksDB state store. Expired values are dropped by a compaction filter.
Result<StateBackendPtr> OpenRocksDbBackend(const RocksDbOptions& options);

}  // namespace eddy
