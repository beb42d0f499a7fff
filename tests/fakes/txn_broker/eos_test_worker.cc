// eddy-eos-test-worker: eddy-worker whose exactly-once egresses use eddy-fake-txn-broker (at the
// egress's `address`) instead of librdkafka, because the dev broker's transactions are a stub
// (test-infra.md). Everything else, including Kafka ingresses and at-least-once egresses, is the
// stock worker. Test-only: used by checkpoint_crash_it to check egress records exactly once
// across SIGKILLs.
#include "bin/worker_main.h"
#include "fakes/txn_broker/txn_broker_client.h"

int main(int argc, char** argv) {
  eddy::WorkerHooks hooks;
  hooks.transactional_producer = [](const eddy::KafkaEgressSpec& spec, std::string id)
      -> eddy::Result<eddy::TransactionalProducerPtr> {
    // The module parser guarantees a positive transaction timeout for exactly-once egresses.
    return eddy::testing::MakeRemoteTxnProducer(spec.address, std::move(id),
                                                spec.transaction_timeout);
  };
  hooks.control_topic_reader =
      [](const eddy::KafkaEgressSpec& spec) -> eddy::Result<eddy::ControlTopicReaderPtr> {
    return eddy::testing::MakeRemoteControlReader(spec.address);
  };
  return eddy::RunWorkerMain(argc, argv, std::move(hooks));
}
