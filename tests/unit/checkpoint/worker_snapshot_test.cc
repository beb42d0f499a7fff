#include "eddy/checkpoint/worker_snapshot.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "unit/checkpoint/checkpoint_test_util.h"

namespace eddy::checkpoint {
namespace {

using testing::Addr;

const std::string kSha(64, 'a');

WorkerSnapshot Sample() {
  WorkerSnapshot s;
  s.checkpoint_id = 42;
  s.worker_id = "worker-0";
  s.first_key_group = 0;
  s.last_key_group = 127;
  SnapshotEnvelope from_ingress;
  from_ingress.envelope.target = Addr("shop", "cart", "user-1");
  from_ingress.envelope.argument = TypedValue{"io.statefun.types/string", true, "hello"};
  SnapshotEnvelope in_flight;
  in_flight.envelope.target = Addr("shop", "cart", "");  // empty ids are legal
  in_flight.envelope.caller = Addr("shop", "checkout", "o-9");
  in_flight.envelope.argument = TypedValue{"x/y", false, ""};
  in_flight.in_flight = true;
  SnapshotEnvelope binary;
  binary.envelope.target = Addr("ns", "fn", std::string("a\0b", 3));
  binary.envelope.argument = TypedValue{"t/bytes", true, std::string("\0\xff\x01", 3)};
  s.pending = {from_ingress, in_flight, binary};
  s.ingress_positions = {{"shop/orders", "orders", 0, 1000}, {"shop/orders", "orders", 3, 0},
                         {"shop/clicks", "clicks", 0, 7}};
  s.sealed_egresses = {{"shop/out", std::string("\x01\x00egress", 8)}, {"shop/audit", ""}};
  s.metadata = {{"created_unix_ms", "1700000000000"}, {"eddy_version", "0.1"}};
  s.db_files = {{"sst/w0/000012-" + kSha + ".sst", "000012.sst", 1234, kSha},
                {"chk-42/worker-0/CURRENT", "CURRENT", 16, kSha}};
  return s;
}

void ExpectEqual(const WorkerSnapshot& a, const WorkerSnapshot& b) {
  EXPECT_EQ(a.format_version, b.format_version);
  EXPECT_EQ(a.checkpoint_id, b.checkpoint_id);
  EXPECT_EQ(a.worker_id, b.worker_id);
  EXPECT_EQ(a.first_key_group, b.first_key_group);
  EXPECT_EQ(a.last_key_group, b.last_key_group);
  ASSERT_EQ(a.pending.size(), b.pending.size());
  for (size_t i = 0; i < a.pending.size(); ++i) {
    EXPECT_EQ(a.pending[i].envelope.target, b.pending[i].envelope.target) << i;
    EXPECT_EQ(a.pending[i].envelope.caller, b.pending[i].envelope.caller) << i;
    EXPECT_EQ(a.pending[i].envelope.argument, b.pending[i].envelope.argument) << i;
    EXPECT_EQ(a.pending[i].in_flight, b.pending[i].in_flight) << i;
  }
  ASSERT_EQ(a.ingress_positions.size(), b.ingress_positions.size());
  for (size_t i = 0; i < a.ingress_positions.size(); ++i) {
    EXPECT_EQ(a.ingress_positions[i].ingress_id, b.ingress_positions[i].ingress_id);
    EXPECT_EQ(a.ingress_positions[i].topic, b.ingress_positions[i].topic);
    EXPECT_EQ(a.ingress_positions[i].partition, b.ingress_positions[i].partition);
    EXPECT_EQ(a.ingress_positions[i].next_offset, b.ingress_positions[i].next_offset);
  }
  EXPECT_EQ(a.sealed_egresses, b.sealed_egresses);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.db_files, b.db_files);
}

TEST(WorkerSnapshotTest, RoundTripsEveryField) {
  WorkerSnapshot in = Sample();
  in.pending[0].envelope.epoch = 9;  // not stored
  auto bytes = EncodeWorkerSnapshot(in);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto out = DecodeWorkerSnapshot(*bytes);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectEqual(in, *out);
  EXPECT_EQ(out->pending[0].envelope.epoch, 0u);
  EXPECT_FALSE(out->pending[0].envelope.caller.has_value());
}

TEST(WorkerSnapshotTest, MinimalSnapshotRoundTrips) {
  WorkerSnapshot in;
  in.worker_id = "w";
  auto bytes = EncodeWorkerSnapshot(in);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto out = DecodeWorkerSnapshot(*bytes);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectEqual(in, *out);
}

TEST(WorkerSnapshotTest, EncodingIsDeterministic) {
  WorkerSnapshot a = Sample();
  WorkerSnapshot b = Sample();
  for (int i = 0; i < 50; ++i) {
    a.metadata["k" + std::to_string(i)] = "v";
    b.metadata["k" + std::to_string(49 - i)] = "v";
  }
  auto ea = EncodeWorkerSnapshot(a);
  auto eb = EncodeWorkerSnapshot(b);
  ASSERT_TRUE(ea.ok() && eb.ok());
  EXPECT_EQ(*ea, *eb);
}

TEST(WorkerSnapshotTest, EncodeRefusesWhatDecodeWouldRefuse) {
  struct Case {
    const char* name;
    void (*breaks)(WorkerSnapshot&);
    const char* message;
  };
  const Case cases[] = {
      {"empty worker", [](WorkerSnapshot& s) { s.worker_id.clear(); }, "worker id"},
      {"slash in worker", [](WorkerSnapshot& s) { s.worker_id = "a/b"; }, "worker id"},
      {"reversed range",
       [](WorkerSnapshot& s) {
         s.first_key_group = 5;
         s.last_key_group = 4;
       },
       "key-group range"},
      {"old version", [](WorkerSnapshot& s) { s.format_version = 1; }, "format version 1"},
      {"future version", [](WorkerSnapshot& s) { s.format_version = 3; }, "format version 3"},
      {"no target ns", [](WorkerSnapshot& s) { s.pending[0].envelope.target.type.ns.clear(); },
       "pending envelope #0: target"},
      {"bad caller", [](WorkerSnapshot& s) { s.pending[1].envelope.caller->type.name.clear(); },
       "pending envelope #1: caller"},
      {"negative offset", [](WorkerSnapshot& s) { s.ingress_positions[1].next_offset = -1; },
       "negative"},
      {"negative partition", [](WorkerSnapshot& s) { s.ingress_positions[0].partition = -2; },
       "negative"},
      {"no topic", [](WorkerSnapshot& s) { s.ingress_positions[2].topic.clear(); }, "topic"},
      {"duplicate position",
       [](WorkerSnapshot& s) { s.ingress_positions.push_back(s.ingress_positions[0]); },
       "twice"},
      {"unsafe local name", [](WorkerSnapshot& s) { s.db_files[0].local_name = "../x"; },
       "unsafe local name"},
      {"bad sha", [](WorkerSnapshot& s) { s.db_files[0].sha256 = std::string(64, 'A'); },
       "SHA-256"},
      {"negative size", [](WorkerSnapshot& s) { s.db_files[1].size = -1; }, "negative size"},
      {"duplicate name", [](WorkerSnapshot& s) { s.db_files[1].local_name = "000012.sst"; },
       "twice"},
  };
  for (const Case& c : cases) {
    WorkerSnapshot s = Sample();
    c.breaks(s);
    auto bytes = EncodeWorkerSnapshot(s);
    ASSERT_FALSE(bytes.ok()) << c.name;
    EXPECT_EQ(bytes.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(bytes.status().message().find(c.message), std::string::npos)
        << c.name << ": " << bytes.status().message();
  }
}

TEST(WorkerSnapshotTest, DecodeRejectsGarbageWithInvalidArgument) {
  // protobuf logs every invalid UTF-8 string it meets; expected here.
  google::protobuf::LogSilencer quiet;
  auto empty = DecodeWorkerSnapshot("");
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty"), std::string::npos);

  // Random bytes: must never crash; whatever parses must still pass the invariants.
  std::mt19937_64 rng(7);
  int accepted = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto out = DecodeWorkerSnapshot(bytes);
    if (out.ok()) {
      ++accepted;
      EXPECT_EQ(out->format_version, kWorkerSnapshotFormatVersion);
    } else {
      EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
    }
  }
  EXPECT_LT(accepted, 20);
}

TEST(WorkerSnapshotTest, EveryTruncationAndBitFlipIsRejectedOrValid) {
  // protobuf logs every invalid UTF-8 string it meets; expected here.
  google::protobuf::LogSilencer quiet;
  auto bytes = EncodeWorkerSnapshot(Sample());
  ASSERT_TRUE(bytes.ok());
  int rejected = 0;
  for (size_t n = 0; n < bytes->size(); ++n) {
    auto out = DecodeWorkerSnapshot(std::string_view(*bytes).substr(0, n));
    if (!out.ok()) {
      ++rejected;
      EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_GT(rejected, static_cast<int>(bytes->size()) / 2);
  for (size_t i = 0; i < bytes->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = *bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      auto out = DecodeWorkerSnapshot(flipped);
      if (!out.ok()) {
        EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST(WorkerSnapshotTest, DecodeNamesTheBrokenInvariant) {
  // protobuf logs every invalid UTF-8 string it meets; expected here.
  google::protobuf::LogSilencer quiet;
  // A valid snapshot from the future: version 3.
  WorkerSnapshot s = Sample();
  auto bytes = EncodeWorkerSnapshot(s);
  ASSERT_TRUE(bytes.ok());
  // Field 1 (format_version) is the first byte pair: tag 0x08, value 0x02.
  ASSERT_EQ((*bytes)[0], '\x08');
  ASSERT_EQ((*bytes)[1], '\x02');
  std::string future = *bytes;
  future[1] = '\x03';
  auto out = DecodeWorkerSnapshot(future);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("format version 3"), std::string::npos)
      << out.status().message();

  // Invalid UTF-8 in a proto3 string field (worker_id, field 3) does not parse.
  std::string bad_utf8 = std::string("\x08\x01\x1a\x02\xff\xfe", 6);
  auto utf = DecodeWorkerSnapshot(bad_utf8);
  EXPECT_EQ(utf.status().code(), StatusCode::kInvalidArgument);

  // A pending envelope without a target: field 6, empty message.
  std::string no_target = std::string("\x08\x01\x1a\x01w\x32\x00", 7);
  auto nt = DecodeWorkerSnapshot(no_target);
  ASSERT_FALSE(nt.ok());
  EXPECT_NE(nt.status().message().find("no target"), std::string::npos) << nt.status().message();
}

TEST(WorkerSnapshotTest, KeyOfTheSnapshot) {
  EXPECT_EQ(WorkerSnapshotKey("", 7, "w0"), "chk-7/w0/snapshot.pb");
  EXPECT_EQ(WorkerSnapshotKey("jobs/a", 7, "w0"), "jobs/a/chk-7/w0/snapshot.pb");
}

}  // namespace
}  // namespace eddy::checkpoint
