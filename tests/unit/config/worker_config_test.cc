#include "eddy/config/worker_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/config/test_util.h"

namespace eddy {
namespace {

using ::eddy::testing::ExpectError;
using ::eddy::testing::Testdata;
using ::testing::HasSubstr;

Result<WorkerConfig> Load(const std::string& yaml) {
  return LoadWorkerConfigString(yaml, "worker.yaml");
}

TEST(WorkerConfig, EmptyFileGivesDefaults) {
  for (const char* text : {"", "# all defaults\n", "{}\n"}) {
    Result<WorkerConfig> c = Load(text);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->state_dir, "./eddy-state");
    EXPECT_EQ(c->max_parallelism, 128u);
    EXPECT_EQ(c->shards, 0u);
    EXPECT_EQ(c->admin_address, "127.0.0.1");
    EXPECT_EQ(c->admin_port, 8558);
    EXPECT_EQ(c->max_buffered_messages, 100000u);
    EXPECT_EQ(c->max_inflight_per_shard, 32768u);
    EXPECT_EQ(c->failure_policy, "retry");
    EXPECT_EQ(c->retry_backoff_max, Millis(30000));
    EXPECT_EQ(c->commit_interval, Millis(1000));
    EXPECT_FALSE(c->state_cache_bytes.has_value()) << "auto";
    EXPECT_EQ(c->state_flush_interval, Millis(5000));
    EXPECT_EQ(c->log_level, "info");
    EXPECT_EQ(c->log_format, "text");
  }
}

TEST(WorkerConfig, StateCacheBytesIsBytesOrAuto) {
  Result<WorkerConfig> c = Load("state_cache_bytes: 0\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_cache_bytes, 0u);
  c = Load("state_cache_bytes: 1048576\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_cache_bytes, 1048576u);
  c = Load("state_cache_bytes: auto\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->state_cache_bytes.has_value());
  ExpectError(Load("state_cache_bytes: 64MiB\n"),
              {"worker.yaml: line 1: state_cache_bytes: expected an integer between 0 and",
               "got '64MiB' (or auto)"});
  ExpectError(Load("state_cache_bytes: -1\n"), {"line 1: state_cache_bytes: expected an integer"});
}

TEST(WorkerConfig, AutoStateCacheIsAQuarterOfMemoryAtLeast64MiB) {
  EXPECT_EQ(StateCacheBytesFor(uint64_t{8} << 30), uint64_t{2} << 30);
  EXPECT_EQ(StateCacheBytesFor(uint64_t{100} << 20), uint64_t{64} << 20);
  EXPECT_EQ(StateCacheBytesFor(0), uint64_t{64} << 20);
}

TEST(WorkerConfig, EveryKeyFromFile) {
  Result<WorkerConfig> c = LoadWorkerConfigFile(Testdata("worker_good.yaml"));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->state_dir, "/var/lib/eddy");
  EXPECT_EQ(c->max_parallelism, 256u);
  EXPECT_EQ(c->shards, 4u);
  EXPECT_EQ(c->admin_address, "0.0.0.0");
  EXPECT_EQ(c->admin_port, 9000);
  EXPECT_EQ(c->max_buffered_messages, 5000u);
  EXPECT_EQ(c->max_inflight_per_shard, 1024u);
  EXPECT_EQ(c->failure_policy, "dead-letter");
  EXPECT_EQ(c->retry_backoff_max, Millis(60000));
  EXPECT_EQ(c->dead_letter_topic, "eddy-dead-letters");
  EXPECT_EQ(c->dead_letter_address, "kafka:9092");
  EXPECT_EQ(c->commit_interval, Millis(500));
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "json");
}

TEST(WorkerConfig, TheExampleFileLoads) {
  Result<WorkerConfig> c = LoadWorkerConfigFile(std::string(EDDY_CONFIG_TESTDATA) +
                                                "/../../../config/worker.example.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
}

TEST(WorkerConfig, UnknownKeyNamesKeyAndLine) {
  ExpectError(LoadWorkerConfigFile(Testdata("worker_unknown_key.yaml")),
              {"worker_unknown_key.yaml: line 2: max_paralelism: unknown key 'max_paralelism'",
               "known keys: state_dir, max_parallelism"});
}

TEST(WorkerConfig, ValueValidation) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"max_parallelism: 0\n",
       "worker.yaml: line 1: max_parallelism: expected an integer between 1 and 32768, got '0'"},
      {"max_parallelism: 32769\n",
       "line 1: max_parallelism: expected an integer between 1 and 32768"},
      {"max_parallelism: -1\n",
       "max_parallelism: expected an integer between 1 and 32768, got '-1'"},
      {"admin_port: 65536\n", "line 1: admin_port: expected an integer between 0 and 65535"},
      {"admin_port: http\n", "admin_port: expected an integer between 0 and 65535, got 'http'"},
      {"shards: [1, 2]\n", "line 1: shards: expected a single value, got a list"},
      {"state_dir:\n", "line 1: state_dir: must not be empty"},
      {"failure_policy: drop\n",
       "failure_policy: expected one of [retry, dead-letter], got 'drop'"},
      {"log_level: verbose\n", "log_level: expected one of [trace, debug, info, warn, error]"},
      {"log_format: xml\n", "log_format: expected one of [text, json], got 'xml'"},
      {"commit_interval: 0\n", "commit_interval: must be larger than 0, got '0'"},
      {"a: 1\nretry_backoff_max: forever\n", "line 1: a: unknown key 'a'"},
      {"retry_backoff_max: forever\n", "line 1: retry_backoff_max: invalid duration 'forever'"},
      {"max_buffered_messages: 0\n", "max_buffered_messages: expected an integer between 1"},
      {"- state_dir\n", "worker.yaml: line 1: expected a map, got a list"},
      {"state_dir: a\nstate_dir: b\n",
       "line 2: state_dir: duplicate key (first defined at line 1)"},
      {"state_dir: a\n---\nshards: 1\n", "expected one YAML document, found 2"},
      {"state_dir: [a\n", "worker.yaml: line 2, column 1: invalid YAML"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    ExpectError(Load(c.yaml), {"worker.yaml", c.expected});
  }
}

TEST(WorkerConfig, DeadLetterRequiresTopic) {
  ExpectError(LoadWorkerConfigFile(Testdata("worker_dead_letter_no_topic.yaml")),
              {"worker_dead_letter_no_topic.yaml: line 2: failure_policy: 'dead-letter' requires "
               "dead_letter_topic"});
}

TEST(WorkerConfig, MissingFileIsNotFound) {
  Result<WorkerConfig> c = LoadWorkerConfigFile("/nonexistent/worker.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("/nonexistent/worker.yaml"));
}

TEST(WorkerOverride, AppliesWithTheSameKeysAndValidation) {
  WorkerConfig c;
  ASSERT_TRUE(ApplyWorkerOverride(c, "admin_port=0").ok());
  EXPECT_EQ(c.admin_port, 0);
  ASSERT_TRUE(ApplyWorkerOverride(c, "commit_interval = 2 s").ok());
  EXPECT_EQ(c.commit_interval, Millis(2000));
  ASSERT_TRUE(ApplyWorkerOverride(c, "state_dir=/data/a=b").ok());  // first '=' splits
  EXPECT_EQ(c.state_dir, "/data/a=b");
  ASSERT_TRUE(ApplyWorkerOverride(c, "log_format=json").ok());
  EXPECT_EQ(c.log_format, "json");
  EXPECT_TRUE(ValidateWorkerConfig(c).ok());
}

TEST(WorkerOverride, RejectsBadInputAndLeavesConfigUnchanged) {
  WorkerConfig c;
  Status s = ApplyWorkerOverride(c, "admin_port=99999");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("override 'admin_port=99999': admin_port: expected an "
                                     "integer between 0 and 65535"));
  EXPECT_EQ(c.admin_port, 8558);

  s = ApplyWorkerOverride(c, "adminport=1");
  EXPECT_THAT(s.message(), HasSubstr("unknown key 'adminport'"));
  s = ApplyWorkerOverride(c, "admin_port");
  EXPECT_THAT(s.message(), HasSubstr("expected key=value"));
  s = ApplyWorkerOverride(c, "max_parallelism=0");
  EXPECT_THAT(s.message(), HasSubstr("max_parallelism: expected an integer between 1 and 32768"));
  s = ApplyWorkerOverride(c, "retry_backoff_max=-3s");
  EXPECT_THAT(s.message(), HasSubstr("invalid duration '-3s'"));
}

TEST(WorkerOverride, CrossKeyRulesAreCheckedAfterAllOverrides) {
  WorkerConfig c;
  // Order must not matter: the policy may come before the topic.
  ASSERT_TRUE(ApplyWorkerOverride(c, "failure_policy=dead-letter").ok());
  Status s = ValidateWorkerConfig(c);
  EXPECT_THAT(s.message(), HasSubstr("failure_policy: 'dead-letter' requires dead_letter_topic"));
  ASSERT_TRUE(ApplyWorkerOverride(c, "dead_letter_topic=dlq").ok());
  EXPECT_TRUE(ValidateWorkerConfig(c).ok());
}

TEST(WorkerOverride, ValidateCatchesValuesSetInCode) {
  WorkerConfig c;
  c.max_parallelism = 0;
  EXPECT_THAT(ValidateWorkerConfig(c).message(), HasSubstr("max_parallelism"));
  c = WorkerConfig{};
  c.log_level = "loud";
  EXPECT_THAT(ValidateWorkerConfig(c).message(), HasSubstr("log_level"));
}

}  // namespace
}  // namespace eddy
