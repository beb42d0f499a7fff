#pragma once
// Private to src/state: the byte layout of every RocksDB key and value the state backend writes.
//
// Key = key group (4 bytes big-endian) + record tag (1 byte) + tag-specific suffix, so all
// records of a key group, and all records of one kind within it, are contiguous:
//   'v' value:   len(ns) ns len(type) type len(id) id state_name
//   'd' delayed: fire_at_ms (8 bytes, big-endian, sign bit flipped) sequence (8 bytes BE)
//   't' token:   len(ns) ns len(type) type len(id) id token
// len() is a varint32. Length prefixes are prefix-free, so two different addresses can never
// produce the same bytes (an id may hold '/', NUL or anything else); only the last component
// (state name, token) is left unprefixed because nothing follows it.
// No RocksDB headers here: the codec is plain bytes and unit-tested on its own.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eddy/common/status.h"
#include "eddy/model/address.h"
#include "eddy/model/key_group.h"
#include "eddy/state/state_backend.h"

namespace eddy::state {

inline constexpr size_t kKeyHeaderSize = 5;  // key group + tag
inline constexpr char kValueTag = 'v';
inline constexpr char kDelayedTag = 'd';
inline constexpr char kTokenTag = 't';

// The first 4 bytes of every key of kg.
std::string KeyGroupPrefix(KeyGroup kg);
// The first 5 bytes of every key of kg with this tag.
std::string RecordPrefix(KeyGroup kg, char tag);

std::string ValueKey(KeyGroup kg, const Address& address, std::string_view state_name);
// ValueKey written into *out (replacing its contents): the hot paths reuse one buffer per batch
// or thread instead of allocating a string per key.
void ValueKeyInto(KeyGroup kg, const Address& address, std::string_view state_name,
                  std::string* out);
std::string DelayedKey(KeyGroup kg, int64_t fire_at_ms, uint64_t sequence);
std::string TokenKey(KeyGroup kg, const Address& sender, std::string_view token);

struct KeyHeader {
  KeyGroup key_group = 0;
  char tag = 0;
};
// nullopt when the key is shorter than the header.
std::optional<KeyHeader> ParseKeyHeader(std::string_view key);

// Where a delayed record lives inside its key group: the token index stores this.
struct DelayedLocator {
  int64_t fire_at_ms = 0;
  uint64_t sequence = 0;
  friend bool operator==(const DelayedLocator&, const DelayedLocator&) = default;
};
inline constexpr size_t kDelayedLocatorSize = 16;
std::string EncodeDelayedLocator(const DelayedLocator& locator);
std::optional<DelayedLocator> DecodeDelayedLocator(std::string_view bytes);
// The locator part of a full delayed key; nullopt if the key is not a well-formed 'd' key.
std::optional<DelayedLocator> ParseDelayedKey(std::string_view key);

// Stored value, format v1: version byte (1), expires_at_ms (8 bytes big-endian, two's
// complement), varint32 len(type_name), type_name, value bytes (the rest).
inline constexpr uint8_t kStoredValueFormatV1 = 1;
std::string EncodeStoredValue(const StoredValue& value);
// EncodeStoredValue written into *out (replacing its contents), for buffer reuse.
void EncodeStoredValueInto(const StoredValue& value, std::string* out);
// Returns DataLoss (without the key: the caller names it) when the bytes are not v1.
Result<StoredValue> DecodeStoredValue(std::string_view bytes);
// Reads only expires_at_ms, without allocating: what the compaction filter needs per key.
std::optional<int64_t> PeekExpiresAt(std::string_view bytes);

// Delayed records are the eddy.internal.DelayedEnvelope proto.
std::string EncodeDelayedRecord(const DelayedRecord& record);
Result<DelayedRecord> DecodeDelayedRecord(std::string_view bytes);

// Printable rendering of arbitrary bytes for error messages (non-printables as \xNN).
std::string Printable(std::string_view bytes);
// "key group 7, tag 'v', bytes <printable>" for a raw key.
std::string DescribeKey(std::string_view key);

}  // namespace eddy::state
