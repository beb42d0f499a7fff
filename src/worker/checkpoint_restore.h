#pragma once
// Startup with checkpoints: picks the live RocksDB directory under state_dir. With a restore
// point, this worker's files are downloaded and verified (RestoreDownloader) into a fresh
// directory and its snapshot.pb is decoded; without one, a fresh empty directory is used (state
// of an earlier run that never reached a completed checkpoint must not be reused: the ingresses
// start again from their startup positions). Private to src/worker.
//
// Layout under state_dir (same filesystem, so RocksDB checkpoints are hard links):
//   db-<checkpoint>-<unix ms>/   the live RocksDB of this run
//   checkpoints/chk-<N>/         local checkpoints until uploaded and completed

#include <cstdint>
#include <string>

#include "eddy/checkpoint/worker_snapshot.h"
#include "eddy/common/status.h"
#include "eddy/coordinator.pb.h"
#include "eddy/storage/object_store.h"

namespace eddy {

struct CheckpointedState {
  uint64_t restored_from = 0;  // 0: fresh start
  std::string db_dir;          // open RocksDB here
  checkpoint::WorkerSnapshot snapshot;  // empty on a fresh start
};

Result<CheckpointedState> PrepareCheckpointedState(storage::ObjectStore* store,
                                                   const coordinator::v1::Assignment& assignment,
                                                   const std::string& worker_id,
                                                   const std::string& state_dir);

// Removes db-* directories other than `keep` and the local checkpoints folder (best effort).
void RemoveStaleStateDirs(const std::string& state_dir, const std::string& keep);

// The local checkpoints folder: <state_dir>/checkpoints.
std::string LocalCheckpointsDir(const std::string& state_dir);

}  // namespace eddy
