// The eddy-dev-kafka launcher as a process: arguments, bootstrap file, signals.

#include "fakes/dev_kafka.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace eddy::testing {
namespace {

// Runs eddy-dev-kafka with `args` and returns its exit code (-1 when it did not exit normally).
int RunDevKafka(std::vector<std::string> args) {
  std::string binary = DevKafkaProcess::BinaryPath();
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", 01, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 01, 0);
  pid_t pid;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(DevKafkaTest, BadArgumentsExitWithUsage) {
  EXPECT_EQ(RunDevKafka({"--bogus"}), 2);
  EXPECT_EQ(RunDevKafka({"--brokers"}), 2);
  EXPECT_EQ(RunDevKafka({"--brokers", "0"}), 2);
  EXPECT_EQ(RunDevKafka({"--brokers", "3x"}), 2);
  EXPECT_EQ(RunDevKafka({"--topic", "t:0"}), 2);
  EXPECT_EQ(RunDevKafka({"--topic", "t:many"}), 2);
  EXPECT_EQ(RunDevKafka({"--topic", ":3"}), 2);
  EXPECT_EQ(RunDevKafka({"--bootstrap-file"}), 2);
  EXPECT_EQ(RunDevKafka({"--help"}), 0);
}

TEST(DevKafkaTest, ServesClientsAndExitsCleanlyOnSigterm) {
  auto broker = DevKafkaProcess::Start({"a:3", "b"}, 2);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  EXPECT_EQ((*broker)->bootstrap().rfind("127.0.0.1:", 0), 0u) << (*broker)->bootstrap();
  ASSERT_TRUE(
      ProduceRecords((*broker)->bootstrap(), {{"a", 2, "k", "v"}, {"auto-created", -1, "k", "w"}})
          .ok());
  std::vector<TestRecord> got =
      ConsumeRecords((*broker)->bootstrap(), "a", 3, 1, std::chrono::seconds(10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].partition, 2);
  int status = (*broker)->Terminate();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace eddy::testing
