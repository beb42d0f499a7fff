#pragma once
// Binary formats of the exactly-once egress: the sealed epoch log stored in checkpoints and the
// commit marker written to the control topic. Both start with a 4-byte magic and a version byte,
// then little-endian fixed-width integers and u32-length-prefixed byte strings. Decoding checks
// every length against the bytes left before allocating, rejects trailing bytes and returns
// DataLoss naming what is wrong: stored or foreign bytes must never crash the worker.
// Private to src/io/kafka/eos.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/io/exactly_once_egress.h"

namespace eddy::eos {

inline constexpr uint8_t kSealedLogVersion = 1;
inline constexpr uint8_t kMarkerVersion = 1;

struct SealedEpoch {
  uint64_t epoch = 0;
  std::vector<EgressRecord> records;
  friend bool operator==(const SealedEpoch&, const SealedEpoch&) = default;
};

struct SealedLog {
  std::string run_id;
  uint64_t checkpoint_id = 0;
  std::vector<SealedEpoch> epochs;  // strictly ascending, each <= checkpoint_id
  friend bool operator==(const SealedLog&, const SealedLog&) = default;
};

// `epochs` may be shared with the commit path (see ExactlyOnceEgress::Impl), hence pointers.
std::string EncodeSealedLog(std::string_view run_id, uint64_t checkpoint_id,
                            const std::vector<std::shared_ptr<const SealedEpoch>>& epochs);
Result<SealedLog> DecodeSealedLog(std::string_view bytes);

struct CommitMarker {
  std::string transactional_id;
  std::string run_id;
  std::string job;
  std::string worker;
  std::string egress_id;
  uint64_t epoch = 0;
  friend bool operator==(const CommitMarker&, const CommitMarker&) = default;
};

// The marker's record key is its transactional id: the control topic is compacted, and since a
// producer commits its epochs in order, the newest marker per key is all recovery needs.
std::string EncodeMarker(const CommitMarker& marker);
Result<CommitMarker> DecodeMarker(std::string_view bytes);

// Approximate in-memory size of a record, used for the buffer bound.
size_t RecordBytes(const EgressRecord& record);

}  // namespace eddy::eos
