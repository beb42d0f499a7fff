#pragma once
// IncrementalUploader: uploads a local RocksDB checkpoint directory (StateBackend::
// CreateCheckpoint) to object storage, sending each immutable SST file only once.
//
//   *.sst            -> <prefix>/sst/<db-id>/<number>-<sha256>.sst, skipped when already stored
//   everything else  -> <prefix>/chk-<N>/<worker>/<name>   (MANIFEST-*, OPTIONS-*, CURRENT, *.log)
//
// The SHA-256 in the SST key makes a key name one exact content: after a restore RocksDB may
// reuse a file number for different bytes, which then gets a different key.
//
// Lifecycle: Create() lists <prefix>/sst/<db-id>/ once to learn what is already stored, then
// starts `threads` upload threads, owned by the uploader. Upload/UploadAsync may be called from any
// thread, any number of times (jobs run in call order, each spread over the threads). The
// destructor finishes the file each thread is sending, fails the rest of every unfinished job with
// Unavailable ("shutting down") and joins the threads; callbacks run before it returns.
//
// The set of stored SSTs only grows from this process's own uploads. It relies on the
// coordinator's retention never deleting an SST a checkpoint in progress may reuse (retention
// keeps every SST numbered above the highest one a retained manifest references); after a restore,
// create a new uploader so the set is listed again.

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "eddy/checkpoint/checkpoint_file.h"
#include "eddy/common/status.h"
#include "eddy/storage/object_store.h"

namespace eddy::checkpoint {

struct UploaderOptions {
  std::string key_prefix;  // "" or "a/b": prepended to every key (see checkpoint_file.h)
  std::string db_id;       // the worker's RocksDB instance: sst/<db_id>/
  std::string worker_id;   // chk-<N>/<worker_id>/
  int threads = 2;         // 1..16
};

struct UploadResult {
  std::vector<CheckpointFile> files;  // every file of the checkpoint, sorted by local name
  int64_t bytes_uploaded = 0;         // sent to storage by this upload
  int64_t bytes_reused = 0;           // SSTs already stored, only referenced
  int64_t files_uploaded = 0;
  int64_t files_reused = 0;
  int64_t total_bytes() const { return bytes_uploaded + bytes_reused; }
};

class IncrementalUploader {
 public:
  using Callback = std::function<void(Result<UploadResult>)>;

  // `store` must outlive the uploader. InvalidArgument for bad options; the List's error if
  // storage cannot be listed.
  static Result<std::unique_ptr<IncrementalUploader>> Create(storage::ObjectStore* store,
                                                             UploaderOptions options);
  virtual ~IncrementalUploader() = default;

  // Uploads every regular file of `local_dir` for checkpoint `checkpoint_id`. `done` runs once,
  // on an upload thread (or on the caller's thread for errors found before any upload), with the
  // file list or the first error; on error no file list is returned (files already sent stay in
  // storage: the per-checkpoint ones are removed with the aborted checkpoint by retention). The
  // directory must stay unchanged until `done` runs. `done` must not destroy the uploader.
  virtual void UploadAsync(uint64_t checkpoint_id, std::string local_dir, Callback done) = 0;
  std::future<Result<UploadResult>> UploadAsync(uint64_t checkpoint_id, std::string local_dir);
  // Blocking form (must not be called from an upload callback).
  Result<UploadResult> Upload(uint64_t checkpoint_id, std::string local_dir);

  // Number of SST keys known to be stored (listed at Create plus uploaded since).
  virtual size_t known_sst_count() const = 0;
};

}  // namespace eddy::checkpoint
