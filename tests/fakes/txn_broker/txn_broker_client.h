#pragma once
// Clients of eddy-fake-txn-broker (txn_broker_main.cc): the TransactionalProducer and
// ControlTopicReader a test worker binary uses instead of librdkafka's, the test's own view of
// the topics, and a launcher. FAKE, for tests only: see fake_transactional_broker.h for what the
// broker models and why it exists. gRPC stays in the .cc.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/io/exactly_once_egress.h"
#include "fakes/process.h"
#include "io/kafka/eos/fake_transactional_broker.h"

namespace eddy::testing {

// `target` is "127.0.0.1:PORT". Nothing connects before InitTransactions. A failed RPC (the
// broker is gone) is a fatal producer error: its outcome is unknown, so the worker must restore.
TransactionalProducerPtr MakeRemoteTxnProducer(const std::string& target,
                                               std::string transactional_id,
                                               std::chrono::milliseconds transaction_timeout);
ControlTopicReaderPtr MakeRemoteControlReader(const std::string& target);

// Data records of `topic` as a read_committed (or read_uncommitted) consumer sees them.
Result<std::vector<eos::FakeRecord>> ReadRemoteTopic(const std::string& target,
                                                     const std::string& topic,
                                                     bool read_committed);

// Arms FakeTransactionalBroker::InjectFault in the broker process for `transactional_id`
// (empty: every transactional id seen so far); returns the ids it was armed for.
Result<std::vector<std::string>> InjectRemoteFault(const std::string& target,
                                                   const std::string& transactional_id,
                                                   eos::FakeOp op, eos::FakeFault fault,
                                                   int times = 1);

// Runs $EDDY_BUILD_DIR/bin/eddy-fake-txn-broker and waits until it serves.
class FakeTxnBrokerProcess {
 public:
  static Result<std::unique_ptr<FakeTxnBrokerProcess>> Start(const std::string& dir);
  const std::string& target() const { return target_; }

 private:
  FakeTxnBrokerProcess(ChildProcess process, std::string target)
      : process_(std::move(process)), target_(std::move(target)) {}
  ChildProcess process_;
  std::string target_;
};

}  // namespace eddy::testing
