// The coordinator core without sockets: fake sessions, a manual clock, a folder store (with
// switchable fault injection). Covers the checkpoint cycle, its failure modes, recovery,
// retention and protocol errors.
#include "eddy/coordinator/checkpoint_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "unit/coordinator/coordinator_test_util.h"

namespace eddy::coordinator {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::AckMsg;
using testing::DeclineMsg;
using testing::FakeSession;
using testing::Keys;
using testing::OpenFolder;
using testing::RegisterMsg;
using testing::SwitchableStore;
using testing::TempDir;
using testing::UploadSnapshot;
using Kind = v1::CoordinatorMessage::KindCase;

struct Worker {
  std::string id;
  std::shared_ptr<FakeSession> session;
  SessionId sid = 0;

  v1::Assignment assignment() {
    auto a = session->Of(Kind::kAssignment);
    EDDY_CHECK(!a.empty());
    return a.back().assignment();
  }
  std::vector<uint64_t> triggers() {
    std::vector<uint64_t> ids;
    for (auto& m : session->Of(Kind::kTrigger)) ids.push_back(m.trigger().checkpoint_id());
    return ids;
  }
  std::vector<uint64_t> completes() {
    std::vector<uint64_t> ids;
    for (auto& m : session->Of(Kind::kComplete)) ids.push_back(m.complete().checkpoint_id());
    return ids;
  }
  std::vector<v1::Abort> aborts() {
    std::vector<v1::Abort> out;
    for (auto& m : session->Of(Kind::kAbort)) out.push_back(m.abort());
    return out;
  }
  std::vector<std::string> rejections() {
    std::vector<std::string> out;
    for (auto& m : session->Of(Kind::kRejected)) out.push_back(m.rejected().reason());
    return out;
  }
};

class CoordinatorCoreTest : public ::testing::Test {
 protected:
  CoordinatorOptions Options(uint32_t workers = 1) {
    CoordinatorOptions o;
    o.expected_workers = workers;
    o.max_parallelism = 16;
    o.checkpoint_interval = 1000ms;
    o.checkpoint_timeout = 5000ms;
    o.heartbeat_timeout = 60000ms;
    o.retain = 2;
    return o;
  }

  std::unique_ptr<CheckpointCoordinator> Make(const CoordinatorOptions& o,
                                              storage::ObjectStorePtr store = nullptr) {
    auto c = CheckpointCoordinator::Create(o, store ? std::move(store) : OpenFolder(dir_.uri()),
                                           &clock_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  Worker Join(CheckpointCoordinator& c, const std::string& id) {
    Worker w{id, std::make_shared<FakeSession>()};
    w.sid = c.OpenSession(w.session);
    EXPECT_TRUE(c.HandleMessage(w.sid, RegisterMsg(id)).ok());
    return w;
  }

  void Tick(CheckpointCoordinator& c, std::chrono::milliseconds d) {
    clock_.Advance(d);
    c.Poll();
  }

  // Waits one interval, expects a trigger on every worker, acks from all; returns the id.
  uint64_t RunCheckpoint(CheckpointCoordinator& c, std::vector<Worker*> workers,
                         std::vector<uint64_t> ssts = {1}) {
    uint64_t before = c.status().next_checkpoint_id;
    Tick(c, 1000ms);
    uint64_t id = c.status().in_flight_checkpoint;
    EXPECT_EQ(id, before);
    for (Worker* w : workers) {
      EXPECT_FALSE(w->triggers().empty());
      if (w->triggers().empty()) return 0;
      EXPECT_EQ(w->triggers().back(), id);
      auto snap = UploadSnapshot(*view_, w->id, id, w->assignment(), ssts);
      EXPECT_TRUE(c.HandleMessage(w->sid, AckMsg(id, snap)).ok());
    }
    return id;
  }

  v1::LatestPointer ReadLatest() {
    v1::LatestPointer p;
    auto bytes = view_->Get("LATEST");
    EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
    if (bytes.ok()) EXPECT_TRUE(p.ParseFromString(*bytes));
    return p;
  }

  bool Exists(const std::string& key) { return view_->Get(key).ok(); }

  TempDir dir_;
  ManualClock clock_;
  storage::ObjectStorePtr view_ = OpenFolder(dir_.uri());
};

TEST_F(CoordinatorCoreTest, FullCycleWritesManifestThenLatestThenCompletes) {
  auto c = Make(Options());
  Worker w = Join(*c, "w0");
  v1::Assignment a = w.assignment();
  EXPECT_EQ(a.table().generation(), 1u);
  EXPECT_EQ(a.table().max_parallelism(), 16u);
  ASSERT_EQ(a.key_groups_size(), 1);
  EXPECT_EQ(a.key_groups(0).first(), 0u);
  EXPECT_EQ(a.key_groups(0).last(), 15u);
  EXPECT_FALSE(a.has_restore_from());

  Tick(*c, 999ms);
  EXPECT_TRUE(w.triggers().empty());
  Tick(*c, 1ms);
  ASSERT_EQ(w.triggers(), std::vector<uint64_t>{1});
  EXPECT_EQ(w.session->Of(Kind::kTrigger)[0].trigger().timestamp_unix_ms(), clock_.UnixMillis());
  Tick(*c, 5000ms - 1ms);  // a second trigger never overlaps the first
  EXPECT_EQ(w.triggers().size(), 1u);

  auto snap = UploadSnapshot(*view_, "w0", 1, a);
  EXPECT_FALSE(Exists("LATEST"));
  ASSERT_TRUE(c->HandleMessage(w.sid, AckMsg(1, snap)).ok());
  EXPECT_EQ(w.completes(), std::vector<uint64_t>{1});

  auto manifest_bytes = view_->Get("chk-1/manifest.pb");
  ASSERT_TRUE(manifest_bytes.ok());
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(*manifest_bytes));
  EXPECT_EQ(m.checkpoint_id(), 1u);
  EXPECT_EQ(m.format_version(), 1u);
  EXPECT_EQ(m.created_unix_ms(), clock_.UnixMillis());
  EXPECT_EQ(m.assignment().generation(), 1u);
  ASSERT_EQ(m.snapshots_size(), 1);
  EXPECT_EQ(m.snapshots(0).SerializeAsString(), snap.SerializeAsString());
  v1::LatestPointer latest = ReadLatest();
  EXPECT_EQ(latest.checkpoint_id(), 1u);
  EXPECT_EQ(latest.manifest_sha256(), Sha256Hex(*manifest_bytes));

  CoordinatorStatus st = c->status();
  EXPECT_EQ(st.last_completed_checkpoint, 1u);
  EXPECT_EQ(st.in_flight_checkpoint, 0u);
  EXPECT_EQ(st.completed, 1u);
  EXPECT_EQ(st.next_checkpoint_id, 2u);
}

TEST_F(CoordinatorCoreTest, TwoWorkersSplitKeyGroupsAndBothMustAck) {
  auto c = Make(Options(2));
  Worker a = Join(*c, "w-b");  // registration order does not matter: the table is sorted by id
  Tick(*c, 5000ms);
  EXPECT_TRUE(a.session->Of(Kind::kAssignment).empty());
  EXPECT_TRUE(a.triggers().empty());  // not every expected worker is there
  Worker b = Join(*c, "w-a");
  ASSERT_FALSE(a.session->Of(Kind::kAssignment).empty());
  EXPECT_EQ(b.assignment().key_groups(0).first(), 0u);
  EXPECT_EQ(b.assignment().key_groups(0).last(), 7u);
  EXPECT_EQ(a.assignment().key_groups(0).first(), 8u);
  EXPECT_EQ(a.assignment().key_groups(0).last(), 15u);
  ASSERT_EQ(a.assignment().table().workers_size(), 2);
  EXPECT_EQ(a.assignment().table().workers(0).worker_id(), "w-a");
  EXPECT_EQ(a.assignment().table().workers(0).address(), "w-a.local:1");

  Tick(*c, 1000ms);
  ASSERT_EQ(a.triggers(), std::vector<uint64_t>{1});
  ASSERT_EQ(b.triggers(), std::vector<uint64_t>{1});
  ASSERT_TRUE(c->HandleMessage(a.sid, AckMsg(1, UploadSnapshot(*view_, "w-b", 1,
                                                               a.assignment()))).ok());
  EXPECT_TRUE(a.completes().empty());
  EXPECT_FALSE(Exists("chk-1/manifest.pb"));
  ASSERT_TRUE(c->HandleMessage(b.sid, AckMsg(1, UploadSnapshot(*view_, "w-a", 1,
                                                               b.assignment()))).ok());
  EXPECT_EQ(a.completes(), std::vector<uint64_t>{1});
  EXPECT_EQ(b.completes(), std::vector<uint64_t>{1});
  v1::Manifest m;
  ASSERT_TRUE(m.ParseFromString(*view_->Get("chk-1/manifest.pb")));
  ASSERT_EQ(m.snapshots_size(), 2);
  EXPECT_EQ(m.snapshots(0).worker_id(), "w-a");
  EXPECT_EQ(m.snapshots(1).worker_id(), "w-b");
}

TEST_F(CoordinatorCoreTest, FailedLatestWriteLeavesPreviousLatestAndDoesNotComplete) {
  storage::FaultPlan plan;
  plan.fail_key_substring = "LATEST";
  auto counters = plan.counters;
  auto faulty = std::make_shared<std::atomic<bool>>(false);
  auto c = Make(Options(), std::make_unique<SwitchableStore>(dir_.uri(), plan, faulty));
  Worker w = Join(*c, "w0");
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
  std::string latest_before = *view_->Get("LATEST");

  faulty->store(true);
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 2u);
  // The manifest was put first (1st Put), then LATEST (2nd Put), which failed.
  EXPECT_EQ(counters->calls(storage::StoreOp::kPut), 2);
  EXPECT_EQ(counters->faults(), 1);
  EXPECT_EQ(w.completes(), std::vector<uint64_t>{1});
  ASSERT_EQ(w.aborts().size(), 1u);
  EXPECT_EQ(w.aborts()[0].checkpoint_id(), 2u);
  EXPECT_THAT(w.aborts()[0].reason(), HasSubstr("writing LATEST failed"));
  EXPECT_EQ(*view_->Get("LATEST"), latest_before);
  EXPECT_FALSE(Exists("chk-2/manifest.pb"));  // removed: it never became a completed checkpoint
  EXPECT_EQ(c->status().last_completed_checkpoint, 1u);

  faulty->store(false);
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 3u);
  EXPECT_EQ(w.completes(), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(ReadLatest().checkpoint_id(), 3u);
}

TEST_F(CoordinatorCoreTest, StorageFailingOnManifestAbortsWithoutLatest) {
  storage::FaultPlan plan;
  plan.fail_key_substring = "manifest.pb";
  auto faulty = std::make_shared<std::atomic<bool>>(true);
  auto c = Make(Options(), std::make_unique<SwitchableStore>(dir_.uri(), plan, faulty));
  Worker w = Join(*c, "w0");
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
  ASSERT_EQ(w.aborts().size(), 1u);
  EXPECT_THAT(w.aborts()[0].reason(), HasSubstr("chk-1/manifest.pb failed"));
  EXPECT_THAT(w.aborts()[0].reason(), HasSubstr("injected fault"));
  EXPECT_FALSE(Exists("LATEST"));
  EXPECT_TRUE(w.completes().empty());

  faulty->store(false);
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 2u);
  EXPECT_EQ(w.completes(), std::vector<uint64_t>{2});
}

TEST_F(CoordinatorCoreTest, TimeoutAbortsAndTheNextCheckpointSucceeds) {
  auto c = Make(Options());
  Worker w = Join(*c, "w0");
  Tick(*c, 1000ms);
  ASSERT_EQ(w.triggers(), std::vector<uint64_t>{1});
  Tick(*c, 4999ms);
  EXPECT_TRUE(w.aborts().empty());
  Tick(*c, 1ms);
  ASSERT_EQ(w.aborts().size(), 1u);
  EXPECT_EQ(w.aborts()[0].checkpoint_id(), 1u);
  EXPECT_THAT(w.aborts()[0].reason(), HasSubstr("timed out"));
  EXPECT_THAT(w.aborts()[0].reason(), HasSubstr("w0"));
  // A late ack is refused, not applied.
  Status late = c->HandleMessage(w.sid, AckMsg(1, UploadSnapshot(*view_, "w0", 1,
                                                                  w.assignment())));
  EXPECT_FALSE(late.ok());
  EXPECT_THAT(w.rejections().back(), HasSubstr("not in flight"));
  EXPECT_FALSE(Exists("chk-1/manifest.pb"));

  ASSERT_EQ(RunCheckpoint(*c, {&w}), 2u);
  EXPECT_EQ(w.completes(), std::vector<uint64_t>{2});
  EXPECT_EQ(c->status().aborted, 1u);
}

TEST_F(CoordinatorCoreTest, DeclineAbortsWithTheWorkersReason) {
  auto c = Make(Options(2));
  Worker a = Join(*c, "a");
  Worker b = Join(*c, "b");
  Tick(*c, 1000ms);
  ASSERT_TRUE(c->HandleMessage(a.sid, DeclineMsg(1, "disk full")).ok());
  ASSERT_EQ(b.aborts().size(), 1u);
  EXPECT_THAT(b.aborts()[0].reason(), HasSubstr("'a' declined: disk full"));
  EXPECT_EQ(c->status().in_flight_checkpoint, 0u);
  EXPECT_THAT(c->status().last_abort_reason, HasSubstr("disk full"));
  ASSERT_EQ(RunCheckpoint(*c, {&a, &b}), 2u);
  EXPECT_EQ(b.completes(), std::vector<uint64_t>{2});
}

TEST_F(CoordinatorCoreTest, LostSessionAbortsAndPausesUntilTheWorkerIsBack) {
  auto c = Make(Options(2));
  Worker a = Join(*c, "a");
  Worker b = Join(*c, "b");
  Tick(*c, 1000ms);
  ASSERT_TRUE(c->HandleMessage(a.sid, AckMsg(1, UploadSnapshot(*view_, "a", 1,
                                                               a.assignment()))).ok());
  c->CloseSession(b.sid, Unavailable("connection reset"));
  ASSERT_EQ(a.aborts().size(), 1u);
  EXPECT_THAT(a.aborts()[0].reason(), HasSubstr("'b' lost its session"));
  c->CloseSession(b.sid, Unavailable("again"));  // idempotent
  Tick(*c, 10000ms);
  EXPECT_EQ(a.triggers().size(), 1u);  // no trigger while a worker is missing

  Worker b2 = Join(*c, "b");
  EXPECT_EQ(b2.assignment().table().generation(), 1u);  // same workers, same table
  EXPECT_EQ(a.session->Of(Kind::kAssignment).size(), 1u);  // a keeps its assignment
  ASSERT_EQ(RunCheckpoint(*c, {&a, &b2}), 2u);
  EXPECT_EQ(a.completes(), std::vector<uint64_t>{2});
}

TEST_F(CoordinatorCoreTest, SilentSessionIsClosedAfterHeartbeatTimeout) {
  CoordinatorOptions o = Options();
  o.heartbeat_timeout = 3000ms;
  auto c = Make(o);
  Worker w = Join(*c, "w0");
  Tick(*c, 1000ms);
  ASSERT_EQ(w.triggers().size(), 1u);
  Tick(*c, 1500ms);
  v1::WorkerMessage hb;
  hb.mutable_heartbeat();
  ASSERT_TRUE(c->HandleMessage(w.sid, hb).ok());
  Tick(*c, 2999ms);
  EXPECT_FALSE(w.session->closed());
  Tick(*c, 1ms);
  EXPECT_TRUE(w.session->closed());
  EXPECT_EQ(w.session->close_reason().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(c->status().registered_workers.empty());
  EXPECT_EQ(c->status().in_flight_checkpoint, 0u);
  EXPECT_EQ(c->status().aborted, 1u);
}

TEST_F(CoordinatorCoreTest, RequestCheckpointDoesNotWaitForTheInterval) {
  auto c = Make(Options());
  Worker w = Join(*c, "w0");
  c->RequestCheckpoint();
  EXPECT_LE(c->NextDeadline(), clock_.Now());
  c->Poll();
  EXPECT_EQ(w.triggers(), std::vector<uint64_t>{1});
}

TEST_F(CoordinatorCoreTest, RestartRecoversLatestAndNeverReusesIds) {
  {
    auto c = Make(Options());
    Worker w = Join(*c, "w0");
    ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
    ASSERT_EQ(RunCheckpoint(*c, {&w}, {1, 2}), 2u);
    // Checkpoint 3 uploads a file, then times out: its id is in storage but never completed.
    Tick(*c, 1000ms);
    ASSERT_EQ(w.triggers().back(), 3u);
    UploadSnapshot(*view_, "w0", 3, w.assignment(), {1, 2});
    Tick(*c, 5000ms);
    ASSERT_EQ(w.aborts().size(), 1u);
  }
  auto c = Make(Options());
  CoordinatorStatus st = c->status();
  EXPECT_EQ(st.restored_from, 2u);
  EXPECT_EQ(st.last_completed_checkpoint, 2u);
  EXPECT_EQ(st.next_checkpoint_id, 4u);
  EXPECT_EQ(st.retained_checkpoints, (std::vector<uint64_t>{1, 2}));
  Worker w = Join(*c, "w0");
  v1::Assignment a = w.assignment();
  ASSERT_TRUE(a.has_restore_from());
  EXPECT_EQ(a.restore_from().checkpoint_id(), 2u);
  EXPECT_EQ(a.restore_from().manifest_key(), "chk-2/manifest.pb");
  ASSERT_EQ(a.restore_from().snapshots_size(), 1);
  EXPECT_EQ(a.restore_from().snapshots(0).worker_id(), "w0");
  EXPECT_EQ(a.restore_from().snapshots(0).files_size(), 3);
  EXPECT_EQ(a.restore_from().snapshots(0).ingress_offsets(0).offset(), 200);
  ASSERT_EQ(RunCheckpoint(*c, {&w}), 4u);
  EXPECT_EQ(ReadLatest().checkpoint_id(), 4u);
}

// Damages checkpoint 2 in several ways; recovery must fall back to checkpoint 1 and say why.
struct DamageCase {
  const char* name;
  std::function<void(storage::ObjectStore&)> damage;
  const char* expected_log;
  uint64_t expected_restore;
};

class RecoveryFallbackTest : public CoordinatorCoreTest,
                             public ::testing::WithParamInterface<int> {};

TEST_P(RecoveryFallbackTest, FallsBackToThePreviousCheckpointAndSaysWhy) {
  std::vector<DamageCase> cases = {
      {"corrupt manifest",
       [](storage::ObjectStore& s) {
         std::string m = *s.Get("chk-2/manifest.pb");
         m[m.size() / 2] ^= 0x5a;
         ASSERT_TRUE(s.Put("chk-2/manifest.pb", m).ok());
       },
       "skipped checkpoint 2 named by LATEST: chk-2/manifest.pb checksum mismatch", 1},
      {"missing file",
       [](storage::ObjectStore& s) { ASSERT_TRUE(s.Delete("chk-2/w0/snapshot.pb").ok()); },
       "'chk-2/w0/snapshot.pb' is missing", 1},
      {"truncated sst",
       [](storage::ObjectStore& s) {
         ASSERT_TRUE(s.Put(testing::SstKey("w0", 2), "short").ok());
       },
       "has 5 bytes", 1},
      {"missing manifest",
       [](storage::ObjectStore& s) { ASSERT_TRUE(s.Delete("chk-2/manifest.pb").ok()); },
       "chk-2/manifest.pb is missing", 1},
      {"corrupt LATEST",  // LATEST unusable: the newest manifest that verifies is still 2
       [](storage::ObjectStore& s) { ASSERT_TRUE(s.Put("LATEST", "\xff\xff garbage").ok()); },
       "LATEST is corrupt", 2},
      {"missing LATEST",
       [](storage::ObjectStore& s) { ASSERT_TRUE(s.Delete("LATEST").ok()); },
       "LATEST is missing", 2},
  };
  const DamageCase& dc = cases.at(static_cast<size_t>(GetParam()));
  SCOPED_TRACE(dc.name);
  {
    auto c = Make(Options());
    Worker w = Join(*c, "w0");
    ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
    ASSERT_EQ(RunCheckpoint(*c, {&w}, {1, 2}), 2u);
  }
  dc.damage(*view_);
  auto c = Make(Options());
  ASSERT_NE(c, nullptr);
  CoordinatorStatus st = c->status();
  EXPECT_EQ(st.restored_from, dc.expected_restore);
  std::string log;
  for (const auto& l : st.recovery_log) log += l + "\n";
  EXPECT_THAT(log, HasSubstr(dc.expected_log));
  EXPECT_THAT(log, HasSubstr("restoring checkpoint " + std::to_string(dc.expected_restore)));
  EXPECT_EQ(st.next_checkpoint_id, 3u);  // ids continue after the damaged one
  Worker w = Join(*c, "w0");
  EXPECT_EQ(w.assignment().restore_from().checkpoint_id(), dc.expected_restore);
}

INSTANTIATE_TEST_SUITE_P(Damage, RecoveryFallbackTest, ::testing::Range(0, 6));

TEST_F(CoordinatorCoreTest, VerifyRestoreChecksumsCatchesSameSizeCorruption) {
  {
    auto c = Make(Options());
    Worker w = Join(*c, "w0");
    ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
    ASSERT_EQ(RunCheckpoint(*c, {&w}, {1, 2}), 2u);
  }
  std::string sst = *view_->Get(testing::SstKey("w0", 2));
  sst[0] ^= 1;
  ASSERT_TRUE(view_->Put(testing::SstKey("w0", 2), sst).ok());
  EXPECT_EQ(Make(Options())->status().restored_from, 2u);  // sizes alone cannot see it
  CoordinatorOptions o = Options();
  o.verify_restore_checksums = true;
  CoordinatorStatus st = Make(o)->status();
  EXPECT_EQ(st.restored_from, 1u);
  EXPECT_THAT(st.recovery_log[0], HasSubstr("SHA-256"));
}

TEST_F(CoordinatorCoreTest, RefusesToStartEmptyWhenNoCheckpointVerifies) {
  {
    auto c = Make(Options());
    Worker w = Join(*c, "w0");
    ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
  }
  ASSERT_TRUE(view_->Delete("chk-1/w0/snapshot.pb").ok());
  auto c = CheckpointCoordinator::Create(Options(), OpenFolder(dir_.uri()), &clock_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(c.status().message(), HasSubstr("refusing to start from empty state"));
  EXPECT_THAT(c.status().message(), HasSubstr("missing"));
}

TEST_F(CoordinatorCoreTest, UnreachableStorageAtStartIsAnErrorNotAFallback) {
  {
    auto c = Make(Options());
    Worker w = Join(*c, "w0");
    ASSERT_EQ(RunCheckpoint(*c, {&w}), 1u);
  }
  storage::FaultPlan plan;
  plan.fail_key_substring = "chk-1/manifest.pb";
  auto c = CheckpointCoordinator::Create(
      Options(), storage::MakeFaultInjectingStore(OpenFolder(dir_.uri()), plan), &clock_);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(c.status().message(), HasSubstr("injected fault"));
}

TEST_F(CoordinatorCoreTest, RetentionDeletesExactlyTheUnreferencedObjects) {
  auto c = Make(Options());  // retain 2
  Worker w = Join(*c, "w0");
  using testing::SstKey;
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {1}), 1u);
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {1, 2}), 2u);
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {2, 3}), 3u);
  // Retained {2, 3}: chk-1 goes; sst 1 stays (checkpoint 2 still references it).
  EXPECT_EQ(Keys(*view_), (std::vector<std::string>{
                              "LATEST", "chk-2/manifest.pb", "chk-2/w0/snapshot.pb",
                              "chk-3/manifest.pb", "chk-3/w0/snapshot.pb", SstKey("w0", 1),
                              SstKey("w0", 2), SstKey("w0", 3)}));

  ASSERT_TRUE(view_->Put("sst/w0-db/0-aaaa.sst", "old unreferenced").ok());
  ASSERT_TRUE(view_->Put("sst/w0-db/99-zzzz.sst", "newer than any reference").ok());
  ASSERT_TRUE(view_->Put("sst/gone-db/5-x.sst", "db of no retained checkpoint").ok());
  ASSERT_TRUE(view_->Put("sst/junk", "not an sst name").ok());
  ASSERT_TRUE(view_->Put("chk-1/w0/leftover", "late upload of a dropped checkpoint").ok());
  ASSERT_TRUE(view_->Put("chk-9/w0/x", "not ours: newer than anything completed").ok());
  ASSERT_TRUE(view_->Put("other/notes.txt", "outside the checkpoint layout").ok());
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {3, 4}), 4u);
  // Retained {3, 4}: chk-2 goes, and with it sst 1; the garbage below the newest referenced SST
  // number goes; the SST newer than every reference (maybe an upload in progress), chk-9 (newer
  // than anything completed) and keys outside the layout stay.
  std::vector<std::string> expected = {
      "LATEST",          "chk-3/manifest.pb",   "chk-3/w0/snapshot.pb", "chk-4/manifest.pb",
      "chk-4/w0/snapshot.pb", "chk-9/w0/x",     "other/notes.txt",      SstKey("w0", 2),
      SstKey("w0", 3),   SstKey("w0", 4),       "sst/w0-db/99-zzzz.sst"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Keys(*view_), expected);
  EXPECT_EQ(c->status().retained_checkpoints, (std::vector<uint64_t>{3, 4}));
}

TEST_F(CoordinatorCoreTest, RetainOneKeepsOnlyTheNewest) {
  CoordinatorOptions o = Options();
  o.retain = 1;
  auto c = Make(o);
  Worker w = Join(*c, "w0");
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {1}), 1u);
  ASSERT_EQ(RunCheckpoint(*c, {&w}, {2}), 2u);
  std::vector<std::string> expected = {"LATEST", "chk-2/manifest.pb", "chk-2/w0/snapshot.pb",
                                       testing::SstKey("w0", 2)};
  EXPECT_EQ(Keys(*view_), expected);
}

TEST_F(CoordinatorCoreTest, ProtocolErrorsAreAnsweredAndChangeNothing) {
  auto c = Make(Options(2));
  // Ack before Register: nothing to talk about, the session is closed.
  auto early = std::make_shared<FakeSession>();
  SessionId early_id = c->OpenSession(early);
  v1::SnapshotDescription snap;
  snap.set_worker_id("x");
  Status st = c->HandleMessage(early_id, AckMsg(1, snap));
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(early->closed());
  EXPECT_THAT(early->close_reason().message(), HasSubstr("register first"));
  EXPECT_EQ(c->HandleMessage(early_id, RegisterMsg("x")).code(), StatusCode::kNotFound);

  // Invalid worker ids.
  for (const char* bad : {"", "a/b", "..", "sp ace"}) {
    auto s = std::make_shared<FakeSession>();
    EXPECT_EQ(c->HandleMessage(c->OpenSession(s), RegisterMsg(bad)).code(),
              StatusCode::kInvalidArgument)
        << bad;
    EXPECT_TRUE(s->closed());
  }

  Worker a = Join(*c, "a");
  // Empty message and a second Register on the same stream: rejected, session kept.
  EXPECT_FALSE(c->HandleMessage(a.sid, v1::WorkerMessage()).ok());
  EXPECT_FALSE(c->HandleMessage(a.sid, RegisterMsg("other")).ok());
  EXPECT_THAT(a.rejections().back(), HasSubstr("already registered as worker 'a'"));
  EXPECT_FALSE(a.session->closed());
  EXPECT_EQ(c->status().registered_workers, std::vector<std::string>{"a"});

  Worker b = Join(*c, "b");
  // A third worker when two are expected.
  auto extra = std::make_shared<FakeSession>();
  EXPECT_EQ(c->HandleMessage(c->OpenSession(extra), RegisterMsg("c")).code(),
            StatusCode::kResourceExhausted);
  EXPECT_TRUE(extra->closed());

  // Acks for checkpoints that do not exist / are not in flight.
  EXPECT_FALSE(c->HandleMessage(a.sid, AckMsg(42, snap)).ok());
  EXPECT_THAT(a.rejections().back(), HasSubstr("unknown checkpoint 42"));
  EXPECT_FALSE(c->HandleMessage(a.sid, DeclineMsg(0, "x")).ok());

  Tick(*c, 1000ms);
  ASSERT_EQ(a.triggers(), std::vector<uint64_t>{1});
  auto good_a = UploadSnapshot(*view_, "a", 1, a.assignment());
  ASSERT_TRUE(c->HandleMessage(a.sid, AckMsg(1, good_a)).ok());
  EXPECT_FALSE(c->HandleMessage(a.sid, AckMsg(1, good_a)).ok());  // duplicate: first stands
  EXPECT_THAT(a.rejections().back(), HasSubstr("duplicate Ack"));
  EXPECT_EQ(c->status().in_flight_checkpoint, 1u);

  // Ack naming another worker: rejected, and the checkpoint cannot complete any more.
  EXPECT_FALSE(c->HandleMessage(b.sid, AckMsg(1, good_a)).ok());
  EXPECT_THAT(b.rejections().back(), HasSubstr("carries the snapshot of worker 'a'"));
  ASSERT_EQ(a.aborts().size(), 1u);
  EXPECT_EQ(c->status().in_flight_checkpoint, 0u);
  EXPECT_FALSE(Exists("chk-1/manifest.pb"));

  // Malformed descriptions, one per checkpoint.
  std::vector<std::pair<std::string, std::function<void(v1::SnapshotDescription&)>>> broken = {
      {"sha256", [](v1::SnapshotDescription& d) { d.mutable_files(0)->set_sha256("XYZ"); }},
      {"negative size", [](v1::SnapshotDescription& d) { d.mutable_files(0)->set_size(-1); }},
      {"'..'", [](v1::SnapshotDescription& d) { d.mutable_files(0)->set_key("sst/../x"); }},
      {"reserved", [](v1::SnapshotDescription& d) {
         d.mutable_files(0)->set_key("chk-3/manifest.pb");
       }},
      {"listed twice", [](v1::SnapshotDescription& d) { *d.add_files() = d.files(0); }},
      {"other key groups", [](v1::SnapshotDescription& d) {
         d.mutable_key_groups(0)->set_first(0);
       }},
      {"is missing", [](v1::SnapshotDescription& d) {
         d.mutable_files(0)->set_key("sst/b-db/77-nothere.sst");
       }},
  };
  for (auto& [expect, mutate] : broken) {
    SCOPED_TRACE(expect);
    uint64_t before = b.aborts().size();
    Tick(*c, 1000ms);
    uint64_t id = c->status().in_flight_checkpoint;
    ASSERT_NE(id, 0u);
    ASSERT_TRUE(c->HandleMessage(a.sid, AckMsg(id, UploadSnapshot(*view_, "a", id,
                                                                  a.assignment()))).ok());
    auto bad = UploadSnapshot(*view_, "b", id, b.assignment());
    mutate(bad);
    (void)c->HandleMessage(b.sid, AckMsg(id, bad));
    ASSERT_EQ(b.aborts().size(), before + 1);
    EXPECT_THAT(b.aborts().back().reason(), HasSubstr(expect));
    EXPECT_FALSE(Exists(ManifestKey(id)));
  }
  EXPECT_FALSE(Exists("LATEST"));
  EXPECT_GE(c->status().rejected_messages, 10u);

  // After all that, a clean checkpoint still works.
  uint64_t id = RunCheckpoint(*c, {&a, &b});
  EXPECT_EQ(a.completes(), std::vector<uint64_t>{id});
}

TEST_F(CoordinatorCoreTest, ReRegisteringWorkerReplacesItsOldSession) {
  auto c = Make(Options());
  Worker w = Join(*c, "w0");
  Tick(*c, 1000ms);
  ASSERT_EQ(w.triggers().size(), 1u);
  Worker again = Join(*c, "w0");
  EXPECT_TRUE(w.session->closed());
  EXPECT_THAT(w.session->close_reason().message(), HasSubstr("replaced by a newer session"));
  EXPECT_EQ(c->status().aborted, 1u);  // the old incarnation's checkpoint cannot complete
  ASSERT_FALSE(again.session->Of(Kind::kAssignment).empty());
  c->CloseSession(w.sid, Unavailable("old stream finally ends"));  // must not unregister w0
  EXPECT_EQ(c->status().registered_workers, std::vector<std::string>{"w0"});
  ASSERT_EQ(RunCheckpoint(*c, {&again}), 2u);
}

TEST_F(CoordinatorCoreTest, InvalidOptionsAreRejected) {
  CoordinatorOptions o = Options();
  o.retain = 0;
  EXPECT_FALSE(CheckpointCoordinator::Create(o, OpenFolder(dir_.uri()), &clock_).ok());
  o = Options(17);  // more workers than key groups
  EXPECT_FALSE(CheckpointCoordinator::Create(o, OpenFolder(dir_.uri()), &clock_).ok());
  o = Options();
  o.checkpoint_timeout = 0ms;
  EXPECT_FALSE(CheckpointCoordinator::Create(o, OpenFolder(dir_.uri()), &clock_).ok());
  EXPECT_FALSE(CheckpointCoordinator::Create(Options(), nullptr, &clock_).ok());
}

}  // namespace
}  // namespace eddy::coordinator
