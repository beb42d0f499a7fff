#include "eddy/common/memory_limit.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace eddy {
namespace {

namespace fs = std::filesystem;

TEST(MemoryLimit, ParsesCgroupLimitFiles) {
  EXPECT_EQ(ParseCgroupMemoryLimit("2147483648\n"), 2147483648u);
  EXPECT_EQ(ParseCgroupMemoryLimit("max\n"), std::nullopt) << "v2: no limit";
  EXPECT_EQ(ParseCgroupMemoryLimit("9223372036854771712\n"), std::nullopt) << "v1: no limit";
  for (const char* bad : {"", "\n", "-1", "12abc", "1.5G", "18446744073709551616"}) {
    EXPECT_EQ(ParseCgroupMemoryLimit(bad), std::nullopt) << bad;
  }
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("eddy-cgroup-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void Write(const fs::path& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }
  fs::path root_;
};

// A container's own cgroup may set nothing while its pod's (a parent) sets the limit.
TEST_F(CgroupTree, V2TakesTheSmallestLimitUpToTheRoot) {
  Write("kubepods/pod1/memory.max", "1073741824\n");
  Write("kubepods/pod1/ctr/memory.max", "max\n");
  EXPECT_EQ(CgroupMemoryLimit("0::/kubepods/pod1/ctr\n", root_.string()), 1073741824u);
  Write("kubepods/pod1/ctr/memory.max", "536870912\n");
  EXPECT_EQ(CgroupMemoryLimit("0::/kubepods/pod1/ctr\n", root_.string()), 536870912u);
}

// Inside a container the cgroup's path names the host's hierarchy while the mount shows the
// container's own cgroup at its root: the walk up reaches the root's file.
TEST_F(CgroupTree, V1MemoryControllerAndANamespacedMount) {
  Write("memory/memory.limit_in_bytes", "268435456\n");
  const char* self = "5:devices:/x\n4:memory:/host/path/ctr\n0::/\n";
  EXPECT_EQ(CgroupMemoryLimit(self, root_.string()), 268435456u);
}

TEST_F(CgroupTree, NoLimitAndMalformedInput) {
  Write("memory.max", "max\n");
  EXPECT_EQ(CgroupMemoryLimit("0::/\n", root_.string()), std::nullopt);
  for (const char* bad : {"", "garbage", "0::relative\n", "::::\n", "4:memory:\n"}) {
    EXPECT_EQ(CgroupMemoryLimit(bad, root_.string()), std::nullopt) << bad;
  }
  EXPECT_EQ(CgroupMemoryLimit("0::/a\n", (root_ / "missing").string()), std::nullopt);
}

TEST(MemoryLimit, AvailableMemoryIsPositive) { EXPECT_GT(AvailableMemoryBytes(), 0u); }

}  // namespace
}  // namespace eddy
