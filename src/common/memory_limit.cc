#include "eddy/common/memory_limit.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

namespace eddy {
namespace {

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

// Limits from this directory up to the root of one hierarchy: a container's own cgroup may have
// no limit while its parent (the pod) has one.
std::optional<uint64_t> SmallestUpwards(const std::string& mount, std::string path,
                                        const char* file) {
  std::optional<uint64_t> smallest;
  while (true) {
    if (auto text = ReadFile(mount + path + (path == "/" ? "" : "/") + file)) {
      if (auto limit = ParseCgroupMemoryLimit(*text)) {
        smallest = smallest ? std::min(*smallest, *limit) : *limit;
      }
    }
    if (path == "/" || path.empty()) break;
    size_t slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
  }
  return smallest;
}

}  // namespace

std::optional<uint64_t> ParseCgroupMemoryLimit(std::string_view text) {
  text = Trim(text);
  if (text.empty() || text == "max") return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  // cgroup v1 reports "unlimited" as the largest page-aligned signed 64-bit value.
  if (value >= (uint64_t{1} << 62)) return std::nullopt;
  return value;
}

std::optional<uint64_t> CgroupMemoryLimit(std::string_view proc_self_cgroup,
                                          const std::string& cgroup_root) {
  std::optional<uint64_t> smallest;
  auto keep = [&smallest](std::optional<uint64_t> limit) {
    if (limit) smallest = smallest ? std::min(*smallest, *limit) : *limit;
  };
  // Lines are "hierarchy-id:controllers:path"; v2's is "0::path".
  std::istringstream lines{std::string(proc_self_cgroup)};
  std::string line;
  while (std::getline(lines, line)) {
    size_t first = line.find(':');
    size_t second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (path.empty() || path[0] != '/') continue;
    if (line.compare(0, first, "0") == 0 && controllers.empty()) {
      keep(SmallestUpwards(cgroup_root, path, "memory.max"));
      continue;
    }
    std::istringstream names(controllers);
    std::string name;
    while (std::getline(names, name, ',')) {
      if (name == "memory") {
        keep(SmallestUpwards(cgroup_root + "/memory", path, "memory.limit_in_bytes"));
      }
    }
  }
  return smallest;
}

uint64_t AvailableMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGESIZE);
  uint64_t physical = pages > 0 && page_size > 0
                          ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size)
                          : 0;
  std::optional<uint64_t> cgroup;
  if (auto self = ReadFile("/proc/self/cgroup")) cgroup = CgroupMemoryLimit(*self, "/sys/fs/cgroup");
  if (physical == 0) return cgroup.value_or(0);
  return cgroup ? std::min(physical, *cgroup) : physical;
}

}  // namespace eddy
