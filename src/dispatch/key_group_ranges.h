#pragma once
// Which shard owns a key group: contiguous ranges, like Flink's operator key-group ranges, so a
// shard's (and later a worker's) state is one contiguous key range in RocksDB.

#include <cstdint>

#include "eddy/model/key_group.h"

namespace eddy {

struct KeyGroupRange {
  KeyGroup first = 0;
  KeyGroup last = 0;  // inclusive; empty when first > last
  bool Contains(KeyGroup kg) const { return kg >= first && kg <= last; }
};

inline uint32_t OwnerOf(KeyGroup kg, uint32_t owners, uint32_t max_parallelism) {
  return static_cast<uint32_t>(uint64_t{kg} * owners / max_parallelism);
}

inline KeyGroupRange RangeOf(uint32_t owner, uint32_t owners, uint32_t max_parallelism) {
  auto ceil_div = [](uint64_t a, uint64_t b) { return (a + b - 1) / b; };
  uint64_t first = ceil_div(uint64_t{owner} * max_parallelism, owners);
  uint64_t end = ceil_div(uint64_t{owner + 1} * max_parallelism, owners);
  return KeyGroupRange{static_cast<KeyGroup>(first), static_cast<KeyGroup>(end - 1)};
}

}  // namespace eddy
