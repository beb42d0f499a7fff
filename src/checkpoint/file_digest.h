#pragma once
// Private to src/checkpoint: the checksums come from eddy/common/sha256.h (one implementation
// for storage, checkpoints and the coordinator).

#include "eddy/common/sha256.h"

namespace eddy::checkpoint {

using ::eddy::DigestFile;
using ::eddy::FileDigest;
using ::eddy::IsSha256Hex;
using ::eddy::Sha256Hex;

}  // namespace eddy::checkpoint
