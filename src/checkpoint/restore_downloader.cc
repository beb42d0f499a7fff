// RestoreDownloader: parallel GetFile + verification into a fresh directory. See
// include/eddy/checkpoint/restore_downloader.h.

#include "eddy/checkpoint/restore_downloader.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include "checkpoint/file_digest.h"
#include "checkpoint/quote.h"

namespace eddy::checkpoint {
namespace {

namespace fs = std::filesystem;

Status CheckList(const std::vector<CheckpointFile>& files) {
  if (files.empty()) return InvalidArgument("restore file list is empty");
  EDDY_RETURN_IF_ERROR(CheckFileEntries(files, "restore file list entry"));
  bool has_current = false;
  for (const CheckpointFile& f : files) has_current = has_current || f.local_name == "CURRENT";
  if (!has_current) {
    // Without CURRENT, RocksDB would create an empty database there: state silently gone.
    return InvalidArgument("restore file list has no CURRENT file: not a RocksDB checkpoint");
  }
  return Status::Ok();
}

// Creates the directory, or accepts an existing empty one. `created` tells the caller whether
// removing the whole directory on failure is ours to do.
Status PrepareDir(const std::string& dir, bool* created) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Unavailable("cannot inspect restore directory " + dir + ": " + ec.message());
  }
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return FailedPrecondition("restore path " + dir + " exists and is not a directory");
    }
    if (!fs::is_empty(dir, ec) || ec) {
      return FailedPrecondition("restore directory " + dir +
                                " is not empty: restore needs a fresh directory");
    }
    *created = false;
    return Status::Ok();
  }
  fs::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create restore directory " + dir + ": " + ec.message());
  *created = true;
  return Status::Ok();
}

void Cleanup(const std::string& dir, bool created) {
  std::error_code ec;
  if (created) {
    fs::remove_all(dir, ec);
    return;
  }
  // It was empty before: everything in it is ours.
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code rm_ec;
    fs::remove_all(it->path(), rm_ec);
  }
}

}  // namespace

RestoreDownloader::RestoreDownloader(storage::ObjectStore* store, int threads)
    : store_(store), threads_(std::clamp(threads, 1, 16)) {}

Result<RestoreStats> RestoreDownloader::Download(const std::vector<CheckpointFile>& files,
                                                 const std::string& target_dir) {
  if (store_ == nullptr) return InvalidArgument("restore downloader has no object store");
  EDDY_RETURN_IF_ERROR(CheckList(files));
  bool created = false;
  EDDY_RETURN_IF_ERROR(PrepareDir(target_dir, &created));

  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
  RestoreStats stats;

  auto fetch = [&](const CheckpointFile& f) -> Status {
    const std::string path = (fs::path(target_dir) / f.local_name).string();
    Status got = store_->GetFile(f.key, path);
    if (got.code() == StatusCode::kNotFound) {
      return DataLoss("checkpoint file " + f.key + " is missing from " + store_->Describe() +
                      ": " + got.message());
    }
    if (!got.ok()) {
      return Status(got.code(), "downloading checkpoint file " + f.key + " from " +
                                    store_->Describe() + ": " + got.message());
    }
    auto digest = DigestFile(path);
    if (!digest.ok()) {
      return Status(digest.status().code(), "verifying checkpoint file " + f.key + ": " +
                                                digest.status().message());
    }
    if (digest->size != f.size) {
      return DataLoss("checkpoint file " + f.key + " has " + std::to_string(digest->size) +
                      " bytes, expected " + std::to_string(f.size));
    }
    if (digest->sha256 != f.sha256) {
      return DataLoss("checkpoint file " + f.key + " is corrupt: SHA-256 " + digest->sha256 +
                      ", expected " + f.sha256);
    }
    return Status::Ok();
  };

  auto worker = [&] {
    for (;;) {
      if (failed.load()) return;
      size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      Status s = fetch(files[i]);
      std::lock_guard<std::mutex> lock(mu);
      if (!s.ok()) {
        if (first_error.ok()) first_error = std::move(s);
        failed.store(true);
        return;
      }
      ++stats.files;
      stats.bytes += files[i].size;
    }
  };

  const size_t n = std::min<size_t>(static_cast<size_t>(threads_), files.size());
  std::vector<std::thread> pool;
  pool.reserve(n > 0 ? n - 1 : 0);
  for (size_t t = 1; t < n; ++t) pool.emplace_back(worker);
  worker();  // the caller's thread works too
  for (auto& t : pool) t.join();

  if (!first_error.ok()) {
    Cleanup(target_dir, created);
    return first_error;
  }
  return stats;
}

}  // namespace eddy::checkpoint
