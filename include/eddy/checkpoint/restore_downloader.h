#pragma once
// RestoreDownloader: brings a worker's RocksDB checkpoint back from object storage into a fresh
// local directory, verifying every file, so that OpenRocksDbBackend can open it.
//
// Every file is downloaded under its local name (atomically, ObjectStore::GetFile), then its size
// and SHA-256 are compared with the file list. A missing object, a size or checksum mismatch is
// DataLoss naming the key; other storage errors (Unavailable, ...) pass through, also naming it.
// On any failure the directory is removed again, so a half-restored directory is never opened.
//
// The list must contain CURRENT: without it RocksDB would silently create an empty database in
// the directory, which is the worst way to lose state.
//
// Threading: Download blocks; it runs up to `threads` downloads at once on threads it starts and
// joins itself. Several Downloads may run at once (into different directories).

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/checkpoint/checkpoint_file.h"
#include "eddy/common/status.h"
#include "eddy/storage/object_store.h"

namespace eddy::checkpoint {

struct RestoreStats {
  int64_t files = 0;
  int64_t bytes = 0;
};

class RestoreDownloader {
 public:
  // `store` must outlive the downloader. threads is clamped to 1..16.
  explicit RestoreDownloader(storage::ObjectStore* store, int threads = 2);

  // `target_dir` must not exist, or be an empty directory (FailedPrecondition otherwise; its
  // parent is created if missing). InvalidArgument for a bad list: empty, no CURRENT, an unsafe
  // or repeated local name, a negative size, a SHA-256 that is not 64 lowercase hex digits.
  Result<RestoreStats> Download(const std::vector<CheckpointFile>& files,
                                const std::string& target_dir);

 private:
  storage::ObjectStore* store_;
  int threads_;
};

}  // namespace eddy::checkpoint
