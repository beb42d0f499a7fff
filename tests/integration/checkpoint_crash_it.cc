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
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "eddy/config/worker_config.h"
#include "fakes/dev_kafka.h"
#include "fakes/process.h"
#include "fakes/txn_broker/txn_broker_client.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TestRecord;

constexpr int kIds = 16;
constexpr int kMaxParallelism = 128;  // the worker's and the external coordinator's

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
    auto kafka = testing::DevKafkaProcess::Start({"in:2", "out:1", "eddy-egress-commits:1"});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    admin_port_ = testing::FreeLoopbackPort();
  }

  void TearDown() override {
    if (worker_ && worker_->Running()) worker_->Stop(SIGKILL, 10s);
    if (coordinator_ && coordinator_->Running()) coordinator_->Stop(SIGKILL, 10s);
    if (HasFailure() || std::getenv("EDDY_IT_SHOW_LOGS") != nullptr) {
      for (int i = 1; i <= starts_; ++i) {
        std::ifstream in(dir_ + "/worker-" + std::to_string(i) + ".log");
        std::cerr << "---- worker log " << i << " ----\n" << in.rdbuf();
      }
      for (int i = 1; i <= coordinator_starts_; ++i) {
        std::ifstream in(dir_ + "/coordinator-" + std::to_string(i) + ".log");
        std::cerr << "---- coordinator log " << i << " ----\n" << in.rdbuf();
      }
    }
    worker_.reset();
    coordinator_.reset();
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
                           "  address: " << (txn_broker_ ? txn_broker_->target() : kafka_->bootstrap()) << "\n"
                           "  deliverySemantic:\n"
                           << (txn_broker_ || eos_on_dev_broker_ ? "    type: exactly-once\n"
                                             "    transactionTimeout: 60s\n"
                                           : "    type: at-least-once\n");
    return path;
  }

  // With an external coordinator (StartCoordinator) the worker connects to it instead of
  // embedding one.
  std::vector<std::string> Overrides() {
    return {"shards=2",
            coordinator_port_ == 0
                ? "checkpoint.embedded=true"
                : "checkpoint.coordinator=127.0.0.1:" + std::to_string(coordinator_port_),
            "checkpoint.interval=200ms",
            "checkpoint.timeout=10s",
            "checkpoint.worker_id=w1",
            "max_parallelism=" + std::to_string(kMaxParallelism),
            "checkpoint.storage.uri=file://" + dir_ + "/checkpoints"};
  }

  // Starts eddy-coordinator on coordinator_port_ (picked on the first start, reused after) and
  // waits until it serves.
  void StartCoordinator() {
    if (coordinator_port_ == 0) coordinator_port_ = testing::FreeLoopbackPort();
    std::string config = dir_ + "/coordinator.yaml";
    std::ofstream(config) << "listen_address: 127.0.0.1:" << coordinator_port_ << "\n"
                          << "expected_workers: 1\n"
                          << "max_parallelism: " << kMaxParallelism << "\n"
                          << "checkpoint:\n"
                          << "  interval: 200ms\n"
                          << "  timeout: 10s\n"
                          << "storage:\n"
                          << "  uri: file://" << dir_ << "/checkpoints\n";
    std::vector<std::string> argv = {testing::BuildBinary("eddy-coordinator"), "--config", config};
    if (std::getenv("EDDY_IT_SHOW_LOGS") != nullptr) {
      argv.insert(argv.end(), {"--set", "log_level=debug"});
    }
    auto spawned = ChildProcess::Spawn(
        argv, dir_ + "/coordinator-" + std::to_string(++coordinator_starts_) + ".log");
    ASSERT_TRUE(spawned.ok()) << spawned.status().ToString();
    coordinator_ = std::make_unique<ChildProcess>(std::move(spawned).value());
    auto deadline = std::chrono::steady_clock::now() + 15s;
    while (coordinator_->Log().find("listening on") == std::string::npos) {
      ASSERT_TRUE(coordinator_->Running()) << "eddy-coordinator exited:\n" << coordinator_->Log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "eddy-coordinator not serving:\n" << coordinator_->Log();
      std::this_thread::sleep_for(10ms);
    }
  }

  // The checkpoint id LATEST names (LatestPointer: field 1 is the varint id), 0 when there is
  // none. Parsed by hand: this test does not link the protobuf classes.
  uint64_t LatestId() {
    std::ifstream in(dir_ + "/checkpoints/LATEST", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.empty() || bytes[0] != 0x08) return 0;
    uint64_t id = 0;
    for (size_t i = 1, shift = 0; i < bytes.size() && shift < 64; ++i, shift += 7) {
      id |= static_cast<uint64_t>(bytes[i] & 0x7f) << shift;
      if ((bytes[i] & 0x80) == 0) return id;
    }
    return 0;
  }

  void StartWorker(std::vector<std::string> extra = {}) {
    std::string module = WriteModule("verify-" + std::to_string(starts_ + 1));
    auto overrides = Overrides();
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    if (std::getenv("EDDY_IT_SHOW_LOGS") != nullptr) overrides.push_back("log_level=debug");
    // With exactly-once egress: the worker whose transactional producer talks to the fake
    // transactional broker (the dev broker's transactions are a stub).
    auto worker = testing::StartReadyWorker(module, dir_ + "/state", admin_port_, overrides,
                                            dir_ + "/worker-" + std::to_string(++starts_) + ".log",
                                            30s,
                                            txn_broker_ ? "eddy-eos-test-worker" : "eddy-worker");
    ASSERT_TRUE(worker.ok()) << worker.status().ToString();
    worker_ = std::make_unique<ChildProcess>(std::move(worker).value());
  }

  std::string CoordinatorLog(int start) {
    std::ifstream in(dir_ + "/coordinator-" + std::to_string(start) + ".log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string Log(int start) {
    std::ifstream in(dir_ + "/worker-" + std::to_string(start) + ".log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Highest count seen in the egress per id. A read can come back short (the consumer gets
  // `timeout` to connect and fetch, which a loaded machine may not be enough for); callers
  // combine reads with CombineMax, since a later read can only show more records.
  std::map<int, int64_t> MaxCounts(std::chrono::milliseconds timeout = 300ms) {
    std::map<int, int64_t> max;
    for (const TestRecord& r :
         testing::ConsumeRecords(kafka_->bootstrap(), "out", 1, 10'000'000, timeout)) {
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
    for (const auto& [id, n] : MaxCounts(2000ms)) got[id] = std::max(got[id], n);
    return got;
  }

  uint64_t Metric(const std::string& name) {
    std::string body = testing::HttpGet(admin_port_, "/metrics");
    size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(body.substr(at + name.size() + 2));
  }

  // Produces `records` (~180/s) while SIGKILLing and restarting the worker `kills` times at
  // random points once it consumes and has acknowledged checkpoints, so crashes land in the
  // middle of processing, cuts, uploads and egress commits.
  void ProduceWhileKilling(const std::vector<TestRecord>& records, int kills, uint32_t seed) {
    std::mt19937 kill_rng(seed);
    constexpr size_t kChunk = 20;
    Status produce_status;
    std::thread producer([&] {
      for (size_t at = 0; at < records.size(); at += kChunk) {
        std::vector<TestRecord> chunk(records.begin() + at,
                                      records.begin() + std::min(records.size(), at + kChunk));
        produce_status = testing::ProduceRecords(kafka_->bootstrap(), chunk);
        if (!produce_status.ok()) break;
        std::this_thread::sleep_for(110ms);
      }
    });
    for (int kill = 0; kill < kills; ++kill) {
      // At most 8 s for both: a kill point that is late or early is still a kill point.
      auto wait_until = std::chrono::steady_clock::now() + 8s;
      AwaitMetricUntil("eddy_ingress_records_total{ingress=\"verify/in\"}", 1, wait_until);
      AwaitMetricUntil("eddy_checkpoint_acknowledged_total",
                       Metric("eddy_checkpoint_acknowledged_total") + 2, wait_until);
      std::this_thread::sleep_for(std::chrono::milliseconds(kill_rng() % 700));
      if (!worker_->Running()) break;
      worker_->Stop(SIGKILL, 5s);
      StartWorker();
    }
    producer.join();
    ASSERT_TRUE(produce_status.ok()) << produce_status.ToString();
    ASSERT_TRUE(worker_->Running()) << worker_->Log();
  }

  // Polls /metrics until `name` reaches `at_least`; false when `deadline` or `timeout` passed
  // first.
  bool AwaitMetricUntil(const std::string& name, uint64_t at_least,
                        std::chrono::steady_clock::time_point deadline) {
    while (Metric(name) < at_least) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  bool AwaitMetric(const std::string& name, uint64_t at_least, std::chrono::seconds timeout) {
    return AwaitMetricUntil(name, at_least, std::chrono::steady_clock::now() + timeout);
  }

  // Once `checkpoints_first` more checkpoints completed, SIGKILLs the worker and restarts it: it
  // must restore a checkpoint, the egress must still show exactly `expected` (nothing counted
  // again), and it must drain cleanly.
  void CrashRestoreAndExpect(const std::map<int, int64_t>& expected, int checkpoints_first) {
    const uint64_t done = Metric("eddy_checkpoint_completed_total");
    ASSERT_TRUE(AwaitMetric("eddy_checkpoint_completed_total", done + checkpoints_first, 20s))
        << worker_->Log();
    worker_->Stop(SIGKILL, 5s);
    StartWorker();
    EXPECT_NE(Log(starts_).find("restored checkpoint"), std::string::npos);
    std::map<int, int64_t> got = AwaitCounts(expected);  // also shows anything counted again
    for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
    EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
  }

  // Counted over the restarts' logs.
  struct Restarts {
    int restored = 0;        // restored a checkpoint
    int with_positions = 0;  // had ingress positions to restore
    int recovered_egress = 0;  // recovered the exactly-once egress from a checkpoint
  };
  Restarts RestoreCounts() {
    Restarts r;
    for (int i = 2; i <= starts_; ++i) {
      std::string log = Log(i);
      if (log.find("restored checkpoint") != std::string::npos) ++r.restored;
      if (log.find("ingress positions") != std::string::npos &&
          log.find(", 0 ingress positions") == std::string::npos) {
        ++r.with_positions;
      }
      if (log.find("recovering checkpoint") != std::string::npos) ++r.recovered_egress;
    }
    return r;
  }

  std::string dir_;
  std::unique_ptr<testing::FakeTxnBrokerProcess> txn_broker_;  // exactly-once egress tests
  bool eos_on_dev_broker_ = false;  // exactly-once egress with librdkafka on the dev broker
  std::unique_ptr<testing::DevKafkaProcess> kafka_;
  std::unique_ptr<ChildProcess> worker_;
  std::unique_ptr<ChildProcess> coordinator_;
  uint16_t admin_port_ = 0;
  uint16_t coordinator_port_ = 0;  // 0: the worker embeds its coordinator
  int starts_ = 0;
  int coordinator_starts_ = 0;
};

TEST_F(CheckpointCrashIT, ExactlyOnceStateAcrossRepeatedCrashes) {
  CommandGenerator gen(20240611);
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 1600; ++i) {
    int id = gen.Uniform(kIds);
    records.emplace_back("in", -1, std::to_string(id), gen.Tree(id, 0, expected));
  }
  StartWorker();
  ProduceWhileKilling(records, /*kills=*/4, /*seed=*/7);
  if (HasFatalFailure()) return;

  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) {
    EXPECT_EQ(got[id], n) << "id " << id << (got[id] < n ? ": increments lost" : ": counted twice");
  }
  for (const auto& [id, n] : got) {
    EXPECT_TRUE(expected.count(id)) << "unexpected id " << id;
  }
  Restarts restarts = RestoreCounts();
  EXPECT_GE(restarts.restored, 2) << "most restarts should restore a checkpoint, not start over";
  EXPECT_GE(restarts.with_positions, 2) << "crashes should hit a worker that was consuming";
  EXPECT_GT(Metric("eddy_checkpoint_completed_total"), 0u);
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// The same command trees with the egress in exactly-once mode, on the out-of-process fake
// transactional broker (eddy-fake-txn-broker; the dev broker's transactions are a stub, see
// test-infra.md), through eddy-eos-test-worker (the stock worker with the fake's producer and
// control-topic reader). Each 'I' emits "<id>" -> "<count>": a read_committed consumer must see
// every count 1..expected of every id exactly once, however the SIGKILLs fell relative to cuts,
// checkpoint completion and transaction commits.
TEST_F(CheckpointCrashIT, ExactlyOnceEgressAcrossRepeatedCrashes) {
  auto broker = testing::FakeTxnBrokerProcess::Start(dir_);
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  txn_broker_ = std::move(broker).value();
  CommandGenerator gen(20261124);
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 1200; ++i) {
    int id = gen.Uniform(kIds);
    records.emplace_back("in", -1, std::to_string(id), gen.Tree(id, 0, expected));
  }
  std::vector<TestRecord> late;  // produced around the injected crashes below
  for (int i = 0; i < 80; ++i) {
    int id = gen.Uniform(kIds);
    late.emplace_back("in", -1, std::to_string(id), gen.Tree(id, 0, expected));
  }
  int64_t expected_total = 0;
  for (const auto& [id, n] : expected) expected_total += n;
  StartWorker();
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("kill seed " + std::to_string(seed));
  ProduceWhileKilling(records, /*kills=*/4, seed);
  if (HasFatalFailure()) return;

  // SIGKILLs rarely land inside a transaction (a commit takes milliseconds), so the two cases
  // that matter are also forced: the process dies during the commit of a completed checkpoint's
  // epoch (its transaction stays open on the broker), and right after the commit took effect
  // but before the worker heard of it. Either way the producer turns fatal and the worker exits
  // 1, as on any fatal producer error, and its restart recovers from the checkpoint.
  for (eos::FakeFault fault : {eos::FakeFault::kCrash, eos::FakeFault::kCrashAfter}) {
    auto armed = testing::InjectRemoteFault(txn_broker_->target(), "", eos::FakeOp::kCommit,
                                            fault);
    ASSERT_TRUE(armed.ok() && !armed->empty()) << armed.status().ToString();
    std::vector<TestRecord> chunk(late.begin(), late.begin() + 40);
    late.erase(late.begin(), late.begin() + 40);
    ASSERT_TRUE(testing::ProduceRecords(kafka_->bootstrap(), chunk).ok());
    EXPECT_EQ(worker_->Wait(30s), 1) << "the worker should stop on the injected commit crash";
    EXPECT_NE(worker_->Log().find("injected fatal error"), std::string::npos) << worker_->Log();
    StartWorker();
  }

  // Records become visible when the checkpoint that holds them completes and commits.
  std::vector<eos::FakeRecord> committed;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto read = testing::ReadRemoteTopic(txn_broker_->target(), "out", /*read_committed=*/true);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    committed = std::move(read).value();
    if (static_cast<int64_t>(committed.size()) >= expected_total) break;
    std::this_thread::sleep_for(50ms);
  }
  // Two more checkpoints, so a duplicate committed late shows up too.
  EXPECT_TRUE(AwaitMetric("eddy_checkpoint_completed_total",
                          Metric("eddy_checkpoint_completed_total") + 2, 20s))
      << worker_->Log();
  auto read = testing::ReadRemoteTopic(txn_broker_->target(), "out", true);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  committed = std::move(read).value();

  std::map<int, std::map<int64_t, int>> seen;  // id -> count value -> times
  for (const eos::FakeRecord& r : committed) seen[std::stoi(r.key)][std::stoll(r.value)]++;
  int64_t lost = 0;
  int64_t twice = 0;
  for (const auto& [id, n] : expected) {
    for (int64_t c = 1; c <= n; ++c) {
      int times = seen[id].count(c) ? seen[id][c] : 0;
      if (times == 0) ++lost;
      if (times > 1) ++twice;
      EXPECT_EQ(times, 1) << "id " << id << " count " << c;
      if (times != 1 && lost + twice > 10) break;
    }
  }
  for (const auto& [id, values] : seen) {
    EXPECT_TRUE(expected.count(id)) << "unexpected id " << id;
    if (expected.count(id) && !values.empty()) {
      EXPECT_LE(values.rbegin()->first, expected[id]) << "id " << id << " counted past the end";
    }
  }
  EXPECT_EQ(static_cast<int64_t>(committed.size()), expected_total)
      << lost << " missing, " << twice << " duplicated";

  // The crashes did cut transactions short: aborted or open records exist that read_committed
  // hides, and restarts recovered sealed epochs from checkpoints.
  auto uncommitted = testing::ReadRemoteTopic(txn_broker_->target(), "out", false);
  ASSERT_TRUE(uncommitted.ok());
  std::cerr << "[ info     ] exactly-once egress: " << committed.size()
            << " records committed, " << uncommitted->size() - committed.size()
            << " aborted or open records hidden from read_committed\n";
  EXPECT_GT(uncommitted->size(), committed.size())
      << "the crash during a commit should have left an aborted transaction";
  Restarts restarts = RestoreCounts();
  EXPECT_GE(restarts.restored, 2) << "most restarts should restore a checkpoint, not start over";
  EXPECT_GE(restarts.with_positions, 2) << "crashes should hit a worker that was consuming";
  EXPECT_GE(restarts.recovered_egress, 2)
      << "restarts should recover the exactly-once egress from checkpoints";
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// The stock worker's exactly-once path with librdkafka's transactional producer against the dev
// broker: the call sequence works end to end (InitTransactions, one transaction per completed
// checkpoint with its marker on the control topic, recovery after a restart). The mock's
// transactions are a stub (read_committed sees everything), so this checks arrival and the
// worker's wiring, not visibility: ExactlyOnceEgressAcrossRepeatedCrashes does that on the fake.
TEST_F(CheckpointCrashIT, ExactlyOnceEgressWithLibrdkafkaOnTheDevBroker) {
  eos_on_dev_broker_ = true;
  StartWorker();
  EXPECT_NE(worker_->Log().find("exactly-once (records visible when their checkpoint completes)"),
            std::string::npos)
      << worker_->Log();
  std::map<int, int64_t> expected;
  auto produce = [&](int n) {
    std::vector<TestRecord> records;
    for (int i = 0; i < n; ++i) {
      records.emplace_back("in", -1, std::to_string(i % 5), "I");
      expected[i % 5]++;
    }
    return testing::ProduceRecords(kafka_->bootstrap(), records);
  };
  ASSERT_TRUE(produce(40).ok());
  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
  auto markers = testing::ConsumeRecords(kafka_->bootstrap(), "eddy-egress-commits", 1, 1, 3s);
  EXPECT_FALSE(markers.empty()) << "no commit marker on the control topic";
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);

  // A restart restores the last checkpoint and recovers the egress from it (the markers tell
  // which epochs committed), then goes on.
  StartWorker();
  EXPECT_NE(Log(2).find("recovering checkpoint"), std::string::npos) << Log(2);
  ASSERT_TRUE(produce(20).ok());
  got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;
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
  ASSERT_TRUE(AwaitMetric("eddy_checkpoint_declined_total", 1, 10s)) << worker_->Log();
  ASSERT_EQ(Metric("eddy_checkpoint_declined_total"), 1u);
  const uint64_t completed = Metric("eddy_checkpoint_completed_total");
  ASSERT_TRUE(AwaitMetric("eddy_checkpoint_completed_total", completed + 2, 10s))
      << worker_->Log();
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
  CrashRestoreAndExpect(expected, /*checkpoints_first=*/2);
}

// A checkpoint whose upload stalls past checkpoint.timeout is aborted by the coordinator; the
// worker's late acknowledgement changes nothing, processing goes on, later checkpoints complete,
// and a crash after that restores one of them exactly. (Test hook: EDDY_TEST_DELAY_NTH_UPLOAD
// stalls one file upload.)
TEST_F(CheckpointCrashIT, CheckpointTimingOutIsAbortedAndTheNextCompletes) {
  ::setenv("EDDY_TEST_DELAY_NTH_UPLOAD", "9:2500", 1);  // the 2nd or 3rd checkpoint stalls 2.5 s
  StartWorker({"checkpoint.timeout=1s"});
  ::unsetenv("EDDY_TEST_DELAY_NTH_UPLOAD");
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 60; ++i) {
    records.emplace_back("in", -1, std::to_string(i % 5), "I,D" + std::to_string(i % 4) + "(I)");
    expected[i % 5]++;
    expected[i % 4]++;
  }
  ASSERT_TRUE(testing::ProduceRecords(kafka_->bootstrap(), records).ok());
  ASSERT_TRUE(AwaitMetric("eddy_checkpoint_aborted_total", 1, 20s)) << worker_->Log();
  EXPECT_NE(worker_->Log().find("timed out after"), std::string::npos);
  const uint64_t latest_after_abort = LatestId();
  const uint64_t completed = Metric("eddy_checkpoint_completed_total");
  ASSERT_TRUE(AwaitMetric("eddy_checkpoint_completed_total", completed + 2, 20s))
      << worker_->Log();
  EXPECT_GT(LatestId(), latest_after_abort);
  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) EXPECT_EQ(got[id], n) << "id " << id;

  CrashRestoreAndExpect(expected, /*checkpoints_first=*/1);
}

// An external eddy-coordinator is SIGKILLed while checkpoints run (possibly mid-checkpoint):
// the worker keeps processing without it, the last completed checkpoint survives intact, the
// restarted coordinator completes newer ones, and a worker crash after that still recovers
// exactly once.
TEST_F(CheckpointCrashIT, CoordinatorKilledDuringCheckpointing) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("kill seed " + std::to_string(seed));
  std::mt19937 kill_rng(seed);
  CommandGenerator gen(20241124);
  std::map<int, int64_t> expected;
  std::vector<TestRecord> records;
  for (int i = 0; i < 1200; ++i) {
    int id = gen.Uniform(kIds);
    records.emplace_back("in", -1, std::to_string(id), gen.Tree(id, 0, expected));
  }
  StartCoordinator();
  StartWorker();
  const std::string ingress = "eddy_ingress_records_total{ingress=\"verify/in\"}";
  // ~200 records/s for ~6 s once the worker consumes (the group join takes a few seconds), so
  // records keep arriving across both kills.
  Status produce_status;
  std::thread producer([&] {
    for (size_t at = 0; at < records.size() && produce_status.ok(); at += 20) {
      std::vector<TestRecord> chunk(records.begin() + at, records.begin() + at + 20);
      produce_status = testing::ProduceRecords(kafka_->bootstrap(), chunk);
      auto join = std::chrono::steady_clock::now() + 15s;
      while (at == 0 && Metric(ingress) == 0 && std::chrono::steady_clock::now() < join) {
        std::this_thread::sleep_for(5ms);
      }
      std::this_thread::sleep_for(100ms);
    }
  });
  auto wait_for = [&](const std::function<bool()>& done, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return done();
  };

  // Two checkpoints completed while consuming, then kill the coordinator 0-9 ms after it
  // triggers one: a checkpoint takes a few ms here, so the kill lands during the cut, upload,
  // ack, manifest or LATEST write, or just after.
  bool consuming = wait_for([&] { return Metric(ingress) > 0; }, 15s);
  uint64_t completed = Metric("eddy_checkpoint_completed_total");
  bool two_completed = consuming && wait_for([&] {
    return Metric("eddy_checkpoint_completed_total") >= completed + 2;
  }, 10s);
  auto in_flight = [&] {
    std::string log = coordinator_->Log();
    size_t triggered = log.rfind("triggered checkpoint ");
    if (triggered == std::string::npos) return false;
    return log.find("completed checkpoint ", triggered) == std::string::npos &&
           log.find("aborted checkpoint ", triggered) == std::string::npos;
  };
  if (two_completed) {
    // Wait for the end of a checkpoint first, so the next trigger is seen fresh.
    wait_for([&] { return !in_flight(); }, 2s);
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!in_flight() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(200us);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(kill_rng() % 9000));
  }
  EXPECT_EQ(coordinator_->Stop(SIGKILL, 5s), 128 + SIGKILL);
  {
    std::string log = coordinator_->Log();
    std::cerr << "[ info     ] coordinator killed with a checkpoint "
              << (in_flight() ? "in flight" : "not in flight") << "; its log ends with:\n"
              << log.substr(log.size() > 300 ? log.size() - 300 : 0);
  }
  if (!two_completed) producer.join();
  ASSERT_TRUE(consuming) << "the worker never consumed";
  ASSERT_TRUE(two_completed) << "no two checkpoints completed with the external coordinator";

  // The coordinator is gone: LATEST is final, and names a checkpoint at least as new as the last
  // one the worker heard of as completed, whose manifest is still there.
  const uint64_t known_completed = Metric("eddy_checkpoint_last_completed_id");
  const uint64_t latest = LatestId();
  EXPECT_GE(latest, known_completed);
  EXPECT_GE(known_completed, 2u);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/checkpoints/chk-" + std::to_string(latest) +
                                      "/manifest.pb"))
      << "LATEST names checkpoint " << latest;

  // Processing goes on without the coordinator.
  const uint64_t processed_at_kill = Metric(ingress);
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(worker_->Running()) << worker_->Log();
  EXPECT_GT(Metric(ingress), processed_at_kill) << "the worker stopped processing";

  // Restarted on the same port, it restores that checkpoint (verified: no skips), the worker
  // reconnects, and a newer checkpoint completes.
  StartCoordinator();
  if (HasFatalFailure()) producer.join();
  ASSERT_FALSE(HasFatalFailure());
  std::string restarted = CoordinatorLog(2);
  EXPECT_NE(restarted.find("restore point " + std::to_string(latest) + ","), std::string::npos)
      << restarted;
  EXPECT_EQ(restarted.find("skipped checkpoint"), std::string::npos) << restarted;
  bool newer = wait_for([&] {
    return Metric("eddy_checkpoint_last_completed_id") > latest;
  }, 15s);
  EXPECT_TRUE(newer) << "no checkpoint completed after the coordinator restart";
  EXPECT_GT(LatestId(), latest);

  // Then the worker crashes too, at a random point, and restarts against the same coordinator.
  std::this_thread::sleep_for(std::chrono::milliseconds(kill_rng() % 400));
  worker_->Stop(SIGKILL, 5s);
  StartWorker();
  producer.join();
  ASSERT_TRUE(produce_status.ok()) << produce_status.ToString();
  ASSERT_TRUE(worker_->Running()) << worker_->Log();
  EXPECT_NE(Log(2).find("restored checkpoint"), std::string::npos);

  std::map<int, int64_t> got = AwaitCounts(expected);
  for (const auto& [id, n] : expected) {
    EXPECT_EQ(got[id], n) << "id " << id << (got[id] < n ? ": increments lost" : ": counted twice");
  }
  for (const auto& [id, n] : got) {
    EXPECT_TRUE(expected.count(id)) << "unexpected id " << id;
  }
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
  EXPECT_EQ(coordinator_->Stop(SIGTERM, 10s), 0);
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
