#include "eddy/model/typed_value.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

std::string Hex(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TEST(BuiltInTypes, ExactWireBytes) {
  EXPECT_EQ(Hex(types::Int(1).value), "0d01000000");  // sfixed32, as the Python SDK sends it
  EXPECT_EQ(Hex(types::Int(-1).value), "0dffffffff");
  EXPECT_EQ(Hex(types::Long(1).value), "090100000000000000");
  EXPECT_EQ(Hex(types::Bool(true).value), "0801");
  EXPECT_EQ(Hex(types::String("hi").value), "0a026869");
  EXPECT_EQ(Hex(types::Double(1.0).value), "09000000000000f03f");
  EXPECT_EQ(Hex(types::Float(1.0f).value), "0d0000803f");
}

TEST(BuiltInTypes, ZeroValuesAreEmptyBytes) {
  EXPECT_EQ(types::Int(0).value, "");
  EXPECT_EQ(types::Long(0).value, "");
  EXPECT_EQ(types::Bool(false).value, "");
  EXPECT_EQ(types::String("").value, "");
  EXPECT_TRUE(types::Int(0).has_value);
}

TEST(BuiltInTypes, TypeNames) {
  EXPECT_EQ(types::Int(3).type_name, "io.statefun.types/int");
  EXPECT_EQ(types::String("x").type_name, "io.statefun.types/string");
}

TEST(BuiltInTypes, DecodeRoundTripAndRejectWrongTypeOrBytes) {
  EXPECT_EQ(types::AsInt(types::Int(42)), 42);
  EXPECT_EQ(types::AsLong(types::Long(-7)), -7);
  EXPECT_EQ(types::AsString(types::String("héllo")), "héllo");
  EXPECT_EQ(types::AsInt(types::Long(1)), std::nullopt);  // wrong typename
  TypedValue garbage{std::string(types::kInt), true, "\xff\xff\xff"};
  EXPECT_EQ(types::AsInt(garbage), std::nullopt);
}

}  // namespace
}  // namespace eddy
