#pragma once
// Test helpers for Kafka: DevKafkaProcess runs the eddy-dev-kafka broker as a child process,
// and the plain functions below produce, consume and read committed offsets with librdkafka
// (kept out of this header) so tests can check what the code under test did on the wire.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eddy/common/status.h"

namespace eddy::testing {

// Spawns $EDDY_BUILD_DIR/bin/eddy-dev-kafka (falling back to the build dir this library was
// configured in), waits for its bootstrap file and kills it (SIGKILL) on destruction. Topics are
// "NAME" or "NAME:PARTITIONS".
class DevKafkaProcess {
 public:
  static Result<std::unique_ptr<DevKafkaProcess>> Start(std::vector<std::string> topics = {},
                                                        int brokers = 1);
  ~DevKafkaProcess();
  DevKafkaProcess(const DevKafkaProcess&) = delete;
  DevKafkaProcess& operator=(const DevKafkaProcess&) = delete;

  const std::string& bootstrap() const { return bootstrap_; }
  pid_t pid() const { return pid_; }
  // Sends SIGTERM and waits; returns the exit status (as from waitpid), -1 on error.
  int Terminate();

  // Path of the eddy-dev-kafka binary these helpers run.
  static std::string BinaryPath();

 private:
  DevKafkaProcess() = default;
  pid_t pid_ = -1;
  std::string dir_;
  std::string bootstrap_;
};

struct TestRecord {
  TestRecord() = default;
  TestRecord(std::string topic, int32_t partition, std::optional<std::string> key,
             std::string value)
      : topic(std::move(topic)),
        partition(partition),
        key(std::move(key)),
        value(std::move(value)) {}

  std::string topic;
  int32_t partition = -1;          // -1: let the partitioner choose (produce only)
  std::optional<std::string> key;  // nullopt: null key
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t offset = -1;  // set by ConsumeRecords
};

// Produces the records in order and waits for every acknowledgement.
Status ProduceRecords(const std::string& bootstrap, const std::vector<TestRecord>& records);

// Reads `topic` partitions [0, partitions) from the beginning without a group until `count`
// records arrived or the timeout passed (then returns what it has).
std::vector<TestRecord> ConsumeRecords(const std::string& bootstrap, const std::string& topic,
                                       int partitions, size_t count,
                                       std::chrono::milliseconds timeout);

// Committed offset of each partition [0, partitions) for `group`; -1001 where nothing is
// committed.
Result<std::map<int32_t, int64_t>> CommittedOffsets(const std::string& bootstrap,
                                                    const std::string& group,
                                                    const std::string& topic, int partitions);

// Commits offsets for `group` from a separate short-lived consumer (to set up group-offsets).
Status CommitOffsets(const std::string& bootstrap, const std::string& group,
                     const std::string& topic, const std::map<int32_t, int64_t>& offsets);

}  // namespace eddy::testing
