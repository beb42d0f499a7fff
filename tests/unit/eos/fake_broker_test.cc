// The fake transactional broker itself: the Kafka rules the protocol tests rely on.

#include <gtest/gtest.h>

#include "io/kafka/eos/fake_transactional_broker.h"

namespace eddy::eos {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> Values(const FakeTransactionalBroker& broker, const std::string& topic,
                                Isolation isolation) {
  std::vector<std::string> out;
  for (const FakeRecord& r : broker.Read(topic, isolation)) out.push_back(r.value);
  return out;
}

using V = std::vector<std::string>;

EgressRecord Rec(const std::string& v) { return {"t", "", v, {}}; }

TEST(FakeBrokerTest, ReadCommittedSeesOnlyCommittedRecords) {
  FakeTransactionalBroker broker;
  auto p = broker.NewProducer("a");
  ASSERT_TRUE(p->InitTransactions(1s).ok());
  ASSERT_TRUE(p->BeginTransaction().ok());
  ASSERT_TRUE(p->Produce(Rec("1")).ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadUncommitted), V{"1"});
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{});  // open
  ASSERT_TRUE(p->CommitTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{"1"});

  ASSERT_TRUE(p->BeginTransaction().ok());
  ASSERT_TRUE(p->Produce(Rec("2")).ok());
  ASSERT_TRUE(p->AbortTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{"1"});  // aborted
  EXPECT_EQ(Values(broker, "t", Isolation::kReadUncommitted), (V{"1", "2"}));
  // Control markers take offsets, as in Kafka: 1 @0, commit @1, 2 @2, abort @3.
  EXPECT_EQ(broker.Read("t", Isolation::kReadUncommitted)[1].offset, 2);
  EXPECT_EQ(broker.Stats("a").commits, 1);
  EXPECT_EQ(broker.Stats("a").aborts, 1);
}

TEST(FakeBrokerTest, OpenTransactionHoldsBackLaterCommittedRecords) {
  FakeTransactionalBroker broker;  // one partition: the last stable offset applies
  auto open = broker.NewProducer("open");
  auto other = broker.NewProducer("other");
  ASSERT_TRUE(open->InitTransactions(1s).ok());
  ASSERT_TRUE(other->InitTransactions(1s).ok());
  ASSERT_TRUE(open->BeginTransaction().ok());
  ASSERT_TRUE(open->Produce(Rec("open")).ok());
  ASSERT_TRUE(other->BeginTransaction().ok());
  ASSERT_TRUE(other->Produce(Rec("later")).ok());
  ASSERT_TRUE(other->CommitTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{});
  ASSERT_TRUE(open->AbortTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{"later"});
}

TEST(FakeBrokerTest, NewerInstanceFencesOlderAndAbortsItsTransaction) {
  FakeTransactionalBroker broker;
  auto old_p = broker.NewProducer("id");
  ASSERT_TRUE(old_p->InitTransactions(1s).ok());
  ASSERT_TRUE(old_p->BeginTransaction().ok());
  ASSERT_TRUE(old_p->Produce(Rec("zombie")).ok());

  auto new_p = broker.NewProducer("id");
  ASSERT_TRUE(new_p->InitTransactions(1s).ok());
  EXPECT_EQ(broker.Stats("id").coordinator_aborts, 1);

  TxnStatus st = old_p->Produce(Rec("more"));
  EXPECT_EQ(st.error_class, TxnErrorClass::kFatal);
  EXPECT_TRUE(st.fenced);
  EXPECT_NE(st.status.message().find("PRODUCER_FENCED"), std::string::npos);
  EXPECT_TRUE(old_p->CommitTransaction().fenced);
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{});

  ASSERT_TRUE(new_p->BeginTransaction().ok());
  ASSERT_TRUE(new_p->Produce(Rec("fresh")).ok());
  ASSERT_TRUE(new_p->CommitTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{"fresh"});
}

TEST(FakeBrokerTest, TransactionTimeoutAbortsAndRequiresAbort) {
  FakeTransactionalBroker broker;
  auto p = broker.NewProducer("id", 1000ms);
  ASSERT_TRUE(p->InitTransactions(1s).ok());
  ASSERT_TRUE(p->BeginTransaction().ok());
  ASSERT_TRUE(p->Produce(Rec("late")).ok());
  broker.AdvanceTime(1500ms);
  EXPECT_EQ(broker.Stats("id").coordinator_aborts, 1);
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{});  // aborted, not open
  EXPECT_EQ(p->Produce(Rec("x")).error_class, TxnErrorClass::kAbortable);
  EXPECT_EQ(p->CommitTransaction().error_class, TxnErrorClass::kAbortable);
  ASSERT_TRUE(p->AbortTransaction().ok());
  ASSERT_TRUE(p->BeginTransaction().ok());
  ASSERT_TRUE(p->Produce(Rec("ok")).ok());
  ASSERT_TRUE(p->CommitTransaction().ok());
  EXPECT_EQ(Values(broker, "t", Isolation::kReadCommitted), V{"ok"});
}

TEST(FakeBrokerTest, FaultsAreOneShotAndStateErrorsAreFatal) {
  FakeTransactionalBroker broker;
  auto p = broker.NewProducer("id");
  EXPECT_EQ(p->BeginTransaction().error_class, TxnErrorClass::kFatal);  // before init

  auto q = broker.NewProducer("id");
  broker.InjectFault("id", FakeOp::kInit, FakeFault::kRetriable, 2);
  EXPECT_EQ(q->InitTransactions(1s).error_class, TxnErrorClass::kRetriable);
  EXPECT_EQ(q->InitTransactions(1s).error_class, TxnErrorClass::kRetriable);
  ASSERT_TRUE(q->InitTransactions(1s).ok());
  ASSERT_TRUE(q->BeginTransaction().ok());
  broker.InjectFault("id", FakeOp::kProduce, FakeFault::kDeliveryFailure);
  ASSERT_TRUE(q->Produce(Rec("lost")).ok());  // accepted, never delivered
  EXPECT_EQ(q->CommitTransaction().error_class, TxnErrorClass::kAbortable);
  ASSERT_TRUE(q->AbortTransaction().ok());
  EXPECT_EQ(q->AbortTransaction().error_class, TxnErrorClass::kFatal);  // not in a transaction
}

TEST(FakeBrokerTest, KeysPickStablePartitions) {
  FakeTransactionalBroker broker(4);
  auto p = broker.NewProducer("id");
  ASSERT_TRUE(p->InitTransactions(1s).ok());
  ASSERT_TRUE(p->BeginTransaction().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(p->Produce({"t", "same", std::to_string(i), {}}).ok());
  ASSERT_TRUE(p->CommitTransaction().ok());
  auto records = broker.Read("t", Isolation::kReadCommitted);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].partition, records[2].partition);
  EXPECT_EQ(records[2].value, "2");  // order kept within the partition
}

}  // namespace
}  // namespace eddy::eos
