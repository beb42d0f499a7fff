#pragma once
// Test-only hooks into the RocksDB backend. Production code must not call these: they bypass
// the key codec or force work that RocksDB normally schedules itself. Each returns
// InvalidArgument if the backend is not the RocksDB one, FailedPrecondition once it is closed.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "eddy/common/status.h"
#include "eddy/state/state_backend.h"

namespace eddy::state {

// Like OpenRocksDbBackend, but the TTL compaction filter reads now_ms instead of the wall clock.
Result<StateBackendPtr> OpenRocksDbBackendForTesting(const RocksDbOptions& options,
                                                     std::function<int64_t()> now_ms);

// Flushes the memtable and compacts the whole key space, bottommost level included, so the
// TTL compaction filter sees every key.
Status CompactAllForTesting(StateBackend& backend);

// Number of raw keys in the store: all of them, or only those with this record tag.
Result<size_t> CountRawKeysForTesting(StateBackend& backend,
                                      std::optional<char> tag = std::nullopt);

// Writes raw bytes under a raw key, bypassing the codec (to simulate corrupt records).
Status PutRawForTesting(StateBackend& backend, std::string_view key, std::string_view value);

}  // namespace eddy::state
