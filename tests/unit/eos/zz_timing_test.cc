#include <gtest/gtest.h>
#include "eddy/io/exactly_once_egress.h"
#include "fakes/dev_kafka.h"
using namespace eddy; using namespace std::chrono_literals;
TEST(T, Timing) {
  auto b = testing::DevKafkaProcess::Start({"out:1", "eddy-egress-commits:1"}).value();
  KafkaEgressSpec spec; spec.id="x"; spec.address=b->bootstrap(); spec.transaction_timeout=Millis(10000);
  spec.properties={{"linger.ms","1"}};
  auto t0 = std::chrono::steady_clock::now();
  auto ms = [&] { return (long)std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(); };
  for (int round = 0; round < 2; ++round) {
    auto p = MakeKafkaTransactionalProducer(spec, "tid").value();
    fprintf(stderr, "init %s %ld\n", p->InitTransactions(10s).ToString().c_str(), ms());
    fprintf(stderr, "begin %s %ld\n", p->BeginTransaction().ToString().c_str(), ms());
    fprintf(stderr, "produce %s %ld\n", p->Produce({"out","k","v",{}}).ToString().c_str(), ms());
    if (round == 0) { fprintf(stderr, "drop\n"); continue; }
    fprintf(stderr, "produce2 %s %ld\n", p->Produce({"eddy-egress-commits","k","v",{}}).ToString().c_str(), ms());
    fprintf(stderr, "commit %s %ld\n", p->CommitTransaction().ToString().c_str(), ms());
  }
}
