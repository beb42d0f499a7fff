#pragma once
// Private to src/checkpoint: SHA-256 (OpenSSL EVP) of a local file, read in one streaming pass.

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy::checkpoint {

struct FileDigest {
  int64_t size = 0;
  std::string sha256;  // lowercase hex
};

// NotFound when the file does not exist; Unavailable for other read errors.
Result<FileDigest> DigestFile(const std::string& path);

// Lowercase hex SHA-256 of bytes in memory.
std::string Sha256Hex(std::string_view data);

// 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace eddy::checkpoint
