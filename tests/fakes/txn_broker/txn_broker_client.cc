#include "fakes/txn_broker/txn_broker_client.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fake_txn_broker.grpc.pb.h"
#include "fakes/txn_broker/proto_convert.h"

namespace eddy::testing {
namespace {

namespace pb = eddy::testing::txn::v1;
using namespace std::chrono_literals;

std::unique_ptr<pb::FakeTxnBroker::Stub> NewStub(const std::string& target) {
  return pb::FakeTxnBroker::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

void SetDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

class RemoteProducer final : public TransactionalProducer {
 public:
  RemoteProducer(std::string target, std::string id, std::chrono::milliseconds timeout)
      : target_(std::move(target)), id_(std::move(id)), timeout_(timeout) {}

  const std::string& transactional_id() const override { return id_; }

  TxnStatus InitTransactions(std::chrono::milliseconds timeout) override {
    if (stub_ == nullptr) {
      stub_ = NewStub(target_);
      grpc::ClientContext ctx;
      SetDeadline(ctx, 10s);
      pb::NewProducerRequest request;
      request.set_transactional_id(id_);
      request.set_transaction_timeout_ms(timeout_.count());
      pb::NewProducerReply reply;
      grpc::Status st = stub_->NewProducer(&ctx, request, &reply);
      if (!st.ok()) {
        stub_.reset();
        return TxnStatus::Retriable("fake broker " + target_ + ": " + st.error_message());
      }
      handle_ = reply.handle();
    }
    pb::TxnRequest request;
    request.set_op(pb::TXN_OP_INIT);
    request.set_timeout_ms(timeout.count());
    return Call(request);
  }
  TxnStatus BeginTransaction() override { return Op(pb::TXN_OP_BEGIN); }
  TxnStatus Produce(const EgressRecord& record) override {
    pb::TxnRequest request;
    request.set_op(pb::TXN_OP_PRODUCE);
    txn::SetRecord(request.mutable_record(), record.topic, record.key, record.value,
                   record.headers);
    return Call(request);
  }
  TxnStatus CommitTransaction() override { return Op(pb::TXN_OP_COMMIT); }
  TxnStatus AbortTransaction() override { return Op(pb::TXN_OP_ABORT); }

 private:
  TxnStatus Op(pb::TxnOp op) {
    pb::TxnRequest request;
    request.set_op(op);
    return Call(request);
  }

  TxnStatus Call(pb::TxnRequest& request) {
    if (stub_ == nullptr) return TxnStatus::Fatal("InitTransactions first");
    request.set_handle(handle_);
    grpc::ClientContext ctx;
    SetDeadline(ctx, 10s);
    pb::TxnReply reply;
    grpc::Status st = stub_->Txn(&ctx, request, &reply);
    if (!st.ok()) {
      return TxnStatus::Fatal("fake broker " + target_ + ": " + st.error_message());
    }
    switch (static_cast<TxnErrorClass>(reply.error_class())) {
      case TxnErrorClass::kNone:
        return TxnStatus::Ok();
      case TxnErrorClass::kRetriable:
        return TxnStatus::Retriable(reply.message());
      case TxnErrorClass::kAbortable:
        return TxnStatus::Abortable(reply.message());
      case TxnErrorClass::kFatal:
        return TxnStatus::Fatal(reply.message(), reply.fenced());
    }
    return TxnStatus::Fatal("fake broker: unknown error class " +
                            std::to_string(reply.error_class()));
  }

  std::string target_;
  std::string id_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<pb::FakeTxnBroker::Stub> stub_;
  int64_t handle_ = 0;
};

class RemoteReader final : public ControlTopicReader {
 public:
  explicit RemoteReader(std::string target) : target_(std::move(target)) {}

  Result<std::vector<ControlRecord>> ReadCommitted(const std::string& topic,
                                                   std::chrono::milliseconds timeout) override {
    auto records = Read(target_, topic, true, timeout);
    if (!records.ok()) return records.status();
    std::vector<ControlRecord> out;
    for (eos::FakeRecord& r : records.value()) {
      out.push_back({r.partition, r.offset, std::move(r.key), std::move(r.value)});
    }
    return out;
  }

  static Result<std::vector<eos::FakeRecord>> Read(const std::string& target,
                                                   const std::string& topic, bool committed,
                                                   std::chrono::milliseconds timeout) {
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    pb::ReadRequest request;
    request.set_topic(topic);
    request.set_read_committed(committed);
    pb::ReadReply reply;
    grpc::Status st = NewStub(target)->Read(&ctx, request, &reply);
    if (!st.ok()) return Unavailable("fake broker " + target + ": " + st.error_message());
    std::vector<eos::FakeRecord> out;
    for (const pb::Record& r : reply.records()) {
      out.push_back(
          {r.topic(), r.partition(), r.offset(), r.key(), r.value(), txn::HeadersOf(r)});
    }
    return out;
  }

 private:
  std::string target_;
};

}  // namespace

TransactionalProducerPtr MakeRemoteTxnProducer(const std::string& target,
                                               std::string transactional_id,
                                               std::chrono::milliseconds transaction_timeout) {
  return std::make_unique<RemoteProducer>(target, std::move(transactional_id),
                                          transaction_timeout);
}

ControlTopicReaderPtr MakeRemoteControlReader(const std::string& target) {
  return std::make_unique<RemoteReader>(target);
}

Result<std::vector<eos::FakeRecord>> ReadRemoteTopic(const std::string& target,
                                                     const std::string& topic,
                                                     bool read_committed) {
  return RemoteReader::Read(target, topic, read_committed, 10s);
}

Result<std::vector<std::string>> InjectRemoteFault(const std::string& target,
                                                   const std::string& transactional_id,
                                                   eos::FakeOp op, eos::FakeFault fault,
                                                   int times) {
  grpc::ClientContext ctx;
  SetDeadline(ctx, 10s);
  pb::InjectRequest request;
  request.set_transactional_id(transactional_id);
  request.set_op(txn::ToProto(op));
  request.set_fault(txn::ToProto(fault));
  request.set_times(times);
  pb::InjectReply reply;
  grpc::Status st = NewStub(target)->Inject(&ctx, request, &reply);
  if (!st.ok()) return Unavailable("fake broker " + target + ": " + st.error_message());
  return std::vector<std::string>(reply.transactional_ids().begin(),
                                  reply.transactional_ids().end());
}

Result<std::unique_ptr<FakeTxnBrokerProcess>> FakeTxnBrokerProcess::Start(
    const std::string& dir) {
  std::string port_file = dir + "/txn-broker.port";
  std::filesystem::remove(port_file);
  auto process = ChildProcess::Spawn(
      {BuildBinary("eddy-fake-txn-broker"), "--port-file", port_file}, dir + "/txn-broker.log");
  if (!process.ok()) return process.status();
  auto deadline = std::chrono::steady_clock::now() + 15s;
  std::string port;
  while (port.empty()) {
    std::ifstream(port_file) >> port;
    if (!port.empty()) break;
    if (!process->Running()) {
      return Unavailable("eddy-fake-txn-broker exited: " + process->Log());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceeded("eddy-fake-txn-broker did not start: " + process->Log());
    }
    std::this_thread::sleep_for(10ms);
  }
  return std::unique_ptr<FakeTxnBrokerProcess>(
      new FakeTxnBrokerProcess(std::move(process).value(), "127.0.0.1:" + port));
}

}  // namespace eddy::testing
