// The coordinator's YAML config and --set overrides, and the eddy-coordinator binary's exit codes.
#include "eddy/coordinator/coordinator_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "unit/coordinator/coordinator_test_util.h"

namespace eddy::coordinator {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kGood = R"(listen_address: 127.0.0.1:7000
expected_workers: 3
max_parallelism: 256
heartbeat_timeout: 5s
log_level: debug
checkpoint:
  interval: 30s
  timeout: 2min
  retain: 5
  verify_restore_checksums: true
storage:
  uri: s3://bucket/prefix
  endpoint: http://127.0.0.1:9000
  region: eu-west-1
  access_key_id: AK
  secret_access_key: SK
)";

TEST(CoordinatorConfigTest, ParsesEveryDocumentedField) {
  auto c = LoadCoordinatorConfigString(kGood, "coord.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen_address, "127.0.0.1:7000");
  EXPECT_EQ(c->checkpoint.expected_workers, 3u);
  EXPECT_EQ(c->checkpoint.max_parallelism, 256u);
  EXPECT_EQ(c->checkpoint.heartbeat_timeout, 5000ms);
  EXPECT_EQ(c->checkpoint.checkpoint_interval, 30000ms);
  EXPECT_EQ(c->checkpoint.checkpoint_timeout, 120000ms);
  EXPECT_EQ(c->checkpoint.retain, 5u);
  EXPECT_TRUE(c->checkpoint.verify_restore_checksums);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->storage.uri, "s3://bucket/prefix");
  EXPECT_EQ(c->storage.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c->storage.region, "eu-west-1");
  EXPECT_EQ(c->storage.access_key_id, "AK");
  EXPECT_EQ(c->storage.secret_access_key, "SK");
  EXPECT_TRUE(ValidateCoordinatorConfig(*c).ok());
}

TEST(CoordinatorConfigTest, OverridesUseTheSameKeys) {
  CoordinatorConfig c;
  ASSERT_TRUE(ApplyCoordinatorOverride(c, "checkpoint.interval=250ms").ok());
  ASSERT_TRUE(ApplyCoordinatorOverride(c, "storage.uri=file:///tmp/x").ok());
  ASSERT_TRUE(ApplyCoordinatorOverride(c, "storage.endpoint=").ok());  // empty is allowed here
  EXPECT_EQ(c.checkpoint.checkpoint_interval, 250ms);
  EXPECT_EQ(c.storage.uri, "file:///tmp/x");
  Status st = ApplyCoordinatorOverride(c, "checkpoint.intervall=1s");
  EXPECT_THAT(st.message(), HasSubstr("unknown key 'checkpoint.intervall'"));
  st = ApplyCoordinatorOverride(c, "checkpoint.retain=0");
  EXPECT_THAT(st.message(), HasSubstr("--set 'checkpoint.retain=0': checkpoint.retain: expected "
                                      "an integer between 1 and 1000"));
  EXPECT_FALSE(ApplyCoordinatorOverride(c, "no-equals").ok());
  EXPECT_FALSE(ApplyCoordinatorOverride(c, "=x").ok());
  EXPECT_FALSE(ApplyCoordinatorOverride(c, "storage.uri=").ok());
}

TEST(CoordinatorConfigTest, ErrorsNameFileLineAndKey) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"listen_address: a:1\ncheckpoint:\n  interval: soon\n",
       "c.yaml:3: checkpoint.interval: expected a duration"},
      {"expected_workers: -2\n", "c.yaml:1: expected_workers: expected an integer"},
      {"checkpoint:\n  retain: 1\n  retain: 2\n", "c.yaml:3: checkpoint.retain: duplicate key"},
      {"storage:\n  bucket: x\n", "c.yaml:2: unknown key 'storage.bucket'"},
      {"listen_adress: x:1\n", "c.yaml:1: unknown key 'listen_adress'"},
      {"checkpoint: 5\n", "c.yaml:1: checkpoint: expected a map"},
      {"storage:\n  uri: [a, b]\n", "c.yaml:2: storage.uri: expected a single value"},
      {"checkpoint:\n  verify_restore_checksums: maybe\n", "expected true or false"},
      {"log_level: loud\n", "c.yaml:1: log_level: expected one of"},
      {"- a\n- b\n", "c.yaml:1: expected a map"},
      {"a: [1, 2\n", "c.yaml:"},  // invalid YAML
      {"checkpoint:\n  timeout: 0s\n", "checkpoint.timeout: must be larger than 0"},
  };
  for (const auto& tc : cases) {
    auto c = LoadCoordinatorConfigString(tc.yaml, "c.yaml");
    ASSERT_FALSE(c.ok()) << tc.yaml;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr(tc.expected)) << tc.yaml;
  }
}

TEST(CoordinatorConfigTest, ValidationChecksCrossFieldRules) {
  auto c = LoadCoordinatorConfigString("", "empty.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(ValidateCoordinatorConfig(*c).message(), HasSubstr("storage.uri"));
  c->storage.uri = "file:///tmp/x";
  EXPECT_TRUE(ValidateCoordinatorConfig(*c).ok());
  c->checkpoint.expected_workers = 300;  // > max_parallelism 128
  EXPECT_THAT(ValidateCoordinatorConfig(*c).message(), HasSubstr("expected_workers"));
  c->checkpoint.expected_workers = 1;
  c->listen_address = "localhost";
  EXPECT_THAT(ValidateCoordinatorConfig(*c).message(), HasSubstr("listen_address"));
  c->listen_address = "localhost:99999";
  EXPECT_FALSE(ValidateCoordinatorConfig(*c).ok());
  EXPECT_EQ(LoadCoordinatorConfigFile("/nonexistent/c.yaml").status().code(),
            StatusCode::kInvalidArgument);
}

// ---- The binary ----

class CoordinatorBinaryTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // Runs to completion; returns the exit code and fills `log`.
  int Run(std::vector<std::string> args, std::string* log) {
    args.insert(args.begin(), eddy::testing::BuildBinary("eddy-coordinator"));
    auto p = eddy::testing::ChildProcess::Spawn(args, dir_.path() + "/run.log");
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return -1;
    int rc = p->Wait(10s);
    *log = p->Log();
    return rc;
  }
  testing::TempDir dir_;
  testing::TempDir store_;
};

TEST_F(CoordinatorBinaryTest, ExitCodes) {
  std::string log;
  EXPECT_EQ(Run({"--help"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("Usage: eddy-coordinator"));
  EXPECT_EQ(Run({"--bogus"}, &log), 2);

  std::string bad = Write("bad.yaml", "storage:\n  uri: file:///tmp\ncheckpoint:\n  retain: x\n");
  EXPECT_EQ(Run({"--config", bad}, &log), 2);
  EXPECT_THAT(log, HasSubstr("bad.yaml:4: checkpoint.retain"));

  std::string good = Write("good.yaml", "listen_address: 127.0.0.1:0\nstorage:\n  uri: " +
                                            store_.uri() + "\n");
  EXPECT_EQ(Run({"--config", good, "--validate"}, &log), 0);
  EXPECT_THAT(log, HasSubstr("OK"));
  EXPECT_EQ(Run({"--config", good, "--set", "checkpoint.timeout=never", "--validate"}, &log), 2);
  EXPECT_THAT(log, HasSubstr("checkpoint.timeout"));
  EXPECT_EQ(Run({"--set", "listen_address=127.0.0.1:0", "--validate"}, &log), 2);
  EXPECT_THAT(log, HasSubstr("storage.uri"));

  // Runtime error: a checkpoint exists but does not verify -> recovery refuses -> exit 3.
  auto store = testing::OpenFolder(store_.uri());
  v1::LatestPointer ptr;
  ptr.set_checkpoint_id(4);
  ptr.set_manifest_sha256(std::string(64, 'a'));
  ASSERT_TRUE(store->Put("LATEST", ptr.SerializeAsString()).ok());
  EXPECT_EQ(Run({"--config", good}, &log), 3);
  EXPECT_THAT(log, HasSubstr("refusing to start from empty state"));
}

TEST_F(CoordinatorBinaryTest, RunsUntilSigterm) {
  std::string good = Write("good.yaml", "listen_address: 127.0.0.1:0\nstorage:\n  uri: " +
                                            store_.uri() + "\n");
  auto p = eddy::testing::ChildProcess::Spawn(
      {eddy::testing::BuildBinary("eddy-coordinator"), "--config", good}, dir_.path() + "/l.log");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(testing::WaitFor([&] { return p->Log().find("listening on") != std::string::npos; }))
      << p->Log();
  EXPECT_EQ(p->Stop(SIGTERM, 10s), 0) << p->Log();
  EXPECT_THAT(p->Log(), HasSubstr("stopping"));
}

}  // namespace
}  // namespace eddy::coordinator
