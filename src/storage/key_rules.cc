#include "storage/key_rules.h"

namespace eddy::storage {
namespace {

// Checks the segments of `s` (split on '/'); the last one may be empty when allow_trailing.
Status ValidateSegments(std::string_view s, std::string_view what, bool allow_trailing_slash) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument(std::string(what) + " '" + std::string(s) + "' is invalid: " + why);
  };
  for (char c : s) {
    if (!IsKeyChar(c)) {
      return bad("only the characters A-Z a-z 0-9 . _ ~ / - are allowed");
    }
  }
  if (!s.empty() && s.front() == '/') return bad("it must be relative (no leading '/')");
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    bool last = end == std::string_view::npos;
    if (last) end = s.size();
    std::string_view seg = s.substr(start, end - start);
    if (seg.empty() && !(last && allow_trailing_slash)) return bad("empty path segment");
    if (seg == "." || seg == "..") return bad("'.' and '..' segments are not allowed");
    if (last) break;
    start = end + 1;
  }
  return Status::Ok();
}

bool IsBucketChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

}  // namespace

bool IsKeyChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '/' || c == '-';
}

Status ValidateKey(std::string_view key) {
  if (key.empty()) return InvalidArgument("object key is empty");
  return ValidateSegments(key, "object key", /*allow_trailing_slash=*/false);
}

Status ValidateListPrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::Ok();
  return ValidateSegments(prefix, "list prefix", /*allow_trailing_slash=*/true);
}

Result<ParsedUri> ParseStorageUri(const std::string& uri) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("storage uri '" + uri + "': " + why);
  };
  ParsedUri out;
  constexpr std::string_view kFile = "file://";
  constexpr std::string_view kS3 = "s3://";
  std::string_view u = uri;
  if (u.starts_with(kFile)) {
    std::string_view path = u.substr(kFile.size());
    if (path.empty() || path.front() != '/') {
      return bad("expected file:///absolute/path (three slashes, no host)");
    }
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    if (path == "/") return bad("refusing to use the file system root");
    if (path.find('\0') != std::string_view::npos) return bad("NUL in path");
    out.scheme = ParsedUri::Scheme::kFile;
    out.path = std::string(path);
    return out;
  }
  if (u.starts_with(kS3)) {
    std::string_view rest = u.substr(kS3.size());
    size_t slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (bucket.size() < 3 || bucket.size() > 63) {
      return bad("bucket name must have 3 to 63 characters");
    }
    for (char c : bucket) {
      if (!IsBucketChar(c)) return bad("bucket name may only use a-z 0-9 . -");
    }
    if (bucket.front() == '-' || bucket.front() == '.' || bucket.back() == '-' ||
        bucket.back() == '.') {
      return bad("bucket name must start and end with a letter or digit");
    }
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (!prefix.empty()) {
      Status st = ValidateSegments(prefix, "prefix", /*allow_trailing_slash=*/false);
      if (!st.ok()) return bad(st.message());
    }
    out.scheme = ParsedUri::Scheme::kS3;
    out.bucket = std::string(bucket);
    out.prefix = prefix.empty() ? "" : std::string(prefix) + "/";
    return out;
  }
  return bad("unsupported scheme (expected file:///path or s3://bucket/prefix)");
}

}  // namespace eddy::storage
