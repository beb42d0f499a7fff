// The librdkafka implementations against a real eddy-dev-kafka process (librdkafka's mock
// cluster). Its transactions are a stub (test-infra.md): every transactional call succeeds, a
// read_committed consumer also sees open and aborted records, and a second producer with the same
// transactional.id does not fence the first. So these tests check only what the mock can show:
// the call sequence init -> begin -> produce -> marker -> commit goes through librdkafka without
// errors, the records and the marker arrive, the read_committed reader reads a topic to its end,
// and librdkafka's own local checks (state errors, configuration rules) are classified right.
// Visibility, abort and fencing are tested against the fake (exactly_once_egress_test.cc).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "eddy/io/exactly_once_egress.h"
#include "fakes/dev_kafka.h"
#include "io/kafka/eos/eos_codec.h"

namespace eddy {
namespace {

using testing::DevKafkaProcess;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kControl(kDefaultEgressControlTopic);

class KafkaEosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = DevKafkaProcess::Start({"out:1", kControl + ":1"});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }

  KafkaEgressSpec Spec() {
    KafkaEgressSpec spec;
    spec.id = "ns/out";
    spec.address = broker_->bootstrap();
    spec.delivery_semantic = "exactly-once";
    spec.transaction_timeout = Millis(10000);
    spec.properties = {{"linger.ms", "1"}};
    return spec;
  }

  std::unique_ptr<ExactlyOnceEgress> MakeEgress(const std::string& txn_id) {
    auto producer = MakeKafkaTransactionalProducer(Spec(), txn_id);
    EXPECT_TRUE(producer.ok()) << producer.status().ToString();
    auto reader = MakeKafkaControlTopicReader(broker_->bootstrap());
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    ExactlyOnceEgressOptions options;
    options.job = "job";
    options.worker = "w1";
    options.egress_id = "ns/out";
    options.init_timeout = 10s;
    options.read_timeout = 10s;
    options.retry_backoff = 10ms;
    auto egress = ExactlyOnceEgress::Create(options, std::move(producer).value(),
                                            std::move(reader).value());
    EXPECT_TRUE(egress.ok()) << egress.status().ToString();
    return std::move(egress).value();
  }

  Result<std::vector<ControlRecord>> ReadAll(const std::string& topic) {
    auto reader = MakeKafkaControlTopicReader(broker_->bootstrap());
    if (!reader.ok()) return reader.status();
    return (*reader)->ReadCommitted(topic, 10s);
  }

  std::unique_ptr<DevKafkaProcess> broker_;
};

TEST_F(KafkaEosTest, TransactionalCallSequenceDeliversRecordsAndMarker) {
  const std::string txn_id = EosTransactionalId("job", "w1", "ns/out");
  auto egress = MakeEgress(txn_id);
  ASSERT_TRUE(egress->Start().ok());
  ASSERT_TRUE(egress->Append({"out", "alice", "hello", {{"h", "1"}}}).ok());
  ASSERT_TRUE(egress->Append({"out", "", std::string("\0bin", 4), {}}).ok());
  std::string sealed = egress->SealEpoch(1).value();
  Status st = egress->OnCheckpointComplete(1);
  ASSERT_TRUE(st.ok()) << st.ToString();

  // The reader reads each topic to its end (the mock shows every record, whatever the
  // isolation level, so this checks arrival and the read-to-end logic, not visibility).
  auto out = ReadAll("out");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].key, "alice");
  EXPECT_EQ((*out)[0].value, "hello");
  EXPECT_EQ((*out)[1].key, "");
  EXPECT_EQ((*out)[1].value, std::string("\0bin", 4));

  auto markers = ReadAll(kControl);
  ASSERT_TRUE(markers.ok()) << markers.status().ToString();
  ASSERT_EQ(markers->size(), 1u);
  EXPECT_EQ((*markers)[0].key, txn_id);
  auto marker = eos::DecodeMarker((*markers)[0].value);
  ASSERT_TRUE(marker.ok()) << marker.status().ToString();
  EXPECT_EQ(marker->epoch, 1u);
  EXPECT_EQ(marker->worker, "w1");
  EXPECT_EQ(marker->run_id, egress->run_id());

  // A restarted instance (init_transactions again with the same id) finds the marker through
  // the librdkafka reader and produces nothing more.
  egress.reset();
  auto restarted = MakeEgress(txn_id);
  st = restarted->Recover(1, sealed);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(restarted->LastCommittedEpoch(), 1u);
  EXPECT_EQ(ReadAll("out")->size(), 2u);
  EXPECT_EQ(ReadAll(kControl)->size(), 1u);

  // Epoch 2 on the restarted instance: a second transaction on the same producer.
  ASSERT_TRUE(restarted->Append({"out", "bob", "again", {}}).ok());
  ASSERT_TRUE(restarted->SealEpoch(2).ok());
  st = restarted->OnCheckpointComplete(2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ReadAll("out")->size(), 3u);
  EXPECT_EQ(ReadAll(kControl)->size(), 2u);
}

TEST_F(KafkaEosTest, RecoverProducesAnEpochWhoseMarkerIsMissing) {
  const std::string txn_id = EosTransactionalId("job", "w2");
  std::string sealed;
  {
    auto egress = MakeEgress(txn_id);
    ASSERT_TRUE(egress->Start().ok());
    ASSERT_TRUE(egress->Append({"out", "k", "v", {}}).ok());
    sealed = egress->SealEpoch(1).value();
  }
  auto restarted = MakeEgress(txn_id);
  Status st = restarted->Recover(1, sealed);
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto out = ReadAll("out");
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].value, "v");
}

TEST_F(KafkaEosTest, ReaderReturnsEmptyForEmptyOrUnknownTopics) {
  auto empty = ReadAll("out");
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->empty());
  auto unknown = ReadAll("never-created");
  ASSERT_TRUE(unknown.ok()) << unknown.status().ToString();
  EXPECT_TRUE(unknown->empty());
}

TEST_F(KafkaEosTest, LibrdkafkaStateErrorsAreClassifiedFatal) {
  auto producer = MakeKafkaTransactionalProducer(Spec(), "eddy-state-test");
  ASSERT_TRUE(producer.ok());
  // librdkafka checks these locally: begin/produce before init_transactions -> __STATE, which is
  // neither retriable nor abortable, so "treat as fatal" (rdkafka.h).
  TxnStatus st = (*producer)->BeginTransaction();
  EXPECT_EQ(st.error_class, TxnErrorClass::kFatal) << st.ToString();
  EXPECT_THAT(st.status.message(), HasSubstr("begin_transaction"));
  ASSERT_TRUE((*producer)->InitTransactions(10s).ok());
  st = (*producer)->Produce({"out", "", "outside a transaction", {}});
  EXPECT_NE(st.error_class, TxnErrorClass::kNone) << "produce outside a transaction accepted";
  st = (*producer)->CommitTransaction();
  EXPECT_NE(st.error_class, TxnErrorClass::kNone) << "commit without a transaction accepted";
}

TEST_F(KafkaEosTest, RejectsBadConfiguration) {
  KafkaEgressSpec spec = Spec();
  spec.properties.push_back({"no.such.property", "1"});
  auto bad = MakeKafkaTransactionalProducer(spec, "id");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("no.such.property"));

  // INTRODUCTION.md: message.timeout.ms must not exceed transaction.timeout.ms; librdkafka
  // enforces it when the producer is created.
  spec = Spec();
  spec.properties.push_back({"message.timeout.ms", "60000"});
  bad = MakeKafkaTransactionalProducer(spec, "id");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  EXPECT_FALSE(MakeKafkaTransactionalProducer(Spec(), "").ok());
  EXPECT_FALSE(MakeKafkaControlTopicReader("").ok());
}

}  // namespace
}  // namespace eddy
