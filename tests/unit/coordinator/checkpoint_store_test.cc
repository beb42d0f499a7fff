// Storage-layout helpers of the coordinator: checksums, key parsing, description checks and the
// retention plan on its own.
#include "coordinator/checkpoint_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace eddy::coordinator {
namespace {

TEST(CheckpointStoreTest, Sha256MatchesKnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CheckpointStoreTest, CheckpointIdOfKey) {
  EXPECT_EQ(CheckpointIdOfKey("chk-12/manifest.pb"), 12u);
  EXPECT_EQ(CheckpointIdOfKey("chk-1/w0/x"), 1u);
  EXPECT_EQ(CheckpointIdOfKey("chk-012/x"), std::nullopt);
  EXPECT_EQ(CheckpointIdOfKey("chk-/x"), std::nullopt);
  EXPECT_EQ(CheckpointIdOfKey("chk-1x/x"), std::nullopt);
  EXPECT_EQ(CheckpointIdOfKey("chk-5"), std::nullopt);
  EXPECT_EQ(CheckpointIdOfKey("sst/chk-5/x"), std::nullopt);
  EXPECT_EQ(CheckpointIdOfKey("chk-99999999999999999999/x"), std::nullopt);
  EXPECT_EQ(ManifestKey(7), "chk-7/manifest.pb");
}

TEST(CheckpointStoreTest, DeterministicEncodingIsStableAcrossMapOrder) {
  v1::SnapshotDescription a, b;
  (*a.mutable_metadata())["x"] = "1";
  (*a.mutable_metadata())["y"] = "2";
  (*b.mutable_metadata())["y"] = "2";
  (*b.mutable_metadata())["x"] = "1";
  EXPECT_EQ(SerializeDeterministic(a), SerializeDeterministic(b));
}

TEST(CheckpointStoreTest, IsDataProblemSeparatesCorruptionFromOutages) {
  EXPECT_TRUE(IsDataProblem(NotFound("x")));
  EXPECT_TRUE(IsDataProblem(DataLoss("x")));
  EXPECT_FALSE(IsDataProblem(Unavailable("x")));
  EXPECT_FALSE(IsDataProblem(DeadlineExceeded("x")));
}

v1::Manifest ManifestWith(uint64_t id, std::vector<std::string> files) {
  v1::Manifest m;
  m.set_checkpoint_id(id);
  auto* s = m.add_snapshots();
  s->set_worker_id("w");
  for (auto& f : files) s->add_files()->set_key(f);
  return m;
}

TEST(CheckpointStoreTest, RetentionPlanListsDroppedManifestsFirst) {
  v1::Manifest m5 = ManifestWith(5, {"sst/db/3-a.sst", "chk-4/w/shared-small-file"});
  std::vector<storage::ObjectInfo> objects;
  for (const char* k : {"LATEST", "chk-3/manifest.pb", "chk-3/w/a", "chk-4/manifest.pb",
                        "chk-4/w/shared-small-file", "chk-4/w/b", "chk-5/manifest.pb",
                        "sst/db/2-old.sst", "sst/db/3-a.sst", "sst/db/4-new.sst", "x/y"}) {
    objects.push_back({k, 1});
  }
  auto plan = PlanRetention(objects, {&m5}, 5);
  EXPECT_EQ(plan, (std::vector<std::string>{"chk-3/manifest.pb", "chk-4/manifest.pb", "chk-3/w/a",
                                            "chk-4/w/b", "sst/db/2-old.sst"}));
}

}  // namespace
}  // namespace eddy::coordinator
