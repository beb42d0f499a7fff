#pragma once
// Conversions between the fake broker's wire messages (fake_txn_broker.proto) and the C++ types
// both ends use, so the client (txn_broker_client.cc) and the server (txn_broker_main.cc) agree
// by construction. Test-only; includes the generated header, so only those two include it.

#include <string>
#include <utility>
#include <vector>

#include "fake_txn_broker.pb.h"
#include "io/kafka/eos/fake_transactional_broker.h"

namespace eddy::testing::txn {

namespace pb = ::eddy::testing::txn::v1;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline void SetRecord(pb::Record* out, const std::string& topic, const std::string& key,
                      const std::string& value, const Headers& headers) {
  out->set_topic(topic);
  out->set_key(key);
  out->set_value(value);
  for (const auto& [k, v] : headers) {
    pb::Header* h = out->add_headers();
    h->set_key(k);
    h->set_value(v);
  }
}

inline Headers HeadersOf(const pb::Record& r) {
  Headers headers;
  for (const pb::Header& h : r.headers()) headers.emplace_back(h.key(), h.value());
  return headers;
}

// The wire enums are eddy::eos's shifted by one (0 is protobuf's "unspecified").
static_assert(static_cast<int>(eos::FakeOp::kAbort) + 1 == pb::TXN_OP_ABORT);
static_assert(static_cast<int>(eos::FakeFault::kCrashAfter) + 1 == pb::FAULT_CRASH_AFTER);
inline pb::TxnOp ToProto(eos::FakeOp op) {
  return static_cast<pb::TxnOp>(static_cast<int>(op) + 1);
}
inline pb::Fault ToProto(eos::FakeFault fault) {
  return static_cast<pb::Fault>(static_cast<int>(fault) + 1);
}
// Callers check the range first (TXN_OP_INIT..TXN_OP_ABORT, FAULT_RETRIABLE..FAULT_CRASH_AFTER).
inline eos::FakeOp FromProto(pb::TxnOp op) { return static_cast<eos::FakeOp>(op - 1); }
inline eos::FakeFault FromProto(pb::Fault fault) { return static_cast<eos::FakeFault>(fault - 1); }

}  // namespace eddy::testing::txn
