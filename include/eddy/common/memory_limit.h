#pragma once
// How much memory this process may use: the smaller of the machine's physical memory and the
// memory limit of its cgroup (a Kubernetes container's `resources.limits.memory` arrives as a
// cgroup limit, and sizing a cache from physical memory there gets the pod OOM-killed).
// Used to size memory-hungry defaults (the worker's state cache) the way Flink sizes managed
// memory as a fraction of the process's budget.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

// The limit in bytes; physical memory when no cgroup limit applies.
uint64_t AvailableMemoryBytes();

// Parts, exposed for tests.
// A cgroup memory limit file's content: cgroup v2 `memory.max` ("max" or bytes) or v1
// `memory.limit_in_bytes` (bytes; v1 writes a huge number, about 2^63, for "no limit").
// nullopt for "no limit" and for anything that is not a number.
std::optional<uint64_t> ParseCgroupMemoryLimit(std::string_view text);
// The smallest limit on the path from the process's cgroup (in `proc_self_cgroup`, the text of
// /proc/self/cgroup) up to the hierarchy's root, reading files below `cgroup_root` (normally
// /sys/fs/cgroup). v2 and v1 (the `memory` controller) layouts are both understood.
std::optional<uint64_t> CgroupMemoryLimit(std::string_view proc_self_cgroup,
                                          const std::string& cgroup_root);

}  // namespace eddy
