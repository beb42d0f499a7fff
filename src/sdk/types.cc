// The built-in StateFun types. Payloads are the serialized protobuf wrappers of
// statefun/sdk/types.proto, byte for byte what eddy::types (eddy_model) and every StateFun SDK
// write. The fixed-width wrappers are encoded by hand because this runs once per state write on
// the embedded fast path, and a one-field message has exactly one canonical proto3 encoding
// (tested against eddy::types). Decoding takes the canonical bytes directly and hands anything
// else (another encoder's valid but different bytes, or garbage) to protobuf, so every valid
// wrapper is accepted and every invalid one rejected.

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "eddy/model/typed_value.h"
#include "eddy/sdk/function.h"
#include "statefun/sdk/types.pb.h"

namespace eddy::sdk {
namespace {

namespace pbtypes = io::statefun::sdk::types;

// Wire tags of field 1: wire type 0 (varint), 5 (32-bit), 1 (64-bit), 2 (length-delimited).
constexpr char kTagVarint = 0x08;
constexpr char kTagFixed32 = 0x0d;
constexpr char kTagFixed64 = 0x09;

template <typename Raw>
std::string EncodeFixed(char tag, Raw raw) {
  // proto3 leaves a field with all-zero bits out (so -0.0 and NaN are written, 0.0 is not).
  if (raw == 0) return {};
  std::string out(1 + sizeof(Raw), '\0');
  out[0] = tag;
  for (size_t i = 0; i < sizeof(Raw); ++i) {
    out[1 + i] = static_cast<char>((raw >> (8 * i)) & 0xff);  // little-endian
  }
  return out;
}

template <typename Raw>
std::optional<Raw> DecodeCanonicalFixed(char tag, std::string_view bytes) {
  if (bytes.size() != 1 + sizeof(Raw) || bytes[0] != tag) return std::nullopt;
  Raw raw = 0;
  for (size_t i = 0; i < sizeof(Raw); ++i) {
    raw |= static_cast<Raw>(static_cast<unsigned char>(bytes[1 + i])) << (8 * i);
  }
  return raw;
}

template <typename Wrapper>
std::optional<Wrapper> ParseWrapper(std::string_view bytes) {
  Wrapper w;
  if (!w.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
  return w;
}

template <typename T, typename Raw>
T FromBits(Raw raw) {
  T v;
  std::memcpy(&v, &raw, sizeof(v));
  return v;
}

template <typename Raw, typename T>
Raw ToBits(T v) {
  Raw raw;
  std::memcpy(&raw, &v, sizeof(raw));
  return raw;
}

}  // namespace

Type<bool> BoolType() {
  return {std::string(types::kBool),
          [](const bool& v) { return v ? std::string{kTagVarint, 0x01} : std::string(); },
          [](std::string_view bytes) -> std::optional<bool> {
            if (bytes.empty()) return false;
            if (bytes.size() == 2 && bytes[0] == kTagVarint && (bytes[1] == 0 || bytes[1] == 1)) {
              return bytes[1] == 1;
            }
            auto w = ParseWrapper<pbtypes::BooleanWrapper>(bytes);
            if (!w) return std::nullopt;
            return w->value();
          }};
}

Type<int32_t> IntType() {
  return {std::string(types::kInt),
          [](const int32_t& v) { return EncodeFixed(kTagFixed32, static_cast<uint32_t>(v)); },
          [](std::string_view bytes) -> std::optional<int32_t> {
            if (bytes.empty()) return 0;
            if (auto raw = DecodeCanonicalFixed<uint32_t>(kTagFixed32, bytes)) {
              return static_cast<int32_t>(*raw);
            }
            auto w = ParseWrapper<pbtypes::IntWrapper>(bytes);
            if (!w) return std::nullopt;
            return w->value();
          }};
}

Type<int64_t> LongType() {
  return {std::string(types::kLong),
          [](const int64_t& v) { return EncodeFixed(kTagFixed64, static_cast<uint64_t>(v)); },
          [](std::string_view bytes) -> std::optional<int64_t> {
            if (bytes.empty()) return 0;
            if (auto raw = DecodeCanonicalFixed<uint64_t>(kTagFixed64, bytes)) {
              return static_cast<int64_t>(*raw);
            }
            auto w = ParseWrapper<pbtypes::LongWrapper>(bytes);
            if (!w) return std::nullopt;
            return w->value();
          }};
}

Type<float> FloatType() {
  return {std::string(types::kFloat),
          [](const float& v) { return EncodeFixed(kTagFixed32, ToBits<uint32_t>(v)); },
          [](std::string_view bytes) -> std::optional<float> {
            if (bytes.empty()) return 0.0f;
            if (auto raw = DecodeCanonicalFixed<uint32_t>(kTagFixed32, bytes)) {
              return FromBits<float>(*raw);
            }
            auto w = ParseWrapper<pbtypes::FloatWrapper>(bytes);
            if (!w) return std::nullopt;
            return w->value();
          }};
}

Type<double> DoubleType() {
  return {std::string(types::kDouble),
          [](const double& v) { return EncodeFixed(kTagFixed64, ToBits<uint64_t>(v)); },
          [](std::string_view bytes) -> std::optional<double> {
            if (bytes.empty()) return 0.0;
            if (auto raw = DecodeCanonicalFixed<uint64_t>(kTagFixed64, bytes)) {
              return FromBits<double>(*raw);
            }
            auto w = ParseWrapper<pbtypes::DoubleWrapper>(bytes);
            if (!w) return std::nullopt;
            return w->value();
          }};
}

Type<std::string> StringType() {
  // Strings go through protobuf both ways: it also enforces proto3's UTF-8 rule on parse.
  return {std::string(types::kString),
          [](const std::string& v) {
            pbtypes::StringWrapper w;
            w.set_value(v);
            return w.SerializeAsString();
          },
          [](std::string_view bytes) -> std::optional<std::string> {
            auto w = ParseWrapper<pbtypes::StringWrapper>(bytes);
            if (!w) return std::nullopt;
            return std::move(*w->mutable_value());
          }};
}

Type<std::string> RawType(std::string type_name) {
  return {std::move(type_name), [](const std::string& v) { return v; },
          [](std::string_view bytes) -> std::optional<std::string> {
            return std::string(bytes);
          }};
}

}  // namespace eddy::sdk
