#include "eddy/checkpoint/checkpoint_file.h"

#include <set>
#include <vector>

#include "checkpoint/file_digest.h"
#include "checkpoint/quote.h"

namespace eddy::checkpoint {
namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '-';
}

bool IsDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;  // a uint64 file number
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(key.substr(start));
      return parts;
    }
    parts.push_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

std::string WithPrefix(std::string_view prefix, std::string rest) {
  if (prefix.empty()) return rest;
  std::string out(prefix);
  out.push_back('/');
  return out + rest;
}

}  // namespace

Status CheckKeySegment(std::string_view value, std::string_view what) {
  if (value.empty() || value.size() > 128) {
    return InvalidArgument(std::string(what) + " must have 1 to 128 characters, got " +
                           std::to_string(value.size()));
  }
  if (value == "." || value == "..") {
    return InvalidArgument(std::string(what) + " must not be " + Quote(value));
  }
  for (char c : value) {
    if (!IsKeyChar(c)) {
      return InvalidArgument(std::string(what) + " " + Quote(value) +
                             " may only use [A-Za-z0-9._~-]");
    }
  }
  return Status::Ok();
}

Status CheckKeyPrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::Ok();
  for (std::string_view part : Split(prefix)) {
    Status s = CheckKeySegment(part, "key prefix segment");
    if (!s.ok()) return InvalidArgument("bad key prefix " + Quote(prefix) + ": " + s.message());
  }
  return Status::Ok();
}

std::string SstFolder(std::string_view prefix, std::string_view db_id) {
  return WithPrefix(prefix, "sst/" + std::string(db_id) + "/");
}

std::string SstKey(std::string_view prefix, std::string_view db_id, std::string_view sst_number,
                   std::string_view sha256) {
  return SstFolder(prefix, db_id) + std::string(sst_number) + "-" + std::string(sha256) + ".sst";
}

std::string CheckpointFolder(std::string_view prefix, uint64_t checkpoint_id,
                             std::string_view worker) {
  return WithPrefix(prefix,
                    "chk-" + std::to_string(checkpoint_id) + "/" + std::string(worker) + "/");
}

bool IsSafeLocalName(std::string_view name) {
  return CheckKeySegment(name, "name").ok();
}

Result<std::string> LocalNameForKey(std::string_view key) {
  std::vector<std::string_view> parts = Split(key);
  const size_t n = parts.size();
  if (n >= 3 && parts[n - 3] == "sst") {
    // <number>-<sha256>.sst
    std::string_view name = parts[n - 1];
    size_t dash = name.find('-');
    constexpr std::string_view kSuffix = ".sst";
    if (dash != std::string_view::npos && IsDigits(name.substr(0, dash)) &&
        name.size() == dash + 1 + 64 + kSuffix.size() &&
        IsSha256Hex(name.substr(dash + 1, 64)) && name.substr(dash + 65) == kSuffix) {
      return std::string(name.substr(0, dash)) + ".sst";
    }
    return InvalidArgument("SST key " + Quote(key) + " does not end in <number>-<sha256>.sst");
  }
  if (n >= 3 && parts[n - 3].size() > 4 && parts[n - 3].substr(0, 4) == "chk-" &&
      IsDigits(parts[n - 3].substr(4)) && IsSafeLocalName(parts[n - 1])) {
    return std::string(parts[n - 1]);
  }
  return InvalidArgument("key " + Quote(key) +
                         " is neither .../sst/<db>/<number>-<sha256>.sst nor "
                         ".../chk-<N>/<worker>/<name>");
}

Status CheckFileEntries(const std::vector<CheckpointFile>& files, std::string_view what) {
  std::set<std::string> names;
  for (const CheckpointFile& f : files) {
    const std::string where = std::string(what) + " " + Quote(f.key);
    if (f.key.empty()) return InvalidArgument(std::string(what) + " with an empty key");
    if (!IsSafeLocalName(f.local_name)) {
      return InvalidArgument(where + " has an unsafe local name " + Quote(f.local_name));
    }
    if (f.size < 0) return InvalidArgument(where + " has a negative size");
    if (!IsSha256Hex(f.sha256)) {
      return InvalidArgument(where + " has a SHA-256 that is not 64 lowercase hex digits");
    }
    if (!names.insert(f.local_name).second) {
      return InvalidArgument(where + ": local name " + Quote(f.local_name) + " appears twice");
    }
  }
  return Status::Ok();
}

}  // namespace eddy::checkpoint
