#pragma once
// The sealed epochs of several exactly-once egresses in the one `sealed_egress` field of a
// worker snapshot: for each egress, its id and the bytes ExactlyOnceEgress::SealEpoch returned.
//
// Format (little-endian): repeated { u32 id length, id, u64 data length, data }. Decode reads
// bytes from storage, so anything truncated, oversized or repeated is DataLoss, never a crash.

#include <map>
#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy {

// egress id -> sealed bytes.
std::string EncodeSealedEgress(const std::map<std::string, std::string>& sealed);
Result<std::map<std::string, std::string>> DecodeSealedEgress(std::string_view bytes);

}  // namespace eddy
