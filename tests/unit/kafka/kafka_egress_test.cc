// Kafka egress and dead-letter sink against a real eddy-dev-kafka broker process.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "eddy/io/kafka.h"
#include "eddy/metrics/metrics.h"
#include "eddy/runtime/progress_tracker.h"
#include "fakes/dev_kafka.h"
#include "statefun/sdk/egress.pb.h"
#include "unit/kafka/kafka_test_util.h"

namespace eddy {
namespace {

using testing::ConsumeRecords;
using testing::DevKafkaProcess;
using testing::TestRecord;
using testing::WaitFor;
using namespace std::chrono_literals;

TypedValue ProducerRecord(const std::string& topic, const std::string& key,
                          const std::string& value) {
  io::statefun::sdk::egress::KafkaProducerRecord record;
  record.set_topic(topic);
  record.set_key(key);
  record.set_value_bytes(value);
  return TypedValue{std::string(types::kKafkaProducerRecord), true, record.SerializeAsString()};
}

class KafkaEgressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = DevKafkaProcess::Start({"out:1", "dlq:1"});
    ASSERT_TRUE(broker.ok()) << broker.status().ToString();
    broker_ = std::move(broker).value();
  }

  KafkaEgressSpec Spec(const std::string& semantic = "at-least-once") {
    KafkaEgressSpec spec;
    spec.id = "test/out";
    spec.address = broker_->bootstrap();
    spec.delivery_semantic = semantic;
    spec.properties = {{"linger.ms", "1"}};
    return spec;
  }

  uint64_t Metric(const std::string& name) {
    return metrics_.GetCounter(name, {{"egress", "test/out"}}).Value();
  }

  std::unique_ptr<DevKafkaProcess> broker_;
  ProgressTracker progress_;
  MetricsRegistry metrics_;
};

TEST_F(KafkaEgressTest, ProducesKeyedRecordsAndReleasesCountsOnAck) {
  auto egress = MakeKafkaEgress(Spec(), &progress_, &metrics_);
  ASSERT_TRUE(egress.ok()) << egress.status().ToString();
  uint64_t epoch = progress_.Pin(1);  // the batch that derives the egress records
  ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "alice", "hello"), epoch).ok());
  ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "bob", std::string("\0bin", 4)), epoch).ok());
  progress_.Release(epoch);
  progress_.CloseEpoch();
  ASSERT_TRUE((*egress)->Flush(10s).ok());
  // Acknowledged: the egress no longer holds counts on the epoch.
  EXPECT_EQ(progress_.CompletedThrough(), 0);
  EXPECT_EQ(Metric("eddy_egress_records_total"), 2u);
  EXPECT_EQ(Metric("eddy_egress_errors_total"), 0u);

  std::vector<TestRecord> got = ConsumeRecords(broker_->bootstrap(), "out", 1, 2, 10s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].key, "alice");
  EXPECT_EQ(got[0].value, "hello");
  EXPECT_EQ(got[1].key, "bob");
  EXPECT_EQ(got[1].value, std::string("\0bin", 4));
}

TEST_F(KafkaEgressTest, EmptyKeyProducesRecordWithoutKey) {
  auto egress = MakeKafkaEgress(Spec("none"), &progress_, &metrics_);
  ASSERT_TRUE(egress.ok());
  ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "", "v"), progress_.Pin(0)).ok());
  ASSERT_TRUE((*egress)->Flush(10s).ok());
  std::vector<TestRecord> got = ConsumeRecords(broker_->bootstrap(), "out", 1, 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].key.has_value());
  EXPECT_EQ(got[0].value, "v");
}

TEST_F(KafkaEgressTest, ExactlyOnceFallsBackToIdempotentProducer) {
  auto egress = MakeKafkaEgress(Spec("exactly-once"), &progress_, &metrics_);
  ASSERT_TRUE(egress.ok()) << egress.status().ToString();
  ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "k", "v"), progress_.Pin(0)).ok());
  ASSERT_TRUE((*egress)->Flush(10s).ok());
  EXPECT_EQ(ConsumeRecords(broker_->bootstrap(), "out", 1, 1, 10s).size(), 1u);
}

TEST_F(KafkaEgressTest, AutoCreatesUnknownTopic) {
  auto egress = MakeKafkaEgress(Spec(), &progress_, &metrics_);
  ASSERT_TRUE(egress.ok());
  ASSERT_TRUE((*egress)->Send(ProducerRecord("brand-new", "k", "v"), progress_.Pin(0)).ok());
  ASSERT_TRUE((*egress)->Flush(10s).ok());
  EXPECT_EQ(Metric("eddy_egress_records_total"), 1u);
}

TEST_F(KafkaEgressTest, RejectsWrongTypeNameAndGarbageWithoutHoldingCounts) {
  auto egress = MakeKafkaEgress(Spec(), &progress_, &metrics_);
  ASSERT_TRUE(egress.ok());
  uint64_t epoch = progress_.Pin(1);
  TypedValue good = ProducerRecord("out", "k", "v");

  TypedValue wrong_type = good;
  wrong_type.type_name = "io.statefun.types/string";
  EXPECT_EQ((*egress)->Send(wrong_type, epoch).code(), StatusCode::kInvalidArgument);
  TypedValue prefix_type = good;  // must match exactly, not just end the same way
  prefix_type.type_name = "io.statefun.sdk.egress.KafkaProducerRecord";
  EXPECT_EQ((*egress)->Send(prefix_type, epoch).code(), StatusCode::kInvalidArgument);
  TypedValue garbage = good;
  garbage.value = "\xff\xff\xff\xff";
  EXPECT_EQ((*egress)->Send(garbage, epoch).code(), StatusCode::kInvalidArgument);
  TypedValue truncated = good;
  truncated.value.resize(truncated.value.size() - 1);
  EXPECT_EQ((*egress)->Send(truncated, epoch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*egress)->Send(ProducerRecord("", "k", "v"), epoch).code(),
            StatusCode::kInvalidArgument);
  TypedValue empty = good;
  empty.has_value = false;
  empty.value.clear();
  EXPECT_EQ((*egress)->Send(empty, epoch).code(), StatusCode::kInvalidArgument);
  // Validate (used to reject a whole reply up front) agrees with Send.
  EXPECT_TRUE((*egress)->Validate(good).ok());
  for (const TypedValue& bad : {wrong_type, prefix_type, garbage, truncated, empty,
                                ProducerRecord("", "k", "v")}) {
    EXPECT_EQ((*egress)->Validate(bad).code(), StatusCode::kInvalidArgument);
  }

  progress_.Release(epoch);
  progress_.CloseEpoch();
  EXPECT_EQ(progress_.CompletedThrough(), 0);  // no count left behind
  EXPECT_EQ(Metric("eddy_egress_records_total"), 0u);
}

TEST_F(KafkaEgressTest, RejectsBadSpecs) {
  KafkaEgressSpec spec = Spec("twice");
  auto r = MakeKafkaEgress(spec, &progress_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("twice"));
  spec = Spec();
  spec.properties.push_back({"not.a.property", "x"});
  r = MakeKafkaEgress(spec, &progress_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("not.a.property"));
  spec = Spec();
  spec.address = "";
  EXPECT_FALSE(MakeKafkaEgress(spec, &progress_, nullptr).ok());
  EXPECT_FALSE(MakeKafkaEgress(Spec(), nullptr, nullptr).ok());
  EXPECT_FALSE(MakeKafkaDeadLetterSink(broker_->bootstrap(), "", &progress_).ok());
}

// A record that cannot be delivered keeps its epoch open for good: the ingress must not commit
// past it (its input is read again after a restart).
TEST_F(KafkaEgressTest, FailedDeliveryHoldsItsCountAndIsCounted) {
  KafkaEgressSpec spec = Spec();
  spec.address = "127.0.0.1:1";  // nothing listens there
  spec.properties.push_back({"message.timeout.ms", "300"});
  auto egress = MakeKafkaEgress(spec, &progress_, &metrics_);
  ASSERT_TRUE(egress.ok());
  uint64_t epoch = progress_.Pin(1);
  ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "k", "v"), epoch).ok());
  progress_.Release(epoch);
  progress_.CloseEpoch();
  EXPECT_EQ(progress_.CompletedThrough(), -1);  // held while undelivered
  EXPECT_EQ((*egress)->Flush(50ms).code(), StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(WaitFor([&] { return Metric("eddy_egress_errors_total") == 1; }, 5s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(progress_.CompletedThrough(), -1) << "a failed record must not complete its epoch";
  EXPECT_EQ(Metric("eddy_egress_records_total"), 0u);
}

TEST_F(KafkaEgressTest, QueueFullIsBackpressureNotLoss) {
  KafkaEgressSpec spec = Spec();
  spec.properties.push_back({"queue.buffering.max.messages", "10"});
  auto egress = MakeKafkaEgress(spec, &progress_, &metrics_);
  ASSERT_TRUE(egress.ok());
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*egress)->Send(ProducerRecord("out", "k", std::to_string(i)), 0).ok());
  }
  ASSERT_TRUE((*egress)->Flush(10s).ok());
  EXPECT_EQ(Metric("eddy_egress_records_total"), 200u);
  std::vector<TestRecord> got = ConsumeRecords(broker_->bootstrap(), "out", 1, 200, 10s);
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i].value, std::to_string(i));
}

TEST_F(KafkaEgressTest, DeadLetterSinkWritesRecordWithHeaders) {
  auto sink = MakeKafkaDeadLetterSink(broker_->bootstrap(), "dlq", &progress_);
  ASSERT_TRUE(sink.ok()) << sink.status().ToString();
  uint64_t epoch = progress_.Pin(1);
  ASSERT_TRUE(
      (*sink)
          ->Send({"null-key", "kafka:in/0@7", "", "payload", "io.statefun.types/string"}, epoch)
          .ok());
  ASSERT_TRUE(
      (*sink)->Send({"function-failed: Unavailable", "ns/f/id", "id", "arg", "t/x"}, epoch).ok());
  progress_.Release(epoch);
  progress_.CloseEpoch();
  EXPECT_TRUE(WaitFor([&] { return progress_.CompletedThrough() == 0; }, 10s));

  std::vector<TestRecord> got = ConsumeRecords(broker_->bootstrap(), "dlq", 1, 2, 10s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].key.has_value());
  EXPECT_EQ(got[0].value, "payload");
  using Header = std::pair<std::string, std::string>;
  EXPECT_THAT(got[0].headers,
              ::testing::ElementsAre(Header{"eddy-reason", "null-key"},
                                     Header{"eddy-source", "kafka:in/0@7"},
                                     Header{"eddy-value-type", "io.statefun.types/string"}));
  EXPECT_EQ(got[1].key, "id");
  EXPECT_EQ(got[1].value, "arg");
  EXPECT_THAT(got[1].headers,
              ::testing::Contains(Header{"eddy-reason", "function-failed: Unavailable"}));
}

}  // namespace
}  // namespace eddy
