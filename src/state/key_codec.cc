#include "state/key_codec.h"

#include <cstdio>

#include "eddy/internal.pb.h"

namespace eddy::state {
namespace {

namespace reqreply = io::statefun::sdk::reqreply;

void AppendBigEndian32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

uint32_t ReadBigEndian32(std::string_view bytes) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

// Flipping the sign bit makes unsigned byte order match signed numeric order, so a (never
// expected, but representable) negative fire time still sorts before positive ones.
constexpr uint64_t kSignBit = uint64_t{1} << 63;

void AppendVarint32(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Consumes a varint32 from the front of *in; false if truncated or longer than 5 bytes.
bool ConsumeVarint32(std::string_view* in, uint32_t* v) {
  uint32_t result = 0;
  for (size_t i = 0; i < 5 && i < in->size(); ++i) {
    uint8_t byte = static_cast<uint8_t>((*in)[i]);
    if (i == 4 && byte > 0x0f) return false;  // would overflow 32 bits
    result |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

void AppendLengthPrefixed(std::string& out, std::string_view bytes) {
  AppendVarint32(out, static_cast<uint32_t>(bytes.size()));
  out.append(bytes);
}

void AddressKeyInto(KeyGroup kg, char tag, const Address& address, std::string_view last,
                    std::string* out) {
  out->clear();
  out->reserve(kKeyHeaderSize + address.type.ns.size() + address.type.name.size() +
               address.id.size() + last.size() + 15);
  AppendBigEndian32(*out, kg);
  out->push_back(tag);
  AppendLengthPrefixed(*out, address.type.ns);
  AppendLengthPrefixed(*out, address.type.name);
  AppendLengthPrefixed(*out, address.id);
  out->append(last);
}

std::string AddressKey(KeyGroup kg, char tag, const Address& address, std::string_view last) {
  std::string key;
  AddressKeyInto(kg, tag, address, last, &key);
  return key;
}

void ToProto(const Address& in, reqreply::Address* out) {
  out->set_namespace_(in.type.ns);
  out->set_type(in.type.name);
  out->set_id(in.id);
}

Address FromProto(const reqreply::Address& in) {
  return Address{FunctionType{in.namespace_(), in.type()}, in.id()};
}

}  // namespace

std::string KeyGroupPrefix(KeyGroup kg) {
  std::string out;
  AppendBigEndian32(out, kg);
  return out;
}

std::string RecordPrefix(KeyGroup kg, char tag) {
  std::string out = KeyGroupPrefix(kg);
  out.push_back(tag);
  return out;
}

std::string ValueKey(KeyGroup kg, const Address& address, std::string_view state_name) {
  return AddressKey(kg, kValueTag, address, state_name);
}

void ValueKeyInto(KeyGroup kg, const Address& address, std::string_view state_name,
                  std::string* out) {
  AddressKeyInto(kg, kValueTag, address, state_name, out);
}

std::string TokenKey(KeyGroup kg, const Address& sender, std::string_view token) {
  return AddressKey(kg, kTokenTag, sender, token);
}

std::string DelayedKey(KeyGroup kg, int64_t fire_at_ms, uint64_t sequence) {
  std::string key = RecordPrefix(kg, kDelayedTag);
  key.append(EncodeDelayedLocator(DelayedLocator{fire_at_ms, sequence}));
  return key;
}

std::optional<KeyHeader> ParseKeyHeader(std::string_view key) {
  if (key.size() < kKeyHeaderSize) return std::nullopt;
  return KeyHeader{ReadBigEndian32(key), key[4]};
}

std::string EncodeDelayedLocator(const DelayedLocator& locator) {
  std::string out;
  out.reserve(kDelayedLocatorSize);
  AppendBigEndian64(out, static_cast<uint64_t>(locator.fire_at_ms) ^ kSignBit);
  AppendBigEndian64(out, locator.sequence);
  return out;
}

std::optional<DelayedLocator> DecodeDelayedLocator(std::string_view bytes) {
  if (bytes.size() != kDelayedLocatorSize) return std::nullopt;
  DelayedLocator locator;
  locator.fire_at_ms = static_cast<int64_t>(ReadBigEndian64(bytes) ^ kSignBit);
  locator.sequence = ReadBigEndian64(bytes.substr(8));
  return locator;
}

std::optional<DelayedLocator> ParseDelayedKey(std::string_view key) {
  auto header = ParseKeyHeader(key);
  if (!header || header->tag != kDelayedTag) return std::nullopt;
  return DecodeDelayedLocator(key.substr(kKeyHeaderSize));
}

void EncodeStoredValueInto(const StoredValue& value, std::string* out) {
  out->clear();
  out->reserve(1 + 8 + 5 + value.type_name.size() + value.value.size());
  out->push_back(static_cast<char>(kStoredValueFormatV1));
  AppendBigEndian64(*out, static_cast<uint64_t>(value.expires_at_ms));
  AppendLengthPrefixed(*out, value.type_name);
  out->append(value.value);
}

std::string EncodeStoredValue(const StoredValue& value) {
  std::string out;
  EncodeStoredValueInto(value, &out);
  return out;
}

std::optional<int64_t> PeekExpiresAt(std::string_view bytes) {
  if (bytes.size() < 9 || static_cast<uint8_t>(bytes[0]) != kStoredValueFormatV1) {
    return std::nullopt;
  }
  return static_cast<int64_t>(ReadBigEndian64(bytes.substr(1)));
}

Result<StoredValue> DecodeStoredValue(std::string_view bytes) {
  if (bytes.empty()) return DataLoss("stored value is empty");
  uint8_t version = static_cast<uint8_t>(bytes[0]);
  if (version != kStoredValueFormatV1) {
    return DataLoss("stored value has unknown format version " + std::to_string(version));
  }
  if (bytes.size() < 9) return DataLoss("stored value is truncated in its header");
  StoredValue out;
  out.expires_at_ms = static_cast<int64_t>(ReadBigEndian64(bytes.substr(1)));
  std::string_view rest = bytes.substr(9);
  uint32_t type_len = 0;
  if (!ConsumeVarint32(&rest, &type_len)) return DataLoss("stored value has a bad type length");
  if (type_len > rest.size()) return DataLoss("stored value is truncated in its type name");
  out.type_name.assign(rest.substr(0, type_len));
  out.value.assign(rest.substr(type_len));
  return out;
}

std::string EncodeDelayedRecord(const DelayedRecord& record) {
  eddy::internal::DelayedEnvelope envelope;
  ToProto(record.sender, envelope.mutable_sender());
  ToProto(record.target, envelope.mutable_target());
  auto* argument = envelope.mutable_argument();
  argument->set_typename_(record.argument.type_name);
  argument->set_has_value(record.argument.has_value);
  argument->set_value(record.argument.value);
  envelope.set_cancellation_token(record.cancellation_token);
  envelope.set_fire_at_ms(record.fire_at_ms);
  envelope.set_sequence(record.sequence);
  return envelope.SerializeAsString();
}

Result<DelayedRecord> DecodeDelayedRecord(std::string_view bytes) {
  eddy::internal::DelayedEnvelope envelope;
  if (!envelope.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return DataLoss("delayed record is not a valid DelayedEnvelope");
  }
  // We always write all three; a missing one means the bytes are not ours.
  if (!envelope.has_sender() || !envelope.has_target() || !envelope.has_argument()) {
    return DataLoss("delayed record lacks sender, target or argument");
  }
  DelayedRecord record;
  record.sender = FromProto(envelope.sender());
  record.target = FromProto(envelope.target());
  record.argument.type_name = envelope.argument().typename_();
  record.argument.has_value = envelope.argument().has_value();
  record.argument.value = envelope.argument().value();
  record.cancellation_token = envelope.cancellation_token();
  record.fire_at_ms = envelope.fire_at_ms();
  record.sequence = envelope.sequence();
  return record;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out.push_back(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", byte);
      out.append(buf);
    }
  }
  return out;
}

std::string DescribeKey(std::string_view key) {
  auto header = ParseKeyHeader(key);
  if (!header) return "malformed key '" + Printable(key) + "'";
  return "key (key group " + std::to_string(header->key_group) + ", tag '" +
         Printable(std::string_view(&header->tag, 1)) + "', bytes '" + Printable(key) + "')";
}

}  // namespace eddy::state
