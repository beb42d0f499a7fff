// The exactly-once protocol against the in-project FAKE transactional broker (the mock cluster's
// transactions are a stub, see fake_transactional_broker.h). "Crash" means dropping the egress
// object (and its producer) at a chosen point; a restarted worker is a new egress with a new
// producer for the same transactional id.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "eddy/io/exactly_once_egress.h"
#include "eddy/model/typed_value.h"
#include "io/kafka/eos/eos_codec.h"
#include "io/kafka/eos/fake_transactional_broker.h"
#include "statefun/sdk/egress.pb.h"

namespace eddy {
namespace {

using eos::FakeFault;
using eos::FakeOp;
using eos::FakeTransactionalBroker;
using eos::Isolation;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using V = std::vector<std::string>;
using namespace std::chrono_literals;

const std::string kTxnId = EosTransactionalId("job", "w1");
const std::string kControl(kDefaultEgressControlTopic);

class ExactlyOnceEgressTest : public ::testing::Test {
 protected:
  ExactlyOnceEgressOptions Options() {
    ExactlyOnceEgressOptions o;
    o.job = "job";
    o.worker = "w1";
    o.egress_id = "ns/out";
    o.max_attempts = 3;
    o.retry_backoff = 0ms;
    return o;
  }

  std::unique_ptr<ExactlyOnceEgress> Make(ExactlyOnceEgressOptions options) {
    auto e = ExactlyOnceEgress::Create(std::move(options), broker_.NewProducer(kTxnId),
                                       broker_.NewReader());
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }
  std::unique_ptr<ExactlyOnceEgress> Make() { return Make(Options()); }

  std::unique_ptr<ExactlyOnceEgress> Started() {
    auto e = Make();
    EXPECT_TRUE(e->Start().ok());
    return e;
  }

  V Committed(const std::string& topic = "out") const {
    V out;
    for (const auto& r : broker_.Read(topic, Isolation::kReadCommitted)) out.push_back(r.value);
    return out;
  }
  V Uncommitted(const std::string& topic = "out") const {
    V out;
    for (const auto& r : broker_.Read(topic, Isolation::kReadUncommitted)) out.push_back(r.value);
    return out;
  }
  std::vector<uint64_t> CommittedMarkerEpochs() const {
    std::vector<uint64_t> out;
    for (const auto& r : broker_.Read(kControl, Isolation::kReadCommitted)) {
      auto m = eos::DecodeMarker(r.value);
      EXPECT_TRUE(m.ok());
      EXPECT_EQ(r.key, kTxnId);
      if (m.ok()) out.push_back(m->epoch);
    }
    return out;
  }

  static EgressRecord Rec(const std::string& v) { return {"out", "k-" + v, v, {{"h", v}}}; }

  FakeTransactionalBroker broker_;
};

TEST_F(ExactlyOnceEgressTest, RecordsBecomeVisibleOnlyWhenTheirCheckpointCompletes) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  EXPECT_EQ(egress->OpenRecords(), 2u);
  EXPECT_EQ(Uncommitted(), V{});  // nothing reaches Kafka before the checkpoint completes

  auto sealed = egress->SealEpoch(1);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(egress->OpenRecords(), 0u);
  EXPECT_EQ(egress->PendingEpochs(), 1u);
  ASSERT_TRUE(egress->Append(Rec("c")).ok());  // epoch 2
  EXPECT_EQ(Committed(), V{});

  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
  EXPECT_EQ(egress->PendingEpochs(), 0u);
  EXPECT_EQ(egress->LastCommittedEpoch(), 1u);
  // Keys and headers travel with the records.
  auto records = broker_.Read("out", Isolation::kReadCommitted);
  EXPECT_EQ(records[0].key, "k-a");
  EXPECT_EQ(records[0].headers, (std::vector<std::pair<std::string, std::string>>{{"h", "a"}}));

  ASSERT_TRUE(egress->SealEpoch(2).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b", "c"}));
  EXPECT_EQ(broker_.Stats(kTxnId).commits, 2);
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());  // repeated notification: nothing to do
  EXPECT_EQ(broker_.Stats(kTxnId).commits, 2);
}

TEST_F(ExactlyOnceEgressTest, CompletingCheckpointCommitsOnlyEpochsUpToIt) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  ASSERT_TRUE(egress->SealEpoch(2).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(Committed(), V{"a"});
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u, 2u));
}

TEST_F(ExactlyOnceEgressTest, AbortedCheckpointsEpochCommitsWithTheNextCompletedOne) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());  // checkpoint 1 is then aborted: no completion
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  auto sealed2 = egress->SealEpoch(2);
  ASSERT_TRUE(sealed2.ok());
  // Checkpoint 2's bytes carry epoch 1 too, since it is not committed yet.
  auto log = eos::DecodeSealedLog(*sealed2);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->epochs.size(), 2u);
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u, 2u));  // in order, one each
}

TEST_F(ExactlyOnceEgressTest, EmptyEpochsNeedNoTransaction) {
  auto egress = Started();
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).commits, 0);
  EXPECT_EQ(egress->LastCommittedEpoch(), 1u);
}

TEST_F(ExactlyOnceEgressTest, CrashBetweenCompletionAndCommitRecoversExactlyOnce) {
  std::string sealed;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    ASSERT_TRUE(egress->Append(Rec("b")).ok());
    auto s = egress->SealEpoch(1);
    ASSERT_TRUE(s.ok());
    sealed = *s;
    // Checkpoint 1 completes, the worker dies before OnCheckpointComplete(1) ran.
  }
  EXPECT_EQ(Uncommitted(), V{});

  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
  EXPECT_EQ(restarted->LastCommittedEpoch(), 1u);

  // Dies again right after that commit: the next restore from checkpoint 1 produces nothing.
  restarted.reset();
  int64_t produced = broker_.ProducedRecords();
  auto again = Make();
  ASSERT_TRUE(again->Recover(1, sealed).ok());
  EXPECT_EQ(broker_.ProducedRecords(), produced);
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_EQ(again->PendingEpochs(), 0u);
  // ... and carries on with epoch 2 of the same run.
  ASSERT_TRUE(again->Append(Rec("c")).ok());
  EXPECT_FALSE(again->SealEpoch(1).ok());  // epochs only move forward
  ASSERT_TRUE(again->SealEpoch(2).ok());
  ASSERT_TRUE(again->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b", "c"}));
}

TEST_F(ExactlyOnceEgressTest, CrashDuringCommitLeavesOpenTransactionThatRecoveryAborts) {
  std::string sealed;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    sealed = egress->SealEpoch(1).value();
    broker_.InjectFault(kTxnId, FakeOp::kCommit, FakeFault::kCrash);
    Status st = egress->OnCheckpointComplete(1);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st.ToString();
    // The records and the marker are in the log, in an open transaction.
    EXPECT_EQ(Uncommitted(), V{"a"});
    EXPECT_EQ(Committed(), V{});
    EXPECT_EQ(CommittedMarkerEpochs(), std::vector<uint64_t>{});
    EXPECT_EQ(egress->Append(Rec("x")).code(), StatusCode::kFailedPrecondition);
  }
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).coordinator_aborts, 1);  // InitTransactions aborted it
  EXPECT_EQ(Committed(), V{"a"});
  EXPECT_EQ(Uncommitted(), (V{"a", "a"}));  // the aborted copy stays invisible
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
}

// The commit reached the broker but the process died before it heard back: recovery finds
// the marker and produces nothing again.
TEST_F(ExactlyOnceEgressTest, CrashRightAfterCommitIsNotProducedAgain) {
  std::string sealed;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    sealed = egress->SealEpoch(1).value();
    broker_.InjectFault(kTxnId, FakeOp::kCommit, FakeFault::kCrashAfter);
    EXPECT_EQ(egress->OnCheckpointComplete(1).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(Committed(), V{"a"});
  }
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(restarted->LastCommittedEpoch(), 1u);
  EXPECT_EQ(Committed(), V{"a"});
  EXPECT_EQ(Uncommitted(), V{"a"});  // not even an aborted second copy
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
}

TEST_F(ExactlyOnceEgressTest, TwoCompletedButUncommittedEpochsRecoverInOrder) {
  std::string sealed2;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    ASSERT_TRUE(egress->SealEpoch(1).ok());
    ASSERT_TRUE(egress->Append(Rec("b")).ok());
    sealed2 = egress->SealEpoch(2).value();
    // Checkpoints 1 and 2 complete; neither commit ran.
  }
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(2, sealed2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u, 2u));
  EXPECT_EQ(broker_.Stats(kTxnId).commits, 2);
}

TEST_F(ExactlyOnceEgressTest, RecoverySkipsTheEpochThatCommittedAndProducesTheRest) {
  std::string sealed2;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    ASSERT_TRUE(egress->SealEpoch(1).ok());
    ASSERT_TRUE(egress->Append(Rec("b")).ok());
    sealed2 = egress->SealEpoch(2).value();  // taken while epoch 1's commit was under way
    ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  }
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(2, sealed2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));  // a once
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u, 2u));
}

TEST_F(ExactlyOnceEgressTest, ZombieIsFencedByTheRestartedInstance) {
  auto zombie = Started();
  ASSERT_TRUE(zombie->Append(Rec("a")).ok());
  std::string sealed = zombie->SealEpoch(1).value();

  // The coordinator declared the zombie dead and restored its work elsewhere.
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(Committed(), V{"a"});

  // The zombie wakes up and tries to commit the same epoch: fenced, nothing duplicated.
  Status st = zombie->OnCheckpointComplete(1);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("fenced"));
  EXPECT_EQ(zombie->Append(Rec("b")).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(zombie->SealEpoch(2).ok());
  EXPECT_EQ(Committed(), V{"a"});
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
}

TEST_F(ExactlyOnceEgressTest, AbortableCommitErrorAbortsAndRedoesTheTransaction) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  broker_.InjectFault(kTxnId, FakeOp::kCommit, FakeFault::kAbortable);
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).aborts, 1);
  EXPECT_EQ(broker_.Stats(kTxnId).commits, 1);
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_EQ(Uncommitted(), (V{"a", "b", "a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u));
}

TEST_F(ExactlyOnceEgressTest, DeliveryFailureSurfacesAtCommitAndIsRedone) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  broker_.InjectFault(kTxnId, FakeOp::kProduce, FakeFault::kDeliveryFailure);
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).aborts, 1);
  EXPECT_EQ(Committed(), (V{"a", "b"}));
}

TEST_F(ExactlyOnceEgressTest, RetriableErrorsAreRetriedInPlace) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  broker_.InjectFault(kTxnId, FakeOp::kCommit, FakeFault::kRetriable, 2);  // 3 attempts allowed
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).aborts, 0);
  EXPECT_EQ(Committed(), V{"a"});
}

TEST_F(ExactlyOnceEgressTest, PersistentAbortableErrorsKeepTheEpochPendingForALaterRetry) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  ASSERT_TRUE(egress->Append(Rec("b")).ok());
  ASSERT_TRUE(egress->SealEpoch(2).ok());
  broker_.InjectFault(kTxnId, FakeOp::kCommit, FakeFault::kAbortable, 3);
  Status st = egress->OnCheckpointComplete(2);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_THAT(st.message(), HasSubstr("epoch 1"));
  EXPECT_EQ(egress->PendingEpochs(), 2u);  // epoch 2 is not attempted before epoch 1
  EXPECT_EQ(Committed(), V{});
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed(), (V{"a", "b"}));
  EXPECT_THAT(CommittedMarkerEpochs(), ElementsAre(1u, 2u));
}

TEST_F(ExactlyOnceEgressTest, FatalProducerErrorStopsTheEgress) {
  auto egress = Started();
  ASSERT_TRUE(egress->Append(Rec("a")).ok());
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  broker_.InjectFault(kTxnId, FakeOp::kProduce, FakeFault::kFatal);
  EXPECT_EQ(egress->OnCheckpointComplete(1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(egress->OnCheckpointComplete(1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Committed(), V{});
}

TEST_F(ExactlyOnceEgressTest, MalformedSealedBytesGiveAClearErrorAndTouchNothing) {
  auto egress = Make();
  Status st = egress->Recover(1, "definitely not an egress log");
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_THAT(st.message(), HasSubstr("sealed egress log"));
  EXPECT_EQ(broker_.Stats(kTxnId).inits, 0);  // no fencing on bad input

  std::string other;
  {
    auto e = Make(Options());
    ASSERT_TRUE(e->Start().ok());
    other = e->SealEpoch(3).value();
  }
  st = egress->Recover(4, other);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("checkpoint 3"));
  EXPECT_EQ(egress->Append(Rec("a")).code(), StatusCode::kFailedPrecondition);  // not started
}

TEST_F(ExactlyOnceEgressTest, UnreadableControlTopicFailsRecoveryInsteadOfGuessing) {
  std::string sealed;
  {
    auto egress = Started();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    sealed = egress->SealEpoch(1).value();
    ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  }
  auto restarted = Make();
  broker_.FailReads(3);  // max_attempts reads
  Status st = restarted->Recover(1, sealed);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_THAT(st.message(), HasSubstr(kControl));
  EXPECT_EQ(Committed(), V{"a"});
  // Retried later: InitTransactions is not repeated (librdkafka refuses a second one).
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(broker_.Stats(kTxnId).inits, 2);  // the first instance + this one
  EXPECT_EQ(Committed(), V{"a"});
}

TEST_F(ExactlyOnceEgressTest, MarkersOfAnEarlierRunAndForeignRecordsAreIgnored) {
  // An earlier run of the job (fresh start, new run id) committed up to epoch 5.
  {
    auto old_run = Started();
    ASSERT_TRUE(old_run->Append(Rec("old")).ok());
    ASSERT_TRUE(old_run->SealEpoch(5).ok());
    ASSERT_TRUE(old_run->OnCheckpointComplete(5).ok());
  }
  // Someone wrote garbage under our key.
  {
    auto rogue = broker_.NewProducer("rogue");
    ASSERT_TRUE(rogue->InitTransactions(1s).ok());
    ASSERT_TRUE(rogue->BeginTransaction().ok());
    ASSERT_TRUE(rogue->Produce({kControl, kTxnId, "garbage", {}}).ok());
    ASSERT_TRUE(rogue->CommitTransaction().ok());
  }
  std::string sealed;
  {
    auto fresh = Started();  // the job starts from scratch: checkpoint ids restart at 1
    ASSERT_TRUE(fresh->Append(Rec("new")).ok());
    sealed = fresh->SealEpoch(1).value();
  }
  auto restarted = Make();
  ASSERT_TRUE(restarted->Recover(1, sealed).ok());
  EXPECT_EQ(Committed(), (V{"old", "new"}));
}

TEST_F(ExactlyOnceEgressTest, RestoringAnOlderCheckpointThanCommittedStartsANewRun) {
  std::string sealed1;
  std::string run;
  {
    auto egress = Started();
    run = egress->run_id();
    ASSERT_TRUE(egress->Append(Rec("a")).ok());
    sealed1 = egress->SealEpoch(1).value();
    ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
    ASSERT_TRUE(egress->Append(Rec("b")).ok());
    ASSERT_TRUE(egress->SealEpoch(2).ok());
    ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  }
  // Checkpoint 2's manifest turned out corrupt: the worker falls back to checkpoint 1.
  std::string sealed2;
  {
    auto restored = Make();
    ASSERT_TRUE(restored->Recover(1, sealed1).ok());
    EXPECT_NE(restored->run_id(), run);
    ASSERT_TRUE(restored->Append(Rec("b2")).ok());  // epoch 2 recomputed, same number
    sealed2 = restored->SealEpoch(2).value();
    // Dies before committing it.
  }
  auto again = Make();
  ASSERT_TRUE(again->Recover(2, sealed2).ok());
  // The old run's marker for epoch 2 must not hide the new epoch 2.
  EXPECT_EQ(Committed(), (V{"a", "b", "b2"}));
}

// The bound never drops a record (its function already changed state): it holds the
// ingresses through FlowControl from the bound until commits free half of it.
TEST_F(ExactlyOnceEgressTest, BufferBoundHoldsIngestionUntilCommitsFreeIt) {
  FlowControl flow(100);
  ExactlyOnceEgressOptions options = Options();
  options.max_buffered_bytes = 1000;
  options.flow = &flow;
  auto egress = Make(options);
  ASSERT_TRUE(egress->Start().ok());
  EgressRecord big{"out", "", std::string(200, 'x'), {}};
  int appended = 0;
  while (!flow.ShouldPause()) {
    ASSERT_TRUE(egress->Append(big).ok());
    ++appended;
    ASSERT_LT(appended, 100) << "the bound never held ingestion";
  }
  EXPECT_EQ(appended, 5);  // 5 x ~203 bytes reach 1000
  EXPECT_EQ(flow.Holds(), 1);
  EXPECT_FALSE(flow.ShouldResume());
  // Work already inside the worker still lands: nothing is refused, the hold is not doubled.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(egress->Append(big).ok());
  EXPECT_EQ(flow.Holds(), 1);
  EXPECT_GT(egress->BufferedBytes(), 1500u);
  // Sealing does not free the memory (the epoch waits for its commit); committing does.
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  EXPECT_EQ(flow.Holds(), 1);
  ASSERT_TRUE(egress->Append(big).ok());  // into epoch 2
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  EXPECT_LT(egress->BufferedBytes(), 500u);
  EXPECT_EQ(flow.Holds(), 0);
  EXPECT_TRUE(flow.ShouldResume());
  ASSERT_TRUE(egress->SealEpoch(2).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(2).ok());
  EXPECT_EQ(Committed().size(), 9u);  // every record, none dropped
}

// An egress destroyed while holding (the worker stops) releases its hold.
TEST_F(ExactlyOnceEgressTest, DestroyedEgressReleasesItsHold) {
  FlowControl flow(100);
  ExactlyOnceEgressOptions options = Options();
  options.max_buffered_bytes = 100;
  options.flow = &flow;
  {
    auto egress = Make(options);
    ASSERT_TRUE(egress->Start().ok());
    ASSERT_TRUE(egress->Append({"out", "", std::string(200, 'x'), {}}).ok());
    EXPECT_EQ(flow.Holds(), 1);
  }
  EXPECT_EQ(flow.Holds(), 0);
}

TEST_F(ExactlyOnceEgressTest, LifecycleErrors) {
  auto egress = Make();
  EXPECT_EQ(egress->Append(Rec("a")).code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(egress->SealEpoch(1).ok());
  ASSERT_TRUE(egress->Start().ok());
  EXPECT_EQ(egress->Start().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(egress->Append({"", "k", "v", {}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(egress->OnCheckpointComplete(1).code(), StatusCode::kFailedPrecondition);  // unsealed
  EXPECT_FALSE(egress->SealEpoch(0).ok());
  ASSERT_TRUE(egress->SealEpoch(2).ok());
  EXPECT_FALSE(egress->SealEpoch(2).ok());

  EXPECT_FALSE(ExactlyOnceEgress::Create(Options(), nullptr, broker_.NewReader()).ok());
  ExactlyOnceEgressOptions no_topic = Options();
  no_topic.control_topic.clear();
  EXPECT_FALSE(
      ExactlyOnceEgress::Create(no_topic, broker_.NewProducer(kTxnId), broker_.NewReader()).ok());
}

TEST_F(ExactlyOnceEgressTest, ConcurrentAppendsWhileSealingAndCommittingLoseNothing) {
  auto egress = Started();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(egress->Append({"out", "", std::to_string(t) + "-" + std::to_string(i), {}})
                        .ok());
      }
      done.fetch_add(1);
    });
  }
  uint64_t checkpoint = 0;
  while (done.load() < kThreads) {
    ASSERT_TRUE(egress->SealEpoch(++checkpoint).ok());
    ASSERT_TRUE(egress->OnCheckpointComplete(checkpoint).ok());
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(egress->SealEpoch(++checkpoint).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(checkpoint).ok());
  V values = Committed();
  EXPECT_EQ(values.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(std::set<std::string>(values.begin(), values.end()).size(), values.size());
}

TEST_F(ExactlyOnceEgressTest, AdapterAcceptsKafkaProducerRecords) {
  auto egress = Started();
  EgressPtr adapter = MakeExactlyOnceEgressAdapter("ns/out", egress.get());
  io::statefun::sdk::egress::KafkaProducerRecord record;
  record.set_topic("out");
  record.set_key("k");
  record.set_value_bytes("v");
  TypedValue good{std::string(types::kKafkaProducerRecord), true, record.SerializeAsString()};
  ASSERT_TRUE(adapter->Validate(good).ok());
  ASSERT_TRUE(adapter->Send(good, 123).ok());
  TypedValue wrong = good;
  wrong.type_name = "io.statefun.types/string";
  EXPECT_EQ(adapter->Send(wrong, 0).code(), StatusCode::kInvalidArgument);
  TypedValue garbage = good;
  garbage.value = "\xff\xff\xff";
  EXPECT_EQ(adapter->Validate(garbage).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(adapter->Flush(1s).ok());
  EXPECT_EQ(egress->OpenRecords(), 1u);
  ASSERT_TRUE(egress->SealEpoch(1).ok());
  ASSERT_TRUE(egress->OnCheckpointComplete(1).ok());
  auto records = broker_.Read("out", Isolation::kReadCommitted);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "k");
  EXPECT_EQ(records[0].value, "v");
}

}  // namespace
}  // namespace eddy
