#include "state/key_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "eddy/internal.pb.h"

namespace eddy::state {
namespace {

using namespace std::string_literals;

Address Addr(std::string ns, std::string name, std::string id) {
  return Address{FunctionType{std::move(ns), std::move(name)}, std::move(id)};
}

TEST(KeyCodec, KeysStartWithBigEndianKeyGroupAndTag) {
  std::string key = ValueKey(0x01020304, Addr("ns", "fn", "id"), "seen");
  ASSERT_GE(key.size(), kKeyHeaderSize);
  EXPECT_EQ(key.substr(0, 5), "\x01\x02\x03\x04v"s);
  EXPECT_EQ(DelayedKey(7, 1, 2).substr(0, 5), "\x00\x00\x00\x07" "d"s);
  EXPECT_EQ(TokenKey(7, Addr("ns", "fn", "id"), "tok").substr(0, 5), "\x00\x00\x00\x07t"s);
  auto header = ParseKeyHeader(key);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->key_group, 0x01020304u);
  EXPECT_EQ(header->tag, kValueTag);
  EXPECT_FALSE(ParseKeyHeader("\x00\x00\x01"s).has_value());
}

TEST(KeyCodec, KeyGroupsSortNumerically) {
  // Big-endian makes byte order equal numeric order, so a key-group range is one key range.
  std::vector<KeyGroup> groups = {0, 1, 255, 256, 65535, 65536, 0xfffffffe, 0xffffffff};
  for (size_t i = 1; i < groups.size(); ++i) {
    EXPECT_LT(ValueKey(groups[i - 1], Addr("z", "z", "zzz"), "zz"),
              DelayedKey(groups[i], 0, 0));
    EXPECT_LT(KeyGroupPrefix(groups[i - 1]), KeyGroupPrefix(groups[i]));
  }
}

TEST(KeyCodec, AddressesWithSeparatorsAndNulNeverCollide) {
  std::vector<std::pair<Address, std::string>> cases = {
      {Addr("a", "b", "c/d"), "x"},       {Addr("a", "b/c", "d"), "x"},
      {Addr("a/b", "c", "d"), "x"},       {Addr("a", "b", "c"), "d/x"},
      {Addr("a", "b", "c\0"s), "x"},      {Addr("a", "b", "c"), "\0x"s},
      {Addr("a", "b", ""), "cx"},         {Addr("a", "b", "c"), "x"},
      {Addr("a", "b", "cx"), ""},         {Addr("", "ab", "c"), "x"},
      {Addr("ab", "", "c"), "x"},         {Addr("a", "b", "\x01"s), "x"},
      {Addr("a", "b", "\x01x"s), ""},     {Addr("a", "b", std::string(200, 'i')), "x"},
      {Addr("a", "b", std::string(199, 'i')), "ix"},
  };
  std::set<std::string> value_keys;
  std::set<std::string> token_keys;
  for (const auto& [address, last] : cases) {
    EXPECT_TRUE(value_keys.insert(ValueKey(3, address, last)).second)
        << Printable(address.ToString()) << " / " << Printable(last);
    EXPECT_TRUE(token_keys.insert(TokenKey(3, address, last)).second);
  }
}

TEST(KeyCodec, DelayedKeysSortByFireTimeThenSequence) {
  std::vector<std::pair<int64_t, uint64_t>> order = {
      {-5, 0}, {-1, 9}, {0, 0}, {0, 1}, {1, 0}, {255, 7}, {256, 0}, {1'700'000'000'000, 0},
      {1'700'000'000'000, 1}, {1'700'000'000'000, 256}, {INT64_MAX, UINT64_MAX}};
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_LT(DelayedKey(9, order[i - 1].first, order[i - 1].second),
              DelayedKey(9, order[i].first, order[i].second))
        << i;
  }
}

TEST(KeyCodec, DelayedLocatorRoundTrips) {
  for (auto [fire, seq] : std::vector<std::pair<int64_t, uint64_t>>{
           {0, 0}, {-1, 1}, {INT64_MIN, 0}, {INT64_MAX, UINT64_MAX}, {1234567, 89}}) {
    auto locator = DecodeDelayedLocator(EncodeDelayedLocator({fire, seq}));
    ASSERT_TRUE(locator.has_value());
    EXPECT_EQ(*locator, (DelayedLocator{fire, seq}));
    auto parsed = ParseDelayedKey(DelayedKey(42, fire, seq));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, (DelayedLocator{fire, seq}));
  }
  EXPECT_FALSE(DecodeDelayedLocator("short").has_value());
  EXPECT_FALSE(DecodeDelayedLocator(std::string(17, '\0')).has_value());
  EXPECT_FALSE(ParseDelayedKey(ValueKey(1, Addr("a", "b", "c"), "0123456789abcdef")).has_value());
  EXPECT_FALSE(ParseDelayedKey(DelayedKey(1, 2, 3) + "x").has_value());
}

TEST(KeyCodec, StoredValueRoundTrips) {
  std::vector<StoredValue> values = {
      {"io.statefun.types/int", "\x0d\x01\x00\x00\x00"s, 0},
      {"", "", 0},
      {"t", std::string(300, '\0'), -7},
      {std::string(200, 'n'), "\xff\x00\x80"s, 1'700'000'000'123},
  };
  for (const auto& v : values) {
    std::string bytes = EncodeStoredValue(v);
    auto decoded = DecodeStoredValue(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->type_name, v.type_name);
    EXPECT_EQ(decoded->value, v.value);
    EXPECT_EQ(decoded->expires_at_ms, v.expires_at_ms);
    EXPECT_EQ(PeekExpiresAt(bytes), v.expires_at_ms);
  }
}

TEST(KeyCodec, IntoVariantsReplaceTheBufferAndMatchTheCopyingOnes) {
  // The write path reuses one buffer per batch: stale bytes from a longer previous key or value
  // must never leak into the next one.
  std::string buffer(500, 'x');
  const Address long_id = Addr("ns", "type", std::string(100, 'i'));
  const Address short_id = Addr("ns", "type", "7");
  ValueKeyInto(9, long_id, "state", &buffer);
  EXPECT_EQ(buffer, ValueKey(9, long_id, "state"));
  ValueKeyInto(9, short_id, "s", &buffer);
  EXPECT_EQ(buffer, ValueKey(9, short_id, "s"));

  const StoredValue big{std::string(64, 't'), std::string(200, 'v'), 42};
  const StoredValue small{"t", "v", 0};
  EncodeStoredValueInto(big, &buffer);
  EXPECT_EQ(buffer, EncodeStoredValue(big));
  EncodeStoredValueInto(small, &buffer);
  EXPECT_EQ(buffer, EncodeStoredValue(small));
  auto decoded = DecodeStoredValue(buffer);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->value, "v");
}

TEST(KeyCodec, MalformedStoredValuesAreDataLoss) {
  std::string valid = EncodeStoredValue({"some/type", "payload", 99});
  std::vector<std::string> bad = {
      "",
      "\x02"s + valid.substr(1),                              // unknown version
      valid.substr(0, 5),                                     // truncated header
      valid.substr(0, 9),                                     // no type length
      valid.substr(0, 9) + "\x80"s,                           // unterminated varint
      valid.substr(0, 9) + "\xff\xff\xff\xff\xff\x01"s,       // varint longer than 32 bits
      valid.substr(0, 9) + "\x20" + "short",                  // type length past the end
      "garbage that is not a stored value",
  };
  for (const auto& bytes : bad) {
    auto decoded = DecodeStoredValue(bytes);
    ASSERT_FALSE(decoded.ok()) << Printable(bytes);
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
  }
  EXPECT_FALSE(PeekExpiresAt("").has_value());
  EXPECT_FALSE(PeekExpiresAt("\x02" + valid.substr(1)).has_value());
}

TEST(KeyCodec, RandomBytesNeverCrashTheDecoders) {
  std::mt19937 rng(1234);
  std::string valid = EncodeStoredValue({"some/type", "payload", 99});
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid.substr(0, rng() % (valid.size() + 1));
    for (size_t j = 0; j < bytes.size(); ++j) {
      if (rng() % 4 == 0) bytes[j] = static_cast<char>(rng());
    }
    if (rng() % 2) bytes += std::string(rng() % 8, static_cast<char>(rng()));
    (void)DecodeStoredValue(bytes);
    (void)PeekExpiresAt(bytes);
    (void)DecodeDelayedRecord(bytes);
    (void)DecodeDelayedLocator(bytes);
    (void)ParseDelayedKey(bytes);
  }
}

DelayedRecord SampleRecord() {
  DelayedRecord r;
  r.sender = Addr("ns", "sender", "s\0/1"s);
  r.target = Addr("ns", "target", "t1");
  r.argument = TypedValue{"io.statefun.types/string", true, "\x0a\x02hi"s};
  r.cancellation_token = "tok";
  r.fire_at_ms = 1'700'000'000'000;
  r.sequence = 17;
  return r;
}

TEST(KeyCodec, DelayedRecordRoundTrips) {
  DelayedRecord r = SampleRecord();
  auto decoded = DecodeDelayedRecord(EncodeDelayedRecord(r));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->sender, r.sender);
  EXPECT_EQ(decoded->target, r.target);
  EXPECT_EQ(decoded->argument, r.argument);
  EXPECT_EQ(decoded->cancellation_token, r.cancellation_token);
  EXPECT_EQ(decoded->fire_at_ms, r.fire_at_ms);
  EXPECT_EQ(decoded->sequence, r.sequence);
}

TEST(KeyCodec, MalformedDelayedRecordsAreDataLoss) {
  eddy::internal::DelayedEnvelope no_sender;
  no_sender.mutable_target()->set_id("t");
  no_sender.mutable_argument()->set_typename_("x");
  std::string valid = EncodeDelayedRecord(SampleRecord());
  for (const std::string& bytes :
       {"\xff\xff\xff"s, valid.substr(0, valid.size() / 2), no_sender.SerializeAsString(),
        ""s}) {
    auto decoded = DecodeDelayedRecord(bytes);
    ASSERT_FALSE(decoded.ok()) << Printable(bytes);
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss);
  }
}

TEST(KeyCodec, PrintableEscapesControlBytes) {
  EXPECT_EQ(Printable("a\0b\\\xff"s), "a\\x00b\\x5c\\xff");
  std::string described = DescribeKey(DelayedKey(5, 0, 0));
  EXPECT_NE(described.find("key group 5"), std::string::npos) << described;
  EXPECT_NE(DescribeKey("ab").find("malformed"), std::string::npos);
}

}  // namespace
}  // namespace eddy::state
