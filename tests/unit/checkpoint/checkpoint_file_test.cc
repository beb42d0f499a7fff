#include "eddy/checkpoint/checkpoint_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace eddy::checkpoint {
namespace {

const std::string kSha =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(CheckpointFileTest, KeyLayout) {
  EXPECT_EQ(SstKey("", "w0", "000012", kSha), "sst/w0/000012-" + kSha + ".sst");
  EXPECT_EQ(SstKey("a/b", "w0", "7", kSha), "a/b/sst/w0/7-" + kSha + ".sst");
  EXPECT_EQ(SstFolder("", "db"), "sst/db/");
  EXPECT_EQ(CheckpointFolder("", 3, "w0"), "chk-3/w0/");
  EXPECT_EQ(CheckpointFolder("p", 3, "w0"), "p/chk-3/w0/");
}

TEST(CheckpointFileTest, LocalNameForKeyInvertsTheLayout) {
  EXPECT_EQ(*LocalNameForKey(SstKey("", "w0", "000012", kSha)), "000012.sst");
  EXPECT_EQ(*LocalNameForKey(SstKey("x/sst", "w0", "1234567", kSha)), "1234567.sst");
  EXPECT_EQ(*LocalNameForKey("chk-3/w0/MANIFEST-000005"), "MANIFEST-000005");
  EXPECT_EQ(*LocalNameForKey("p/q/chk-12/w0/CURRENT"), "CURRENT");
  EXPECT_EQ(*LocalNameForKey("chk-3/w0/000009.log"), "000009.log");
  const std::vector<std::string> bad_keys = {
      "", "CURRENT", "w0/CURRENT", "chk-/w0/CURRENT", "chk-x/w0/CURRENT", "ckp-3/w0/CURRENT",
      "chk-3/w0/..", "sst/w0/000012.sst", "sst/w0/000012-" + kSha.substr(1) + ".sst",
      "sst/w0/abc-" + kSha + ".sst", "sst/w0/12-" + kSha + ".sstx",
      "sst/w0/12-" + std::string(64, 'G') + ".sst", "chk-3/w0/a\nb"};
  for (const std::string& bad : bad_keys) {
    auto name = LocalNameForKey(bad);
    EXPECT_FALSE(name.ok()) << bad << " -> " << (name.ok() ? *name : "");
    if (!name.ok()) {
      EXPECT_EQ(name.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(CheckpointFileTest, SegmentsAndPrefixes) {
  EXPECT_TRUE(CheckKeySegment("worker-0_a.b~c", "id").ok());
  EXPECT_FALSE(CheckKeySegment("", "id").ok());
  EXPECT_FALSE(CheckKeySegment(".", "id").ok());
  EXPECT_FALSE(CheckKeySegment("..", "id").ok());
  EXPECT_FALSE(CheckKeySegment("a/b", "id").ok());
  EXPECT_FALSE(CheckKeySegment("a b", "id").ok());
  EXPECT_FALSE(CheckKeySegment(std::string(129, 'a'), "id").ok());
  Status s = CheckKeySegment("a\x01", "worker id");
  EXPECT_NE(s.message().find("worker id 'a\\x01'"), std::string::npos) << s.message();

  EXPECT_TRUE(CheckKeyPrefix("").ok());
  EXPECT_TRUE(CheckKeyPrefix("jobs/j1").ok());
  EXPECT_FALSE(CheckKeyPrefix("/jobs").ok());
  EXPECT_FALSE(CheckKeyPrefix("jobs/").ok());
  EXPECT_FALSE(CheckKeyPrefix("jobs//j1").ok());
  EXPECT_FALSE(CheckKeyPrefix("jobs/../x").ok());

  EXPECT_TRUE(IsSafeLocalName("000012.sst"));
  EXPECT_FALSE(IsSafeLocalName("../CURRENT"));
  EXPECT_FALSE(IsSafeLocalName(".."));
  EXPECT_FALSE(IsSafeLocalName(""));
}

}  // namespace
}  // namespace eddy::checkpoint
