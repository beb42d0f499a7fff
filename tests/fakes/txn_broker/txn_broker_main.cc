// eddy-fake-txn-broker: FakeTransactionalBroker (src/io/kafka/eos) served over gRPC on loopback,
// for crash tests that SIGKILL a worker in the middle of a Kafka transaction. The broker must
// outlive the worker for that, which an in-process fake cannot. Test-only.
//
//   eddy-fake-txn-broker --port-file FILE
// listens on 127.0.0.1 (a free port), writes the port to FILE once serving, runs until killed.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "fake_txn_broker.grpc.pb.h"
#include "fakes/txn_broker/proto_convert.h"
#include "io/kafka/eos/fake_transactional_broker.h"

namespace eddy::testing {
namespace {

namespace pb = eddy::testing::txn::v1;
using txn::FromProto;

void ToProto(const TxnStatus& st, pb::TxnReply* reply) {
  reply->set_error_class(static_cast<int32_t>(st.error_class));
  reply->set_fenced(st.fenced);
  reply->set_message(st.status.message());
}

class Service final : public pb::FakeTxnBroker::Service {
 public:
  Service() : broker_(/*partitions=*/1) {}

  grpc::Status NewProducer(grpc::ServerContext*, const pb::NewProducerRequest* request,
                           pb::NewProducerReply* reply) override {
    auto producer = broker_.NewProducer(
        request->transactional_id(), std::chrono::milliseconds(request->transaction_timeout_ms()));
    std::lock_guard<std::mutex> lock(mu_);
    ids_.insert(request->transactional_id());
    int64_t handle = ++last_handle_;
    producers_[handle] = std::make_shared<Entry>(std::move(producer));
    reply->set_handle(handle);
    return grpc::Status::OK;
  }

  grpc::Status Txn(grpc::ServerContext*, const pb::TxnRequest* request,
                   pb::TxnReply* reply) override {
    std::shared_ptr<Entry> entry;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = producers_.find(request->handle());
      if (it == producers_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown producer handle");
      }
      entry = it->second;
    }
    // One call at a time per producer, as TransactionalProducer requires.
    std::lock_guard<std::mutex> calls(entry->mu);
    TransactionalProducer& p = *entry->producer;
    switch (request->op()) {
      case pb::TXN_OP_INIT:
        ToProto(p.InitTransactions(std::chrono::milliseconds(request->timeout_ms())), reply);
        break;
      case pb::TXN_OP_BEGIN:
        ToProto(p.BeginTransaction(), reply);
        break;
      case pb::TXN_OP_PRODUCE: {
        const pb::Record& r = request->record();
        ToProto(p.Produce(EgressRecord{r.topic(), r.key(), r.value(), txn::HeadersOf(r)}), reply);
        break;
      }
      case pb::TXN_OP_COMMIT:
        ToProto(p.CommitTransaction(), reply);
        break;
      case pb::TXN_OP_ABORT:
        ToProto(p.AbortTransaction(), reply);
        break;
      default:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown op");
    }
    return grpc::Status::OK;
  }

  grpc::Status Read(grpc::ServerContext*, const pb::ReadRequest* request,
                    pb::ReadReply* reply) override {
    auto records = broker_.Read(request->topic(), request->read_committed()
                                                      ? eos::Isolation::kReadCommitted
                                                      : eos::Isolation::kReadUncommitted);
    for (const eos::FakeRecord& r : records) {
      pb::Record* out = reply->add_records();
      txn::SetRecord(out, r.topic, r.key, r.value, r.headers);
      out->set_partition(r.partition);
      out->set_offset(r.offset);
    }
    return grpc::Status::OK;
  }

  grpc::Status Inject(grpc::ServerContext*, const pb::InjectRequest* request,
                      pb::InjectReply* reply) override {
    if (request->op() < pb::TXN_OP_INIT || request->op() > pb::TXN_OP_ABORT ||
        request->fault() < pb::FAULT_RETRIABLE || request->fault() > pb::FAULT_CRASH_AFTER) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unknown op or fault");
    }
    eos::FakeOp op = FromProto(request->op());
    eos::FakeFault fault = FromProto(request->fault());
    std::set<std::string> ids;
    if (request->transactional_id().empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      ids = ids_;
    } else {
      ids.insert(request->transactional_id());
    }
    for (const std::string& id : ids) {
      broker_.InjectFault(id, op, fault, std::max(1, request->times()));
      reply->add_transactional_ids(id);
    }
    return grpc::Status::OK;
  }

 private:
  struct Entry {
    explicit Entry(TransactionalProducerPtr p) : producer(std::move(p)) {}
    std::mutex mu;
    TransactionalProducerPtr producer;
  };

  eos::FakeTransactionalBroker broker_;
  std::mutex mu_;
  int64_t last_handle_ = 0;
  std::set<std::string> ids_;
  // Producers of killed clients stay: their open transactions stay open on the broker until a
  // newer instance's InitTransactions fences them, as in Kafka.
  std::map<int64_t, std::shared_ptr<Entry>> producers_;
};

int Main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--port-file") {
    std::fprintf(stderr, "usage: eddy-fake-txn-broker --port-file FILE\n");
    return 2;
  }
  std::string port_file = argv[2];
  Service service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "eddy-fake-txn-broker: cannot listen on 127.0.0.1\n");
    return 1;
  }
  // Written to a temporary name and renamed, so a reader never sees a partial port.
  std::string tmp = port_file + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), port_file.c_str());
  std::printf("eddy-fake-txn-broker listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  server->Wait();
  return 0;
}

}  // namespace
}  // namespace eddy::testing

int main(int argc, char** argv) { return eddy::testing::Main(argc, argv); }
