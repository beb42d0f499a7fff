// The same C++ functions (examples/cpp) deployed every way Eddy offers, end to end through the
// eddy-worker process: embedded from a shared library, mixed (embedded counter messaging a remote
// echo over HTTP and back), remote over gRPC, remote over a unix socket (co-located sidecar) and
// remote over HTTPS. Every style must produce the same, exactly expected, egress results.
//
// Input: the generator ingress, 200 records over 10 keys, to example/counter. Per key k the
// counter ends with seen=20, sum=20k+1900, echoes=20 (replies from example/echo) and timer=20 (the
// last uncancelled delayed message); it writes its state to the Kafka egress after every echo or
// timer, so the egress topic shows every step and no record may ever exceed the final counts.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include "fakes/dev_kafka.h"
#include "fakes/process.h"
#include "fakes/test_certs.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;

constexpr int kKeys = 10;
constexpr int kRecords = 200;

std::string Expected(int key) {
  int per_key = kRecords / kKeys;
  return "seen=" + std::to_string(per_key) + " sum=" + std::to_string(per_key * key + 1900) +
         " echoes=" + std::to_string(per_key) + " timer=" + std::to_string(per_key);
}

std::string ExampleLibrary() {
  return std::string(std::getenv("EDDY_BUILD_DIR")) + "/lib/libeddy_example_functions.so";
}

class DeploymentStylesIT : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("eddy-styles-it");
    auto kafka = testing::DevKafkaProcess::Start({"counts"});
    ASSERT_TRUE(kafka.ok()) << kafka.status().ToString();
    kafka_ = std::move(kafka).value();
    admin_port_ = testing::FreeLoopbackPort();
  }

  void TearDown() override {
    if (HasFailure() && worker_) std::cerr << "---- worker log ----\n" << worker_->Log();
    if (HasFailure() && server_) std::cerr << "---- function server log ----\n" << server_->Log();
    worker_.reset();
    server_.reset();
    kafka_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts eddy-function-server with `args` and waits for its "ready" line.
  void StartFunctionServer(std::vector<std::string> args) {
    args.insert(args.begin(), testing::BuildBinary("eddy-function-server"));
    auto server = ChildProcess::Spawn(args, dir_ + "/functions.log");
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::make_unique<ChildProcess>(std::move(server).value());
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (server_->Log().find("ready") == std::string::npos) {
      ASSERT_TRUE(server_->Running()) << server_->Log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << server_->Log();
      std::this_thread::sleep_for(10ms);
    }
  }

  // `endpoints`: the documents binding example/* (or parts of it).
  void RunAndCheck(const std::string& endpoints, const std::string& binary = "eddy-worker") {
    std::string module = dir_ + "/module.yaml";
    std::ofstream(module) << endpoints
                          << "---\n"
                             "kind: io.eddy.generator.v1/ingress\n"
                             "spec:\n"
                             "  id: example/gen\n"
                             "  targets: [example/counter]\n"
                             "  keys: " << kKeys << "\n"
                             "  count: " << kRecords << "\n"
                             "---\n"
                             "kind: io.statefun.kafka.v1/egress\n"
                             "spec:\n"
                             "  id: example/counts\n"
                             "  address: " << kafka_->bootstrap() << "\n";
    auto worker = testing::StartReadyWorker(module, dir_ + "/state", admin_port_,
                                            {"commit_interval=200ms", "shards=2"},
                                            dir_ + "/worker.log", 20s, binary);
    ASSERT_TRUE(worker.ok()) << worker.status().ToString();
    worker_ = std::make_unique<ChildProcess>(std::move(worker).value());

    std::map<std::string, std::string> final_by_key;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    std::vector<testing::TestRecord> records;
    while (std::chrono::steady_clock::now() < deadline) {
      records = testing::ConsumeRecords(kafka_->bootstrap(), "counts", 1, 100000, 500ms);
      final_by_key.clear();
      for (const auto& r : records) {
        if (r.value == Expected(std::stoi(r.key.value_or("-1")))) final_by_key[*r.key] = r.value;
      }
      if (final_by_key.size() == static_cast<size_t>(kKeys)) break;
    }
    ASSERT_EQ(final_by_key.size(), static_cast<size_t>(kKeys))
        << "not every key reached its final state; " << records.size() << " records";
    // Nothing counted twice: every record's counts stay within the final ones.
    for (const auto& r : records) {
      int seen = -1, echoes = -1, timer = -1;
      long long sum = -1;
      ASSERT_EQ(std::sscanf(r.value.c_str(), "seen=%d sum=%lld echoes=%d timer=%d", &seen, &sum,
                            &echoes, &timer),
                4)
          << r.value;
      EXPECT_LE(seen, kRecords / kKeys) << r.value;
      EXPECT_LE(echoes, seen) << r.value;
      EXPECT_LE(timer, seen) << r.value;
    }
    EXPECT_EQ(worker_->Stop(SIGTERM, 20s), 0);
  }

  std::string dir_;
  std::unique_ptr<testing::DevKafkaProcess> kafka_;
  std::unique_ptr<ChildProcess> server_;
  std::unique_ptr<ChildProcess> worker_;
  uint16_t admin_port_ = 0;
};

TEST_F(DeploymentStylesIT, Embedded) {
  RunAndCheck("kind: io.eddy.embedded.v1/module\nspec:\n  library: " + ExampleLibrary() +
              "\n  functions: [example/*]\n");
}

TEST_F(DeploymentStylesIT, LinkedIntoACustomWorkerBinary) {
  // eddy-example-worker has the example functions compiled in (EDDY_LINKED_MODULE): no library.
  RunAndCheck("kind: io.eddy.embedded.v1/module\nspec:\n  functions: [example/*]\n",
              "eddy-example-worker");
}

TEST_F(DeploymentStylesIT, MixedEmbeddedAndRemoteHttp) {
  uint16_t port = testing::FreeLoopbackPort();
  StartFunctionServer({"--http", std::to_string(port)});
  RunAndCheck("kind: io.eddy.embedded.v1/module\nspec:\n  library: " + ExampleLibrary() +
              "\n  functions: [example/counter]\n---\n"
              "kind: io.statefun.endpoints.v2/http\nspec:\n  functions: example/echo\n"
              "  urlPathTemplate: http://127.0.0.1:" + std::to_string(port) +
              "/{function.name}\n");
}

TEST_F(DeploymentStylesIT, RemoteGrpc) {
  uint16_t port = testing::FreeLoopbackPort();
  StartFunctionServer({"--grpc", std::to_string(port)});
  RunAndCheck("kind: io.eddy.endpoints.v1/grpc\nspec:\n  functions: example/*\n"
              "  target: 127.0.0.1:" + std::to_string(port) + "\n");
}

TEST_F(DeploymentStylesIT, CoLocatedUnixSocket) {
  std::string socket = dir_ + "/functions.sock";
  StartFunctionServer({"--unix", socket});
  RunAndCheck("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: example/*\n"
              "  urlPathTemplate: http+unix://" + socket + "/{function.name}\n");
}

TEST_F(DeploymentStylesIT, RemoteHttpsWithMutualTls) {
  auto certs = testing::GenerateTestCerts();
  ASSERT_TRUE(certs.ok()) << certs.status().ToString();
  uint16_t port = testing::FreeLoopbackPort();
  StartFunctionServer({"--http", std::to_string(port), "--tls-cert", certs->server_cert,
                       "--tls-key", certs->server_key, "--tls-client-ca", certs->ca_cert});
  RunAndCheck("kind: io.statefun.endpoints.v2/http\nspec:\n  functions: example/*\n"
              "  urlPathTemplate: https://127.0.0.1:" + std::to_string(port) +
              "/{function.name}\n  transport:\n    trust_cacerts: " + certs->ca_cert +
              "\n    client_cert: " + certs->client_cert + "\n    client_key: " +
              certs->client_key + "\n");
}

TEST_F(DeploymentStylesIT, ALibraryThatCannotLoadFailsValidationAndStartup) {
  std::string module = dir_ + "/bad.yaml";
  std::ofstream(module) << "kind: io.eddy.embedded.v1/module\nspec:\n  library: " << dir_
                        << "/missing.so\n  functions: [example/*]\n";
  auto validate = ChildProcess::Spawn({testing::BuildBinary("eddy-worker"), "--validate", module},
                                      dir_ + "/validate.log");
  ASSERT_TRUE(validate.ok());
  EXPECT_EQ(validate->Wait(10s), 3);  // invalid module (docs/operations.md)
  EXPECT_NE(validate->Log().find("bad.yaml: document 1 (line 1): cannot load library " + dir_ +
                                 "/missing.so"),
            std::string::npos)
      << validate->Log();

  auto worker = ChildProcess::Spawn({testing::BuildBinary("eddy-worker"), "--module", module,
                                     "--set", "state_dir=" + dir_ + "/state", "--set",
                                     "admin_port=" + std::to_string(admin_port_)},
                                    dir_ + "/worker.log");
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(worker->Wait(10s), 1);  // startup failed
  EXPECT_NE(worker->Log().find("cannot load library"), std::string::npos) << worker->Log();
}

}  // namespace
}  // namespace eddy
