// Checkpoints and exactly-once recovery of the eddy-worker process, in the spirit of StateFun's
// smoke test: the dev Kafka broker, the worker with an embedded coordinator and file:// storage,
// and an embedded verification function (checkpoint_verify_functions.cc) that counts per id and
// forwards / delays / cancels messages as a seeded random command tree in each record says. The
// worker is SIGKILLed at random points and restarted; at the end every id's counter must equal
// the expected count exactly (nothing lost, nothing counted twice).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "eddy/config/worker_config.h"
#include "fakes/dev_kafka.h"
#include "fakes/process.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TestRecord;

constexpr int kIds = 16;

std::string VerifyLibrary() {
  return std::string(std::getenv("EDDY_BUILD_DIR")) + "/lib/libeddy_checkpoint_verify_functions.so";
}

// A random command tree (grammar in checkpoint_verify_functions.cc); `expected` receives the
// increments it causes per id.
class CommandGenerator {
 public:
  explicit CommandGenerator(uint32_t seed) : rng_(seed) {}

  std::string Tree(int id, int depth, std::map<int, int64_t>& expected) {
    int n = 1 + Uniform(3);
    std::string out;
    for (int i = 0; i < n; ++i) {
      if (!out.empty()) out += ",";
      int kind = depth >= 3 ? 0 : Uniform(100);
      int target = Uniform(kIds);
      if (kind < 50) {
        out += "I";
        expected[id]++;
      } else if (kind < 70) {
        out += "S" + std::to_string(target) + "(" + Tree(target, depth + 1, expected) + ")";
      } else if (kind < 85) {
        out += "D" + std::to_string(target) + "(" + Tree(target, depth + 1, expected) + ")";
      } else if (kind < 93) {
        std::map<int, int64_t> ignored;  // cancelled: never delivered
        out += "X" + std::to_string(target) + "(" + Tree(target, depth + 1, ignored) + ")";
      } else {
        std::map<int, int64_t> ignored;
        out += "L" + std::to_string(target) + "(" + Tree(target, depth + 1, ignored) + ")";
      }
    }
    return out;
  }
  int Uniform(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

 private:
  std::mt19937 rng_;
};

class CheckpointCrashIT : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("eddy-ckpt-it");
    ASSERT_FALSE(dir_.empty());
    auto kafka = testing::DevKafkaProcess::Start({"in:2", "out:1"});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    admin_port_ = testing::FreeLoopbackPort();
  }

  void TearDown() override {
    if (worker_ && worker_->Running()) worker_->Stop(SIGKILL, 10s);
    if (HasFailure() || std::getenv("EDDY_IT_SHOW_LOGS") != nullptr) {
      for (int i = 1; i <= starts_; ++i) {
        std::ifstream in(dir_ + "/worker-" + std::to_string(i) + ".log");
        std::cerr << "---- worker log " << i << " ----\n" << in.rdbuf();
      }
    }
    worker_.reset();
    kafka_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A fresh consumer group per start: with checkpoints the group offsets play no part (positions
  // come from the checkpoint), and a new group avoids the mock broker's slow rejoin after a
  // SIGKILLed member.
  std::string WriteModule(const std::string& group) {
    std::string path = dir_ + "/module-" + group + ".yaml";
    std::ofstream(path) << "kind: io.eddy.embedded.v1/module\n"
                           "spec:\n"
                           "  library: " << VerifyLibrary() << "\n"
                           "  functions: [verify/*]\n"
                           "  maxNumBatchRequests: 5\n"
                           "---\n"
                           "kind: io.statefun.kafka.v1/ingress\n"
                           "spec:\n"
                           "  id: verify/in\n"
                           "  address: " << kafka_->bootstrap() << "\n"
                           "  consumerGroupId: " << group << "\n"
                           "  startupPosition:\n"
                           "    type: earliest\n"
                           "  topics:\n"
                           "    - topic: in\n"
                           "      valueType: verify/cmd\n"
                           "      targets: [verify/counter]\n"
                           "  properties:\n"
                           "    - session.timeout.ms: 6000\n"
                           "    - max.poll.interval.ms: 7000\n"
                           "---\n"
                           "kind: io.statefun.kafka.v1/egress\n"
                           "spec:\n"
                           "  id: verify/out\n"
                           "  address: " << kafka_->bootstrap() << "\n"
                           "  deliverySemantic:\n"
                           "    type: at-least-once\n";
    return path;
  }

  std::vector<std::string> Overrides() {
    return {"shards=2",
            "checkpoint.embedded=true",
            "checkpoint.interval=200ms",
            "checkpoint.timeout=10s",
            "checkpoint.worker_id=w1",
            "checkpoint.storage.uri=file://" + dir_ + "/checkpoints"};
  }

  void StartWorker(std::vector<std::string> extra = {}) {
    std::string module = WriteModule("verify-" + std::to_string(starts_ + 1));
    auto overrides = Overrides();
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    if (std::getenv("EDDY_IT_SHOW_LOGS") != nullptr) overrides.push_back("log_level=debug");
    auto worker = testing::StartReadyWorker(module, dir_ + "/state", admin_port_, overrides,
                                            dir_ + "/worker-" + std::to_string(++starts_) + ".log",
                                            30s);
    ASSERT_TRUE(worker.ok()) << worker.status().ToString();
    worker_ = std::make_unique<ChildProcess>(std::move(worker).value());
  }

  std::string Log(int start) {
    std::ifstream in(dir_ + "/worker-" + std::to_string(start) + ".log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Highest count seen in the egress per id.
  std::map<int, int64_t> MaxCounts() {
    std::map<int, int64_t> max;
    for (const TestRecord& r :
         testing::ConsumeRecords(kafka_->bootstrap(), "out", 1, 10'000'000, 300ms)) {
      int id = std::stoi(r.key.value_or("-1"));
      max[id] = std::max(max[id], static_cast<int64_t>(std::stoll(r.value)));
    }
    return max;
  }

  // Waits until every id reached its expected count, then a little longer, and returns the
  // highest counts seen (so something counted twice shows up too).
  std::map<int, int64_t> AwaitCounts(const std::map<int, int64_t>& expected,
                                     std::chrono::seconds timeout = 30s) {
    std::map<int, int64_t> got;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      got = MaxCounts();
      bool done = true;
      for (const auto& [id, n] : expected) done = done && got[id] >= n;
      if (done) break;
    }
    std::this_thread::sleep_for(500ms);
    return MaxCounts();
  }

  uint64_t Metric(const std::string& name) {
    std::string body = testing::HttpGet(admin_port_, "/metrics");
    size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(body.substr(at + name.size() + 2));
  }

  std::string dir_;
  std::unique_ptr<testing::DevKafkaProcess> kafka_;
  std::unique_ptr<ChildProcess> worker_;
  uint16_t admin_port_ = 0;
  int starts_ = 0;
};

TEST_F(CheckpointCrashIT, ExactlyOnceStateAcrossRepeatedCrashes) {
  CommandGenerator gen(20240611);
  std::mt19937 kill_rng(7);
  std::map<int, int64_t> expected;
  constexpr int kRecords = 1600;
  constexpr int kChunk = 20;
  constexpr int kKills = 4;
  std::vector<TestRecord> records;
  for (int i = 0; i < kRecords; ++i) {
    int id = gen.Uniform(kIds);
    records.emplace_back("in", -1, std::to_string(id), gen.Tree(id, 0, expected));
  }
  StartWorker();
  // Records keep arriving (~250/s) while the worker is killed and restarted, so crashes land in
  // the middle of processing, cuts and uploads.
  std::atomic<bool> produced{false};
  Status produce_status;
  std::thread producer([&] {
    for (size_t at = 0; at < records.size(); at += kChunk) {
      std::vector<TestRecord> chunk(records.begin() + at,
                                    records.begin() + std::min(records.size(), at + kChunk));
      produce_status = testing::ProduceRecords(kafka_->bootstrap(), chunk);
      if (!produce_status.ok()) break;
      std::this_thread::sleep_for(110ms);
    }
    produced = true;
  });
  for (int kill = 0; kill < kKills; ++kill) {
    // Once this run consumes (the group join takes a few seconds) and has acknowledged a
    // checkpoint since, crash at a random point: in the middle of processing, cuts and uploads.
    auto wait_until = std::chrono::steady_clock::now() + 8s;
    while (Metric("eddy_ingress_records_total{ingress=\"verify/in\"}") == 0 &&
           std::chrono::steady_clock::now() < wait_until) {
      std::this_thread::sleep_for(5ms);
    }
    uint64_t acked = Metric("eddy_checkpoint_acknowledged_total");
    while (Metric("eddy_checkpoint_acknowledged_total") < acked + 2 &&
           std::chrono::steady_clock::now() < wait_until) {
      std::this_thread::sleep_for(5ms);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_rng() % 700));
    if (!worker_->Running()) break;
    worker_->Stop(SIGKILL, 5s);
    StartWorker();
  }
  producer.join();
  ASSERT_TRUE(produce_status.ok()) << produce_status.ToString();
  ASSERT_TRUE(worker_->Running()) << worker_->Log();

  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) {
    EXPECT_EQ(got[id], n) << "id " << id << (got[id] < n ? ": increments lost" : ": counted twice");
  }
  for (const auto& [id, n] : got) {
    EXPECT_TRUE(expected.count(id)) << "unexpected id " << id;
  }
  int restored = 0;
  int with_positions = 0;
  for (int i = 2; i <= starts_; ++i) {
    std::string log = Log(i);
    if (log.find("restored checkpoint") != std::string::npos) ++restored;
    if (log.find("ingress positions") != std::string::npos &&
        log.find(", 0 ingress positions") == std::string::npos) {
      ++with_positions;
    }
  }
  EXPECT_GE(restored, 2) << "most restarts should restore a checkpoint, not start over";
  EXPECT_GE(with_positions, 2) << "crashes should hit a worker that was consuming";
  EXPECT_GT(Metric("eddy_checkpoint_completed_total"), 0u);
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// A slow function keeps messages in mailboxes (backlogs and batches in flight): a checkpoint
// taken then holds them as envelopes, and the restore delivers them again, in order, once.
TEST_F(CheckpointCrashIT, RestoreDeliversCapturedMailboxMessages) {
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 400; ++i) {
    int id = i % 4;
    records.emplace_back("in", -1, std::to_string(id), "W,I");
    expected[id]++;
  }
  StartWorker();
  // Records keep arriving while the slow function works, so every cut finds messages waiting.
  Status produce_status;
  std::thread producer([&] {
    for (size_t at = 0; at < records.size() && produce_status.ok(); at += 10) {
      std::vector<TestRecord> chunk(records.begin() + at, records.begin() + at + 10);
      produce_status = testing::ProduceRecords(kafka_->bootstrap(), chunk);
      // The rest only once the worker consumes (the group join takes a few seconds).
      auto join = std::chrono::steady_clock::now() + 15s;
      while (at == 0 && Metric("eddy_ingress_records_total{ingress=\"verify/in\"}") == 0 &&
             std::chrono::steady_clock::now() < join) {
        std::this_thread::sleep_for(5ms);
      }
      std::this_thread::sleep_for(40ms);
    }
  });
  // Kill right after a checkpoint that captured messages completed.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool captured = false;
  while (!captured && std::chrono::steady_clock::now() < deadline) {
    captured = Metric("eddy_checkpoint_captured_envelopes") > 0;
    if (!captured) std::this_thread::sleep_for(1ms);
  }
  if (captured) worker_->Stop(SIGKILL, 5s);
  producer.join();
  ASSERT_TRUE(produce_status.ok()) << produce_status.ToString();
  ASSERT_TRUE(captured) << "no checkpoint captured mailbox messages";
  StartWorker();
  std::string log = Log(2);
  size_t at = log.find("restored checkpoint");
  ASSERT_NE(at, std::string::npos) << log;
  std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_EQ(line.find(" 0 pending messages"), std::string::npos) << line;
  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// A checkpoint whose upload fails is declined and aborted; processing goes on and the next
// checkpoint completes. (Test hook: EDDY_TEST_FAIL_NTH_UPLOAD makes one file upload fail.)
TEST_F(CheckpointCrashIT, FailedUploadIsDeclinedAndTheNextCheckpointCompletes) {
  ::setenv("EDDY_TEST_FAIL_NTH_UPLOAD", "9", 1);  // during the 2nd or 3rd checkpoint
  StartWorker();
  ::unsetenv("EDDY_TEST_FAIL_NTH_UPLOAD");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (Metric("eddy_checkpoint_declined_total") == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(Metric("eddy_checkpoint_declined_total"), 1u);
  uint64_t completed = Metric("eddy_checkpoint_completed_total");
  while (Metric("eddy_checkpoint_completed_total") < completed + 2 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(Metric("eddy_checkpoint_completed_total"), completed + 2);
  EXPECT_GE(Metric("eddy_checkpoint_aborted_total"), 1u);
  EXPECT_NE(worker_->Log().find("declined: upload"), std::string::npos);

  // Processing is unaffected, and a restart restores a checkpoint taken after the failure.
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 50; ++i) {
    records.emplace_back("in", -1, std::to_string(i % 5), "I,S" + std::to_string(i % 3) + "(I)");
    expected[i % 5]++;
    expected[i % 3]++;
  }
  ASSERT_TRUE(testing::ProduceRecords(kafka_->bootstrap(), records).ok());
  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
  uint64_t done = Metric("eddy_checkpoint_completed_total");
  while (Metric("eddy_checkpoint_completed_total") < done + 2) std::this_thread::sleep_for(5ms);
  worker_->Stop(SIGKILL, 5s);
  StartWorker();
  EXPECT_NE(Log(2).find("restored checkpoint"), std::string::npos);
  std::this_thread::sleep_for(1s);
  got = MaxCounts();
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// ---- checkpoint.* settings (WorkerConfig) ----

TEST(CheckpointConfigTest, NestedYamlAndOverridesShareTheKeys) {
  auto config = LoadWorkerConfigString(
      "checkpoint:\n"
      "  embedded: true\n"
      "  interval: 500ms\n"
      "  retain: 2\n"
      "  worker_id: w-1\n"
      "  storage:\n"
      "    uri: file:///tmp/x\n"
      "    region: eu-west-1\n",
      "w.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->checkpoint.enabled());
  EXPECT_EQ(config->checkpoint.interval.count(), 500);
  EXPECT_EQ(config->checkpoint.retain, 2u);
  EXPECT_EQ(config->checkpoint.worker_id, "w-1");
  EXPECT_EQ(config->checkpoint.storage_uri, "file:///tmp/x");
  EXPECT_EQ(config->checkpoint.storage_region, "eu-west-1");

  WorkerConfig c;
  EXPECT_FALSE(c.checkpoint.enabled()) << "off by default: the worker behaves as before";
  ASSERT_TRUE(ApplyWorkerOverride(c, "checkpoint.coordinator=127.0.0.1:6123").ok());
  ASSERT_TRUE(ApplyWorkerOverride(c, "checkpoint.storage.uri=s3://bucket/job").ok());
  EXPECT_TRUE(ValidateWorkerConfig(c).ok());
}

TEST(CheckpointConfigTest, ClearErrors) {
  auto expect_error = [](const std::string& yaml, const std::string& fragment) {
    auto config = LoadWorkerConfigString(yaml, "w.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.status().message().find(fragment), std::string::npos)
        << config.status().message();
  };
  expect_error("checkpoint:\n  embedded: yes please\n", "expected true or false");
  expect_error("checkpoint:\n  embedded: true\n", "checkpoint.storage.uri");
  expect_error("checkpoint:\n  coordinator: nohost\n  storage:\n    uri: file:///x\n",
               "expected host:port");
  expect_error("checkpoint:\n  embedded: true\n  coordinator: h:1\n  storage:\n"
               "    uri: file:///x\n",
               "exclusive");
  expect_error("checkpoint:\n  embedded: true\n  storage:\n    uri: ftp://x\n",
               "file:///absolute/path or s3://");
  expect_error("checkpoint:\n  embedded: true\n  worker_id: a/b\n  storage:\n"
               "    uri: file:///x\n",
               "[A-Za-z0-9._~-]");
  expect_error("checkpoint:\n  interval: 0s\n", "checkpoint.interval");
  expect_error("checkpoint:\n  retain: 0\n", "checkpoint.retain");
  expect_error("checkpoint:\n  storage:\n    uri: file:///x\n", "checkpointing is off");
  expect_error("checkpoint:\n  bogus: 1\n", "unknown key 'checkpoint.bogus'");
  expect_error("checkpoint: 5\n", "expected a map of checkpoint.* settings");
  expect_error("checkpoint:\n  embedded: true\ncheckpoint.embedded: true\n", "duplicate key");
  WorkerConfig c;
  EXPECT_FALSE(ApplyWorkerOverride(c, "checkpoint.retain=-1").ok());
  EXPECT_FALSE(ApplyWorkerOverride(c, "checkpoint.embedded=maybe").ok());
}

}  // namespace
}  // namespace eddy
