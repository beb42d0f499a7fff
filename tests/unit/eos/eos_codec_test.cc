// Sealed-log and marker formats: round trips and malformed input (clear DataLoss, never a crash).

#include <gtest/gtest.h>

#include <random>

#include "io/kafka/eos/eos_codec.h"

namespace eddy::eos {
namespace {

std::vector<std::shared_ptr<const SealedEpoch>> SampleEpochs() {
  auto e1 = std::make_shared<SealedEpoch>();
  e1->epoch = 3;
  e1->records.push_back({"out", "k1", std::string("v\0\xff", 3), {{"h", "x"}, {"", ""}}});
  e1->records.push_back({"out", "", "", {}});
  auto e2 = std::make_shared<SealedEpoch>();
  e2->epoch = 7;
  e2->records.push_back({"other", "k2", "v2", {}});
  return {e1, e2};
}

TEST(EosCodecTest, SealedLogRoundTrips) {
  auto epochs = SampleEpochs();
  std::string bytes = EncodeSealedLog("run-1", 7, epochs);
  EXPECT_EQ(static_cast<uint8_t>(bytes[4]), kSealedLogVersion);  // after the 4-byte magic
  Result<SealedLog> log = DecodeSealedLog(bytes);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ(log->run_id, "run-1");
  EXPECT_EQ(log->checkpoint_id, 7u);
  ASSERT_EQ(log->epochs.size(), 2u);
  EXPECT_EQ(log->epochs[0], *epochs[0]);
  EXPECT_EQ(log->epochs[1], *epochs[1]);
}

TEST(EosCodecTest, EmptyLogRoundTrips) {
  Result<SealedLog> log = DecodeSealedLog(EncodeSealedLog("r", 1, {}));
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->epochs.empty());
}

TEST(EosCodecTest, EveryTruncationIsDataLoss) {
  std::string bytes = EncodeSealedLog("run-1", 7, SampleEpochs());
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<SealedLog> log = DecodeSealedLog(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(log.ok()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(log.status().message().find("sealed egress log"), std::string::npos);
  }
}

TEST(EosCodecTest, RejectsMalformedLogs) {
  std::string good = EncodeSealedLog("run-1", 7, SampleEpochs());
  auto expect_error = [](std::string bytes, const std::string& what) {
    Result<SealedLog> log = DecodeSealedLog(bytes);
    ASSERT_FALSE(log.ok()) << what;
    EXPECT_EQ(log.status().code(), StatusCode::kDataLoss) << what;
    EXPECT_NE(log.status().message().find(what), std::string::npos) << log.status().ToString();
  };
  expect_error("", "bad magic");
  expect_error("EDMK\x01", "bad magic");  // a marker is not a log
  std::string v2 = good;
  v2[4] = 2;
  expect_error(v2, "unsupported version 2");
  expect_error(good + "x", "1 trailing bytes");

  // Epoch count far beyond what the bytes can hold: refused before allocating.
  std::string huge = EncodeSealedLog("r", 7, {});
  huge.replace(huge.size() - 4, 4, "\xff\xff\xff\x7f");
  expect_error(huge, "epoch count");

  // Epochs out of order / beyond the checkpoint / zero.
  auto one = [](uint64_t epoch) {
    auto e = std::make_shared<SealedEpoch>();
    e->epoch = epoch;
    e->records.push_back({"t", "", "", {}});
    return std::shared_ptr<const SealedEpoch>(e);
  };
  expect_error(EncodeSealedLog("r", 9, {one(5), one(5)}), "out of order");
  expect_error(EncodeSealedLog("r", 9, {one(6), one(5)}), "out of order");
  expect_error(EncodeSealedLog("r", 4, {one(5)}), "out of order");
  expect_error(EncodeSealedLog("r", 4, {one(0)}), "out of order");
  expect_error(EncodeSealedLog("", 4, {one(1)}), "empty run id");

  auto no_topic = std::make_shared<SealedEpoch>();
  no_topic->epoch = 1;
  no_topic->records.push_back({"", "k", "v", {}});
  expect_error(EncodeSealedLog("r", 1, {no_topic}), "record without topic");
}

TEST(EosCodecTest, RandomCorruptionNeverCrashes) {
  std::string good = EncodeSealedLog("run-1", 7, SampleEpochs());
  std::mt19937 rng(42);
  int decoded = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bytes = good;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    Result<SealedLog> log = DecodeSealedLog(bytes);
    if (log.ok()) {
      ++decoded;  // a flip inside a payload byte is undetectable here (checkpoints carry SHA-256)
    } else {
      EXPECT_EQ(log.status().code(), StatusCode::kDataLoss);
    }
  }
  EXPECT_LT(decoded, 5000);
}

TEST(EosCodecTest, MarkerRoundTripsAndRejectsGarbage) {
  CommitMarker m{"eddy-job-w1", "run", "job", "w1", "ns/out", 42};
  Result<CommitMarker> back = DecodeMarker(EncodeMarker(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, m);
  std::string bytes = EncodeMarker(m);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(DecodeMarker(bytes.substr(0, n)).status().code(), StatusCode::kDataLoss);
  }
  EXPECT_FALSE(DecodeMarker(bytes + std::string(1, '\0')).ok());
  EXPECT_FALSE(DecodeMarker("hello world, not a marker").ok());
}

}  // namespace
}  // namespace eddy::eos
