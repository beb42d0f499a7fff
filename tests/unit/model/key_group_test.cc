#include "eddy/model/key_group.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eddy/model/address.h"

namespace eddy {
namespace {

TEST(StableHash, KnownMurmur3Vectors) {
  // Reference values of MurmurHash3_x86_32 with seed 0.
  EXPECT_EQ(StableHash(""), 0u);
  EXPECT_EQ(StableHash("hello"), 0x248bfa47u);
  EXPECT_EQ(StableHash("The quick brown fox jumps over the lazy dog"), 0x2e4ff723u);
}

TEST(KeyGroup, InRangeAndSpread) {
  std::vector<int> counts(16, 0);
  for (int i = 0; i < 16000; ++i) {
    KeyGroup kg = KeyGroupOf("user-" + std::to_string(i), 16);
    ASSERT_LT(kg, 16u);
    counts[kg]++;
  }
  for (int c : counts) {
    EXPECT_GT(c, 800);
    EXPECT_LT(c, 1200);
  }
}

TEST(FunctionTypeParse, AcceptsOnlyNsSlashName) {
  auto t = FunctionType::Parse("example/greeter");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->ns, "example");
  EXPECT_EQ(t->name, "greeter");
  EXPECT_FALSE(FunctionType::Parse("nogroup"));
  EXPECT_FALSE(FunctionType::Parse("/x"));
  EXPECT_FALSE(FunctionType::Parse("x/"));
  EXPECT_FALSE(FunctionType::Parse("a/b/c"));
}

}  // namespace
}  // namespace eddy
