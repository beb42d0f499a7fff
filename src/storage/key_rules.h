#pragma once
// Key, prefix and URI rules shared by every backend (see include/eddy/storage/object_store.h).

#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy::storage {

// True for the characters a key may use: [A-Za-z0-9._~/-]. The set is what S3 signing through
// libcurl handles without percent-encoding (test-infra.md); the local backend uses it too.
bool IsKeyChar(char c);

// OK for "a/b/c.sst"; InvalidArgument (naming the key) for an empty key, a leading or trailing
// '/', an empty, "." or ".." segment, or a character outside the set.
Status ValidateKey(std::string_view key);

// List prefixes may be empty or end in '/' (or in the middle of a segment), but follow the other
// key rules.
Status ValidateListPrefix(std::string_view prefix);

struct ParsedUri {
  enum class Scheme { kFile, kS3 } scheme = Scheme::kFile;
  std::string path;    // file: the absolute folder, without trailing '/'
  std::string bucket;  // s3
  std::string prefix;  // s3: "" or "a/b/" (always ends in '/')
};

// "file:///abs/path" or "s3://bucket[/prefix]"; InvalidArgument naming the URI otherwise.
Result<ParsedUri> ParseStorageUri(const std::string& uri);

}  // namespace eddy::storage
