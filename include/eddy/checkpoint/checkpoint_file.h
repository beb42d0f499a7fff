#pragma once
// CheckpointFile: one file of a worker's RocksDB checkpoint as it sits in object storage, and the
// key layout of docs/design/checkpoints.md:
//
//   <prefix>/sst/<db-id>/<file-number>-<sha256>.sst   immutable SST files, uploaded once, shared
//   <prefix>/chk-<N>/<worker>/<name>                   every other file of checkpoint N
//
// <prefix> is an optional key prefix inside the store ("" = none; the store's URI usually carries
// the job's prefix already). Plain value types and pure functions; no threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"

namespace eddy::checkpoint {

struct CheckpointFile {
  std::string key;         // object key relative to the store
  std::string local_name;  // file name inside the RocksDB directory ("000012.sst", "CURRENT")
  int64_t size = 0;        // bytes
  std::string sha256;      // lowercase hex, 64 characters

  friend bool operator==(const CheckpointFile&, const CheckpointFile&) = default;
};

// A worker id or db id usable as one key segment: 1..128 characters of [A-Za-z0-9._~-], not "."
// or "..". InvalidArgument naming `what` otherwise.
Status CheckKeySegment(std::string_view value, std::string_view what);
// "" or '/'-separated segments as above (no leading, trailing or doubled '/').
Status CheckKeyPrefix(std::string_view prefix);

// "<prefix>/sst/<db_id>/<number>-<sha256>.sst" for the local file "<number>.sst".
std::string SstKey(std::string_view prefix, std::string_view db_id, std::string_view sst_number,
                   std::string_view sha256);
// "<prefix>/sst/<db_id>/": what List is given to find every SST already uploaded.
std::string SstFolder(std::string_view prefix, std::string_view db_id);
// "<prefix>/chk-<N>/<worker>/": the per-checkpoint folder of one worker.
std::string CheckpointFolder(std::string_view prefix, uint64_t checkpoint_id,
                             std::string_view worker);

// The local file name a key restores to: "000012.sst" for ".../sst/<db>/000012-<sha>.sst",
// "<name>" for ".../chk-<N>/<worker>/<name>". For callers that only have (key, size, sha256),
// such as the coordinator's SnapshotFile. InvalidArgument when the key has neither shape.
Result<std::string> LocalNameForKey(std::string_view key);

// A name RestoreDownloader may create inside its directory: a plain file name of the key
// alphabet, not "." or "..", no '/'.
bool IsSafeLocalName(std::string_view name);

// Checks a list of files as stored in a snapshot or handed to a restore: non-empty keys, safe and
// unique local names, sizes >= 0, SHA-256 as 64 lowercase hex digits. `what` starts each error
// ("db file", "restore file list entry").
Status CheckFileEntries(const std::vector<CheckpointFile>& files, std::string_view what);

}  // namespace eddy::checkpoint
