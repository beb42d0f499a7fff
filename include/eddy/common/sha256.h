#pragma once
// SHA-256 (OpenSSL EVP, kept out of this header) for the places that need content checksums:
// S3 payload hashes, checkpoint file checksums, manifest pointers. One implementation.

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/common/status.h"

namespace eddy {

// Lowercase hex SHA-256 of bytes in memory.
std::string Sha256Hex(std::string_view data);

// Lowercase hex SHA-256 of `length` bytes of an open file from `offset` (pread, 1 MiB reads).
// Internal when the file cannot be read or is shorter than offset + length.
Result<std::string> Sha256HexOfFileRange(int fd, int64_t offset, int64_t length);

struct FileDigest {
  int64_t size = 0;
  std::string sha256;  // lowercase hex
};
// Size and SHA-256 of a whole file in one streaming pass. NotFound when it does not exist,
// Unavailable for other read errors.
Result<FileDigest> DigestFile(const std::string& path);

// 64 lowercase hex digits.
bool IsSha256Hex(std::string_view s);

}  // namespace eddy
