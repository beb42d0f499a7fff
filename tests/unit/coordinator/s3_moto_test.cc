// The coordinator over S3 (moto_server in SigV4 auth mode): a full cycle, retention and a
// restart that recovers from the bucket alone. Skipped, with the reason, without moto_server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/coordinator/checkpoint_coordinator.h"
#include "fakes/moto_server.h"
#include "unit/coordinator/coordinator_test_util.h"

namespace eddy::coordinator {
namespace {

using namespace std::chrono_literals;
using eddy::testing::MotoServer;

TEST(CoordinatorS3Test, CheckpointsRetentionAndRecoveryOnS3) {
  if (MotoServer::FindBinary().empty()) {
    GTEST_SKIP() << "moto_server is not on PATH (it comes with the machine image's Python and "
                    "cannot be installed from here)";
  }
  auto moto = MotoServer::Start("eddy-coord-test");
  ASSERT_TRUE(moto.ok()) << moto.status().ToString();
  storage::StorageConfig sc;
  sc.uri = "s3://" + (*moto)->bucket() + "/job1";
  sc.endpoint = (*moto)->endpoint();
  sc.access_key_id = (*moto)->access_key_id();
  sc.secret_access_key = (*moto)->secret_access_key();
  sc.max_attempts = 2;
  sc.retry_base_delay = 5ms;
  auto open = [&] {
    auto s = storage::OpenObjectStore(sc);
    EDDY_CHECK(s.ok());
    return std::move(s).value();
  };
  auto view = open();

  CoordinatorOptions o;
  o.max_parallelism = 8;
  o.checkpoint_interval = 1000ms;
  o.retain = 1;
  ManualClock clock;
  {
    auto c = CheckpointCoordinator::Create(o, open(), &clock);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    auto session = std::make_shared<testing::FakeSession>();
    SessionId sid = (*c)->OpenSession(session);
    ASSERT_TRUE((*c)->HandleMessage(sid, testing::RegisterMsg("w0")).ok());
    auto assignment = session->Of(v1::CoordinatorMessage::kAssignment).at(0).assignment();
    for (uint64_t id = 1; id <= 2; ++id) {
      clock.Advance(1000ms);
      (*c)->Poll();
      ASSERT_EQ((*c)->status().in_flight_checkpoint, id);
      auto snap = testing::UploadSnapshot(*view, "w0", id, assignment, {id});
      ASSERT_TRUE((*c)->HandleMessage(sid, testing::AckMsg(id, snap)).ok());
      ASSERT_EQ((*c)->status().last_completed_checkpoint, id) << (*c)->status().last_abort_reason;
    }
  }
  std::vector<std::string> expected = {"LATEST", "chk-2/manifest.pb", "chk-2/w0/snapshot.pb",
                                       testing::SstKey("w0", 2)};
  EXPECT_EQ(testing::Keys(*view), expected);

  auto c = CheckpointCoordinator::Create(o, open(), &clock);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->status().restored_from, 2u);
  EXPECT_EQ((*c)->status().next_checkpoint_id, 3u);
}

}  // namespace
}  // namespace eddy::coordinator
