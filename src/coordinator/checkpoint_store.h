#pragma once
// Private to src/coordinator: the coordinator's storage layout and the operations on it that do
// not depend on sessions or time: checksums, manifest and LATEST records, file verification,
// recovery (which checkpoint to restore) and retention (which objects to delete).
//
// Layout (docs/design/checkpoints.md):
//   LATEST                     LatestPointer, written last
//   chk-<N>/manifest.pb        Manifest
//   chk-<N>/<worker>/...       per-checkpoint files of the workers
//   sst/<db>/<num>-<sha>.sst   shared, immutable SST files

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/sha256.h"
#include "eddy/common/status.h"
#include "eddy/coordinator.pb.h"
#include "eddy/storage/object_store.h"

namespace eddy::coordinator {

inline constexpr char kLatestKey[] = "LATEST";
inline constexpr uint32_t kManifestFormatVersion = 1;

using ::eddy::Sha256Hex;  // eddy/common/sha256.h
std::string ManifestKey(uint64_t checkpoint_id);
// 12 for "chk-12/..." (digits only, no leading zero); nullopt for anything else.
std::optional<uint64_t> CheckpointIdOfKey(std::string_view key);
// Byte-stable encoding (map fields sorted), so the checksum in LATEST is reproducible.
std::string SerializeDeterministic(const google::protobuf::Message& message);

// Shape of one worker's description: worker id and file keys well formed, sizes >= 0, SHA-256 as
// 64 lowercase hex digits, no key twice. InvalidArgument naming the first problem.
Status CheckSnapshotDescription(const v1::SnapshotDescription& snapshot);

// Data problems (missing, corrupt, wrong size) as opposed to storage being unreachable.
bool IsDataProblem(const Status& status);

// Every file of `snapshots` exists with its size (one List per folder); with `checksums` also
// downloads each and compares SHA-256. NotFound / DataLoss name the file; storage errors pass
// through.
Status VerifyFiles(storage::ObjectStore& store,
                   const google::protobuf::RepeatedPtrField<v1::SnapshotDescription>& snapshots,
                   bool checksums);

// Reads chk-<id>/manifest.pb and checks it: SHA-256 equal to `expected_sha256` when non-empty,
// parses, names checkpoint `id`, format version known, files verified.
Result<v1::Manifest> ReadVerifiedManifest(storage::ObjectStore& store, uint64_t id,
                                          const std::string& expected_sha256, bool checksums);

struct RecoveryResult {
  std::optional<v1::Manifest> restore;  // none: the store holds no checkpoint
  uint64_t highest_id_seen = 0;         // over LATEST and every chk-<N>/ key
  // Readable manifests older than `restore` (at most `keep_older`), newest first: the rest of the
  // retained set after a restart.
  std::vector<v1::Manifest> older;
  std::vector<std::string> log;  // every decision, for the operator
};

Result<RecoveryResult> Recover(storage::ObjectStore& store, bool verify_checksums,
                               uint32_t keep_older);

// What retention deletes after checkpoint `newest` completed, given every object in the store and
// the retained manifests (which include `newest`'s). Rules (docs/coordinator.md, "Retention"):
//  * LATEST and keys outside chk-*/ and sst/ are never touched;
//  * a key any retained manifest references is kept, wherever it lives;
//  * chk-<M>/... is deleted when M is not retained and M <= newest (M > newest cannot be ours);
//    dropped manifests come first in the list, so a half-finished pass never leaves a manifest
//    whose files are partly gone;
//  * sst/<db>/<num>-*.sst unreferenced is deleted when no retained manifest references db, or
//    when num is below the highest file number of db that a retained manifest references: a
//    higher number may be an upload for a checkpoint not yet acknowledged. Other unreferenced
//    keys under sst/ are deleted too (nothing of ours writes them).
std::vector<std::string> PlanRetention(const std::vector<storage::ObjectInfo>& objects,
                                       const std::vector<const v1::Manifest*>& retained,
                                       uint64_t newest);

}  // namespace eddy::coordinator
