#pragma once
// Private to src/state: the compaction filter that physically drops expired state values.
// ReadValues already hides expired values; this only reclaims their space.

#include <cstdint>
#include <functional>
#include <memory>

#include <rocksdb/compaction_filter.h>

namespace eddy::state {

// now_ms is read once per compaction (when RocksDB creates the filter), so one compaction
// uses one consistent cut-off. Only 'v' records whose stored value decodes and whose
// expires_at_ms is non-zero and <= now are dropped; undecodable values are kept, because
// dropping bytes we do not understand would turn a reportable corruption into silent loss.
std::shared_ptr<rocksdb::CompactionFilterFactory> NewTtlCompactionFilterFactory(
    std::function<int64_t()> now_ms);

// Milliseconds since the Unix epoch from the system clock.
int64_t WallClockNowMs();

}  // namespace eddy::state
