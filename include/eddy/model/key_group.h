#pragma once
// Key groups: the unit of ownership. An address's key group is a stable hash of its id modulo
// max parallelism (like StateFun, whose Flink key is the id only), fixed for the life of the
// state: rescaling moves whole key groups, never single keys.

#include <cstdint>
#include <string_view>

namespace eddy {

using KeyGroup = uint32_t;

// Stable across processes, platforms and releases (murmur3 32-bit of the id bytes, seed 0).
uint32_t StableHash(std::string_view bytes);

inline KeyGroup KeyGroupOf(std::string_view id, uint32_t max_parallelism) {
  return StableHash(id) % max_parallelism;
}

}  // namespace eddy
