// End-to-end tests of the eddy-worker process over real sockets: the dev Kafka broker
// (eddy-dev-kafka, a separate process), the worker (a separate process), and a fake remote
// function endpoint in this process speaking StateFun's protocol over HTTP on loopback.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <set>
#include <thread>

#include "fakes/dev_kafka.h"
#include "fakes/function_sdk.h"
#include "fakes/function_server.h"
#include "fakes/process.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using fakes::FunctionContext;
using fakes::Reply;
using testing::ChildProcess;
using testing::TestRecord;

const std::vector<fakes::StateSpec> kCounterState = {{"count", std::string(fakes::kIntType)}};

class WorkerIT : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("eddy-worker-it");
    ASSERT_FALSE(dir_.empty());
    auto kafka = testing::DevKafkaProcess::Start({"in:2", "out:1", "dlq:1"});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    auto functions = fakes::FakeFunctionServer::Start();
    ASSERT_TRUE(functions.ok()) << functions.status().ToString();
    functions_ = std::move(functions).value();
    admin_port_ = testing::FreeLoopbackPort();
    RegisterDefaultFunctions();
  }

  void TearDown() override {
    if (worker_ && worker_->Running()) worker_->Stop(SIGKILL, 10s);
    if (HasFailure() && worker_) std::cerr << "---- worker log ----\n" << worker_->Log();
    worker_.reset();
    if (functions_) functions_->Stop();
    kafka_.reset();
    std::filesystem::remove_all(dir_);
  }

  // test/counter: count += 1 per message, then tells test/greeter "<count>". Ids with special
  // meaning exercise failure paths.
  void RegisterDefaultFunctions() {
    auto counter = fakes::StatefulFunction(kCounterState, [](FunctionContext& ctx,
                                                             const fakes::ToFunction::Invocation&) {
      int32_t count = ctx.GetInt("count").value_or(0) + 1;
      ctx.SetInt("count", count);
      const std::string& id = ctx.self().id();
      if (id == "lost") {
        ctx.Send(fakes::MakeAddress("nobody", "home", id), fakes::IntValue(count));
      } else if (id == "later") {
        ctx.SendAfter(1500ms, fakes::MakeAddress("test", "greeter", id), fakes::IntValue(99));
      } else {
        ctx.Send(fakes::MakeAddress("test", "greeter", id), fakes::IntValue(count));
      }
    });
    functions_->Register("test/counter", [counter](const fakes::ToFunction& req) -> Reply {
      const std::string& id = req.invocation().target().id();
      if (id == "bad") return Reply::Raw(200, "application/octet-stream", "\xff\xfe garbage");
      if (id == "big") return Reply::Raw(200, "application/octet-stream", std::string(8192, 'x'));
      return counter(req);
    });
    functions_->Register(
        "test/greeter", fakes::StatefulFunction({}, [](FunctionContext& ctx,
                                                       const fakes::ToFunction::Invocation& inv) {
          auto n = fakes::DecodeInt(inv.argument());
          ctx.EgressKafka("test", "out", "out", ctx.self().id(),
                          ctx.self().id() + ":" + std::to_string(n.value_or(-1)));
        }));
  }

  std::string WriteModule(const std::string& transport = "    call: 3s\n") {
    std::string path = dir_ + "/module.yaml";
    std::ofstream out(path);
    out << "kind: io.statefun.endpoints.v2/http\n"
           "spec:\n"
           "  functions: test/*\n"
           "  urlPathTemplate: " << functions_->UrlPathTemplate() << "\n"
           "  maxNumBatchRequests: 100\n"
           "  transport:\n" << transport <<
           "---\n"
           "kind: io.statefun.kafka.v1/ingress\n"
           "spec:\n"
           "  id: test/in\n"
           "  address: " << kafka_->bootstrap() << "\n"
           "  consumerGroupId: eddy-it\n"
           "  startupPosition:\n"
           "    type: group-offsets\n"
           "  autoOffsetResetPosition: earliest\n"
           "  topics:\n"
           "    - topic: in\n"
           "      valueType: test/raw\n"
           "      targets:\n"
           "        - test/counter\n"
           "  properties:\n"
           "    - session.timeout.ms: 6000\n"
           "---\n"
           "kind: io.statefun.kafka.v1/egress\n"
           "spec:\n"
           "  id: test/out\n"
           "  address: " << kafka_->bootstrap() << "\n"
           "  deliverySemantic:\n"
           "    type: at-least-once\n";
    return path;
  }

  void StartWorker(const std::string& module, std::vector<std::string> extra = {}) {
    std::vector<std::string> overrides = {"dead_letter_topic=dlq", "commit_interval=200ms",
                                          "shards=2"};
    overrides.insert(overrides.end(), extra.begin(), extra.end());
    auto worker = testing::StartReadyWorker(module, dir_ + "/state", admin_port_, overrides,
                                            dir_ + "/worker-" + std::to_string(++starts_) + ".log");
    ASSERT_TRUE(worker.ok()) << worker.status().ToString();
    worker_ = std::make_unique<ChildProcess>(std::move(worker).value());
  }

  void Produce(std::vector<std::pair<std::optional<std::string>, std::string>> records) {
    std::vector<TestRecord> out;
    for (auto& [key, value] : records) {
      TestRecord r;
      r.topic = "in";
      r.key = key;
      r.value = value;
      out.push_back(r);
    }
    Status st = testing::ProduceRecords(kafka_->bootstrap(), out);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  std::vector<std::string> Values(const std::vector<TestRecord>& records) {
    std::vector<std::string> v;
    for (auto& r : records) v.push_back(r.value);
    return v;
  }

  std::vector<TestRecord> ConsumeOut(size_t n, std::chrono::milliseconds timeout = 20s) {
    return testing::ConsumeRecords(kafka_->bootstrap(), "out", 1, n, timeout);
  }

  std::string dir_;
  std::unique_ptr<testing::DevKafkaProcess> kafka_;
  std::unique_ptr<fakes::FakeFunctionServer> functions_;
  std::unique_ptr<ChildProcess> worker_;
  uint16_t admin_port_ = 0;
  int starts_ = 0;
};

TEST_F(WorkerIT, StateMessagesAndEgressEndToEnd) {
  StartWorker(WriteModule());
  Produce({{"alice", "x"}, {"bob", "x"}, {"alice", "x"}});
  auto out = ConsumeOut(3);
  auto values = Values(out);
  ASSERT_EQ(values.size(), 3u) << "egress records missing";
  std::multiset<std::string> got(values.begin(), values.end());
  EXPECT_EQ(got, (std::multiset<std::string>{"alice:1", "alice:2", "bob:1"}));
  for (auto& r : out) EXPECT_EQ(r.key, r.value.substr(0, r.value.find(':')));
  // The first request per type is answered with IncompleteInvocationContext, then resent.
  auto first = functions_->RequestsFor("test/counter").front();
  EXPECT_TRUE(first.states.empty());
  std::string metrics = testing::HttpGet(admin_port_, "/metrics");
  EXPECT_NE(metrics.find("eddy_function_in_total{namespace=\"test\",type=\"counter\"} 3"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0) << "SIGTERM must drain and exit 0";
}

TEST_F(WorkerIT, BatchesMessagesForABusyAddress) {
  auto counter = fakes::StatefulFunction(kCounterState, [](FunctionContext& ctx, const auto&) {
    int32_t count = ctx.GetInt("count").value_or(0) + 1;
    ctx.SetInt("count", count);
    ctx.Send(fakes::MakeAddress("test", "greeter", ctx.self().id()), fakes::IntValue(count));
  });
  functions_->Register("test/counter", [counter](const fakes::ToFunction& req) {
    return counter(req).WithDelay(100ms);  // slow function: messages pile up behind it
  });
  StartWorker(WriteModule());
  std::vector<std::pair<std::optional<std::string>, std::string>> records(60, {"hot", "x"});
  Produce(records);
  auto out = ConsumeOut(60, 30s);
  auto values = Values(out);
  ASSERT_EQ(values.size(), 60u);
  EXPECT_NE(std::find(values.begin(), values.end(), "hot:60"), values.end());
  auto requests = functions_->RequestsFor("test/counter");
  size_t largest = 0;
  for (auto& r : requests) largest = std::max(largest, r.num_invocations);
  EXPECT_LT(requests.size(), 30u) << "messages were not batched";
  EXPECT_GT(largest, 1u);
}

// Garbage and oversized replies, a message to an unknown function type, and a record without a
// key all end in the dead-letter topic; the worker keeps running and other keys flow.
TEST_F(WorkerIT, BadRepliesUnknownTypesAndNullKeysAreDeadLettered) {
  StartWorker(WriteModule("    call: 1s\n    payload_max_bytes: 4096\n"),
              {"failure_policy=dead-letter"});
  Produce({{std::nullopt, "no key"}, {"bad", "x"}, {"big", "x"}, {"lost", "x"}, {"ok", "x"}});
  auto out = ConsumeOut(1);
  ASSERT_EQ(Values(out), std::vector<std::string>{"ok:1"});
  auto dlq = testing::ConsumeRecords(kafka_->bootstrap(), "dlq", 1, 4, 20s);
  std::map<std::string, std::string> reasons;  // key -> reason
  for (auto& r : dlq) {
    for (auto& [k, v] : r.headers) {
      if (k == "eddy-reason") reasons[r.key.value_or("<null>")] = v;
    }
  }
  ASSERT_EQ(dlq.size(), 4u) << ::testing::PrintToString(reasons);
  EXPECT_EQ(reasons["<null>"], "null-key");
  EXPECT_NE(reasons["bad"].find("function-failed"), std::string::npos);
  EXPECT_NE(reasons["big"].find("function-failed"), std::string::npos);
  EXPECT_EQ(reasons["lost"], "unknown-function-type");
  EXPECT_TRUE(worker_->Running());
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

// Transient failures are retried inside the call budget; a call that times out is retried
// later (failure_policy retry) and nothing is lost.
TEST_F(WorkerIT, ErrorsAndTimeoutsAreRetriedWithoutLoss) {
  auto counter = fakes::StatefulFunction(kCounterState, [](FunctionContext& ctx, const auto&) {
    int32_t count = ctx.GetInt("count").value_or(0) + 1;
    ctx.SetInt("count", count);
    ctx.Send(fakes::MakeAddress("test", "greeter", ctx.self().id()), fakes::IntValue(count));
  });
  auto calls = std::make_shared<std::atomic<int>>(0);
  functions_->Register("test/counter", [counter, calls](const fakes::ToFunction& req) -> Reply {
    int n = (*calls)++;
    if (n < 2) return Reply::Raw(500, "text/plain", "try again");
    if (n == 2) return counter(req).WithDelay(1500ms);  // beyond the 700 ms call budget
    return counter(req);
  });
  StartWorker(WriteModule("    call: 700ms\n"), {"retry_backoff_max=200ms"});
  Produce({{"k", "x"}});
  auto out = ConsumeOut(1, 20s);
  EXPECT_EQ(Values(out), std::vector<std::string>{"k:1"});
  std::string metrics = testing::HttpGet(admin_port_, "/metrics");
  EXPECT_NE(metrics.find("eddy_function_remote_invocation_failures_total{namespace=\"test\","
                         "type=\"counter\"} 1"),
            std::string::npos)
      << metrics;
}

// SIGTERM drains and commits; a restart with the same state directory continues the counts
// (state kept, committed records not re-read) and fires a delayed message scheduled before.
TEST_F(WorkerIT, RestartKeepsStateOffsetsAndDelayedMessages) {
  std::string module = WriteModule();
  StartWorker(module);
  Produce({{"a", "x"}, {"a", "x"}, {"later", "x"}});
  ASSERT_EQ(ConsumeOut(2).size(), 2u);
  ASSERT_TRUE(functions_->WaitForRequests("test/counter", 3, 10s));
  std::this_thread::sleep_for(200ms);  // the "later" reply is applied
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
  auto committed = testing::CommittedOffsets(kafka_->bootstrap(), "eddy-it", "in", 2);
  ASSERT_TRUE(committed.ok());
  int64_t total = 0;
  for (auto& [p, off] : committed.value()) total += std::max<int64_t>(off, 0);
  EXPECT_EQ(total, 3) << "all three records are processed, so all are committed";

  StartWorker(module);
  Produce({{"a", "x"}});
  auto out = ConsumeOut(4, 20s);
  auto values = Values(out);
  ASSERT_EQ(values.size(), 4u) << ::testing::PrintToString(values);
  std::multiset<std::string> got(values.begin(), values.end());
  EXPECT_EQ(got, (std::multiset<std::string>{"a:1", "a:2", "a:3", "later:99"}));
  EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
}

TEST_F(WorkerIT, ValidateAndUsageExitCodes) {
  std::string module = WriteModule();
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuildBinary("eddy-worker"));
    auto p = ChildProcess::Spawn(args, dir_ + "/cli.log");
    EXPECT_TRUE(p.ok());
    int code = p.value().Wait(10s);
    return std::make_pair(code, p.value().Log());
  };
  EXPECT_EQ(run({"--validate", module}).first, 0);
  std::string bad = dir_ + "/bad.yaml";
  std::ofstream(bad) << "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: test/*\n";
  auto [code, log] = run({"--validate", bad});
  EXPECT_EQ(code, 3);
  EXPECT_NE(log.find("bad.yaml"), std::string::npos) << log;
  EXPECT_NE(log.find("urlPathTemplate"), std::string::npos) << log;
  EXPECT_EQ(run({"--bogus"}).first, 2);
  EXPECT_EQ(run({"--module", module, "--set", "max_parallelism=0"}).first, 3);
  EXPECT_EQ(run({"--version"}).first, 0);
}

}  // namespace
}  // namespace eddy
