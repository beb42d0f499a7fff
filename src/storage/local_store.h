#pragma once
// The local-folder backend (file:///path): one file per object under the root folder.

#include <string>

#include "eddy/storage/object_store.h"

namespace eddy::storage {

// `root` is an absolute folder; it is created if missing.
Result<ObjectStorePtr> OpenLocalStore(const std::string& root);

// Writes local_path atomically: `fill` writes the content into a temporary file of the same
// folder (created with its parents), which is then fsynced and renamed over local_path, and the
// folder fsynced. On any failure the temporary file is removed and local_path is untouched.
// Shared by the local backend and the S3 backend's GetFile.
class AtomicFileWriter {
 public:
  // Returns the fd to write to, or an error. Only one file per writer.
  Result<int> Open(const std::string& local_path);
  // Empties the temporary file (a retried download starts again).
  Status Truncate();
  // fsync + rename + folder fsync.
  Status Commit();
  // Removes the temporary file unless committed.
  ~AtomicFileWriter();

 private:
  int fd_ = -1;
  std::string final_path_;
  std::string temp_path_;
};

// Marks names of temporary files; never part of a valid key, so List skips them.
inline constexpr char kTempMarker[] = "#tmp-";

}  // namespace eddy::storage
