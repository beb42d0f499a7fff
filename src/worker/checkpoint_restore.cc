#include "worker/checkpoint_restore.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "eddy/checkpoint/restore_downloader.h"

namespace eddy {

namespace fs = std::filesystem;
namespace v1 = coordinator::v1;

namespace {

constexpr const char* kSnapshotName = "snapshot.pb";

std::string NewDbDir(const std::string& state_dir, uint64_t checkpoint) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return state_dir + "/db-" + std::to_string(checkpoint) + "-" + std::to_string(ms);
}

}  // namespace

std::string LocalCheckpointsDir(const std::string& state_dir) {
  return state_dir + "/checkpoints";
}

Result<CheckpointedState> PrepareCheckpointedState(storage::ObjectStore* store,
                                                   const v1::Assignment& assignment,
                                                   const std::string& worker_id,
                                                   const std::string& state_dir) {
  CheckpointedState out;
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  if (ec) return Unavailable("cannot create state_dir " + state_dir + ": " + ec.message());
  const bool restore =
      assignment.has_restore_from() && assignment.restore_from().checkpoint_id() > 0;
  if (!restore) {
    out.db_dir = NewDbDir(state_dir, 0);
    return out;
  }
  const v1::RestorePoint& point = assignment.restore_from();
  const v1::SnapshotDescription* mine = nullptr;
  std::string others;
  for (const auto& s : point.snapshots()) {
    if (s.worker_id() == worker_id) mine = &s;
    others += (others.empty() ? "" : ", ") + s.worker_id();
  }
  if (mine == nullptr) {
    return FailedPrecondition("checkpoint " + std::to_string(point.checkpoint_id()) +
                              " has no snapshot of worker '" + worker_id + "' (it has: " +
                              others + "); set checkpoint.worker_id to the id it ran under");
  }
  std::vector<checkpoint::CheckpointFile> files;
  for (const auto& f : mine->files()) {
    auto name = checkpoint::LocalNameForKey(f.key());
    if (!name.ok()) return DataLoss("checkpoint file " + f.key() + ": " + name.status().message());
    files.push_back({f.key(), *name, f.size(), f.sha256()});
  }
  out.restored_from = point.checkpoint_id();
  out.db_dir = NewDbDir(state_dir, out.restored_from);
  checkpoint::RestoreDownloader downloader(store);
  auto stats = downloader.Download(files, out.db_dir);
  if (!stats.ok()) {
    return Status(stats.status().code(), "restoring checkpoint " +
                                             std::to_string(out.restored_from) + ": " +
                                             stats.status().message());
  }
  // snapshot.pb came down with the RocksDB files (verified like them); it is not a RocksDB file.
  const std::string snapshot_path = out.db_dir + "/" + kSnapshotName;
  std::ifstream in(snapshot_path, std::ios::binary);
  if (!in) {
    fs::remove_all(out.db_dir, ec);
    return DataLoss("checkpoint " + std::to_string(out.restored_from) + " of worker " +
                    worker_id + " has no " + kSnapshotName);
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  in.close();
  fs::remove(snapshot_path, ec);
  auto snapshot = checkpoint::DecodeWorkerSnapshot(bytes.str());
  if (!snapshot.ok()) {
    fs::remove_all(out.db_dir, ec);
    return DataLoss("checkpoint " + std::to_string(out.restored_from) + ": " +
                    snapshot.status().message());
  }
  if (snapshot->checkpoint_id != out.restored_from || snapshot->worker_id != worker_id) {
    fs::remove_all(out.db_dir, ec);
    return DataLoss("checkpoint " + std::to_string(out.restored_from) + ": snapshot.pb belongs "
                    "to checkpoint " + std::to_string(snapshot->checkpoint_id) + " of worker '" +
                    snapshot->worker_id + "'");
  }
  out.snapshot = std::move(snapshot).value();
  spdlog::info("restored checkpoint {}: {} files, {} bytes, {} pending messages, {} ingress "
               "positions", out.restored_from, stats->files, stats->bytes,
               out.snapshot.pending.size(), out.snapshot.ingress_positions.size());
  return out;
}

void RemoveStaleStateDirs(const std::string& state_dir, const std::string& keep) {
  std::error_code ec;
  const fs::path kept = fs::path(keep).lexically_normal();
  for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory(ec)) continue;
    if (name.rfind("db-", 0) != 0 && name != "checkpoints") continue;
    if (entry.path().lexically_normal() == kept) continue;
    std::error_code rm;
    fs::remove_all(entry.path(), rm);
    if (rm) spdlog::warn("cannot remove {}: {}", entry.path().string(), rm.message());
  }
}

}  // namespace eddy
