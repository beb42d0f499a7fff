#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "eddy/model/typed_value.h"
#include "eddy/sdk/function.h"
#include "statefun/sdk/types.pb.h"

namespace eddy::sdk {
namespace {

TEST(SdkTypes, TypeNamesAreStateFunBuiltins) {
  EXPECT_EQ(BoolType().type_name, "io.statefun.types/bool");
  EXPECT_EQ(IntType().type_name, "io.statefun.types/int");
  EXPECT_EQ(LongType().type_name, "io.statefun.types/long");
  EXPECT_EQ(FloatType().type_name, "io.statefun.types/float");
  EXPECT_EQ(DoubleType().type_name, "io.statefun.types/double");
  EXPECT_EQ(StringType().type_name, "io.statefun.types/string");
  EXPECT_EQ(RawType("com.example/json").type_name, "com.example/json");
}

TEST(SdkTypes, BytesMatchEddyTypesAndRoundTrip) {
  for (bool v : {false, true}) {
    EXPECT_EQ(BoolType().serialize(v), types::Bool(v).value);
    EXPECT_EQ(BoolType().deserialize(BoolType().serialize(v)), v);
  }
  for (int32_t v : {0, 1, -1, 42, std::numeric_limits<int32_t>::min(),
                    std::numeric_limits<int32_t>::max()}) {
    EXPECT_EQ(IntType().serialize(v), types::Int(v).value) << v;
    EXPECT_EQ(IntType().deserialize(IntType().serialize(v)), v);
  }
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{1} << 40,
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(LongType().serialize(v), types::Long(v).value) << v;
    EXPECT_EQ(LongType().deserialize(LongType().serialize(v)), v);
  }
  for (float v : {0.0f, -0.0f, 1.5f, -3.25e10f, std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(FloatType().serialize(v), types::Float(v).value) << v;
    auto back = FloatType().deserialize(FloatType().serialize(v));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, v);
    EXPECT_EQ(std::signbit(*back), std::signbit(v));
  }
  for (double v : {0.0, -0.0, 2.5, -1e300, std::numeric_limits<double>::lowest()}) {
    EXPECT_EQ(DoubleType().serialize(v), types::Double(v).value) << v;
    auto back = DoubleType().deserialize(DoubleType().serialize(v));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, v);
    EXPECT_EQ(std::signbit(*back), std::signbit(v));
  }
  for (std::string v : {std::string(), std::string("hello"), std::string(300, 'x'),
                        std::string("caf\xc3\xa9")}) {
    EXPECT_EQ(StringType().serialize(v), types::String(v).value);
    EXPECT_EQ(StringType().deserialize(StringType().serialize(v)), v);
  }
  // NaN compares unequal: check the bytes and that it decodes to a NaN.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(FloatType().serialize(nan), types::Float(nan).value);
  EXPECT_TRUE(std::isnan(*FloatType().deserialize(FloatType().serialize(nan))));
}

TEST(SdkTypes, KnownBytes) {
  EXPECT_EQ(IntType().serialize(1), std::string("\x0d\x01\x00\x00\x00", 5));
  EXPECT_EQ(LongType().serialize(0), "");
  EXPECT_EQ(BoolType().serialize(true), std::string("\x08\x01", 2));
}

TEST(SdkTypes, FloatPayloadIsAFloatWrapper) {
  io::statefun::sdk::types::FloatWrapper w;
  ASSERT_TRUE(w.ParseFromString(FloatType().serialize(6.5f)));
  EXPECT_EQ(w.value(), 6.5f);
}

TEST(SdkTypes, NonCanonicalButValidEncodingsDecode) {
  // An explicit zero, and the field repeated (last one wins), as other encoders may write.
  EXPECT_EQ(LongType().deserialize(std::string("\x09\0\0\0\0\0\0\0\0", 9)), 0);
  std::string twice = LongType().serialize(5) + LongType().serialize(7);
  EXPECT_EQ(LongType().deserialize(twice), 7);
  // An unknown field (field 2, varint 1) is skipped.
  EXPECT_EQ(IntType().deserialize(IntType().serialize(9) + std::string("\x10\x01", 2)), 9);
  EXPECT_EQ(BoolType().deserialize(std::string("\x08\x02", 2)), true);  // any non-zero varint
}

TEST(SdkTypes, MalformedBytesAreRejected) {
  EXPECT_FALSE(LongType().deserialize("\x09\x01").has_value());        // truncated fixed64
  EXPECT_FALSE(IntType().deserialize("\x0d\x01\x02").has_value());     // truncated fixed32
  EXPECT_FALSE(DoubleType().deserialize("\xff\xff\xff").has_value());  // bad tag
  EXPECT_FALSE(FloatType().deserialize("\x0d").has_value());
  EXPECT_FALSE(BoolType().deserialize("\x08").has_value());  // varint missing
  EXPECT_FALSE(StringType().deserialize("\x0a\x05" "ab").has_value());  // length beyond the end
  EXPECT_FALSE(StringType().deserialize(std::string("\x0a\x02\xff\xfe", 4)).has_value());  // UTF-8
}

TEST(SdkTypes, RawTypeKeepsBytes) {
  Type<std::string> json = RawType("com.example/json");
  std::string bytes("{\"a\":1}\0\xff", 9);
  EXPECT_EQ(json.serialize(bytes), bytes);
  EXPECT_EQ(json.deserialize(bytes), bytes);
}

TEST(SdkTypes, MessageAsChecksTypeName) {
  const TypedValue twelve = MakeValue(LongType(), int64_t{12});
  Message m(twelve);
  EXPECT_TRUE(m.Is(LongType()));
  EXPECT_FALSE(m.Is(IntType()));
  EXPECT_EQ(m.As(LongType()), 12);
  EXPECT_FALSE(m.As(IntType()).has_value());
  EXPECT_EQ(m.Raw(), types::Long(12));
  const TypedValue malformed{std::string(types::kLong), true, "\x09\x01"};
  Message bad(malformed);
  EXPECT_FALSE(bad.As(LongType()).has_value());
}

}  // namespace
}  // namespace eddy::sdk
