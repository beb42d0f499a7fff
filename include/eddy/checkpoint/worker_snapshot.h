#pragma once
// WorkerSnapshot: what one worker holds at a checkpoint cut besides its RocksDB files (messages
// in mailboxes, inboxes and in-flight batches, ingress positions, the sealed egress epoch),
// stored as chk-<N>/<worker>/snapshot.pb (proto eddy.internal.WorkerSnapshot).
//
// Plain value type. Encode/Decode are pure functions, safe from any thread. Decode takes bytes
// read from storage, so it treats them as untrusted: anything that does not parse or breaks an
// invariant below is InvalidArgument naming the problem, never a crash.
//
// Invariants (checked by both Encode and Decode, so nothing is written that cannot be read):
//   format_version == kWorkerSnapshotFormatVersion; worker_id is a key segment (checkpoint_file.h);
//   first_key_group <= last_key_group; every target address has a namespace and a type (the id
//   may be empty), a caller when present too; ingress positions have an ingress id and a topic,
//   partition >= 0 and next_offset >= 0, and no (ingress, topic, partition) twice; db files have
//   a key, a safe local name (no local name twice), size >= 0 and a 64-hex-digit SHA-256.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/checkpoint/checkpoint_file.h"
#include "eddy/common/status.h"
#include "eddy/model/key_group.h"
#include "eddy/runtime/envelope.h"

namespace eddy::checkpoint {

// 2: exactly-once egresses' sealed epochs moved to the `sealed_egresses` map (field 8, a
// hand-encoded blob, is reserved): a version-1 snapshot would restore without them and silently
// skip producing sealed epochs, so it is refused instead.
inline constexpr uint32_t kWorkerSnapshotFormatVersion = 2;
// Decode refuses larger inputs (ResourceExhausted) before parsing; a snapshot is bounded by
// max_buffered_messages and the egress log, far below this.
inline constexpr size_t kMaxWorkerSnapshotBytes = size_t{1} << 30;

struct SnapshotEnvelope {
  // Envelope::epoch is progress bookkeeping of the running worker; it is not stored and decodes
  // as 0.
  Envelope envelope;
  // True when the message was part of a batch in flight to a function at the cut: the batch is
  // sent again after a restore.
  bool in_flight = false;
};

struct IngressPosition {
  std::string ingress_id;  // the ingress identifier of module.yaml ("ns/name")
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;  // the next offset not yet routed at the cut
};

struct WorkerSnapshot {
  uint32_t format_version = kWorkerSnapshotFormatVersion;
  uint64_t checkpoint_id = 0;
  std::string worker_id;
  KeyGroup first_key_group = 0;  // inclusive
  KeyGroup last_key_group = 0;   // inclusive
  std::vector<SnapshotEnvelope> pending;  // in delivery order
  std::vector<IngressPosition> ingress_positions;
  // Exactly-once egress id -> the bytes its SealEpoch returned at the cut (opaque here).
  std::map<std::string, std::string> sealed_egresses;
  std::map<std::string, std::string> metadata;
  // Optional: the RocksDB checkpoint files, when the snapshot is encoded after their upload.
  std::vector<CheckpointFile> db_files;
};

// Deterministic bytes (map entries sorted). InvalidArgument if an invariant is broken.
Result<std::string> EncodeWorkerSnapshot(const WorkerSnapshot& snapshot);
// InvalidArgument for bytes that do not parse, a format version this build does not know, or a
// broken invariant; ResourceExhausted above kMaxWorkerSnapshotBytes.
Result<WorkerSnapshot> DecodeWorkerSnapshot(std::string_view bytes);

// The per-worker object key of the snapshot: "<prefix>/chk-<N>/<worker>/snapshot.pb".
std::string WorkerSnapshotKey(std::string_view prefix, uint64_t checkpoint_id,
                              std::string_view worker);

}  // namespace eddy::checkpoint
