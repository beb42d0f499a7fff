// The gRPC side of the coordinator (eddy.coordinator.v1.Coordinator/Session) and
// StartEmbeddedCoordinator. One SessionReactor per worker stream; every event goes to the
// CoordinatorLoop thread, which owns the CheckpointCoordinator.
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <deque>
#include <mutex>

#include "coordinator/coordinator_loop.h"
#include "eddy/coordinator.grpc.pb.h"
#include "eddy/coordinator/coordinator.h"

namespace eddy::coordinator {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;  // acks list every file of a worker's snapshot

grpc::Status ToGrpc(const Status& st) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (st.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case StatusCode::kAlreadyExists: code = grpc::StatusCode::ALREADY_EXISTS; break;
    case StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case StatusCode::kDeadlineExceeded: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case StatusCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case StatusCode::kDataLoss: code = grpc::StatusCode::DATA_LOSS; break;
    case StatusCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, st.message());
}

class SessionReactor;

// The coordinator's handle on a stream. It holds the reactor weakly: the reactor lives until
// gRPC calls OnDone, after which Send and Close do nothing.
class GrpcWorkerSession : public WorkerSession {
 public:
  explicit GrpcWorkerSession(std::weak_ptr<SessionReactor> reactor)
      : reactor_(std::move(reactor)) {}
  void Send(const v1::CoordinatorMessage& message) override;
  void Close(const Status& reason) override;

  SessionId id = 0;  // set and read on the loop thread only

 private:
  std::weak_ptr<SessionReactor> reactor_;
};

// Writes are queued and sent one at a time. Our mutex is never held while calling into gRPC
// (StartWrite / Finish may complete inline); the shared_ptr self-reference keeps the reactor
// alive until OnDone, and callers from the loop thread hold a shared_ptr while they call in.
class SessionReactor : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage> {
 public:
  explicit SessionReactor(CoordinatorLoop* loop) : loop_(loop) {}

  void Begin(const std::shared_ptr<SessionReactor>& self) {
    self_ = self;
    session_ = std::make_shared<GrpcWorkerSession>(self);
    auto session = session_;
    CoordinatorLoop* loop = loop_;
    loop_->Post([loop, session] { session->id = loop->core().OpenSession(session); });
    // Lets the client tell "accepted" from "still connecting" (WaitForInitialMetadata).
    StartSendInitialMetadata();
    StartRead(&in_);
  }

  void Send(const v1::CoordinatorMessage& message) {
    const v1::CoordinatorMessage* next = nullptr;
    {
      std::lock_guard lock(mu_);
      if (finish_requested_ || write_failed_) return;
      out_.push_back(message);
      if (writing_) return;
      writing_ = true;
      next = &out_.front();
    }
    StartWrite(next);
  }

  void Close(const Status& reason) {
    {
      std::lock_guard lock(mu_);
      if (finish_requested_) return;
      finish_requested_ = true;
      finish_status_ = ToGrpc(reason);
      if (writing_) return;  // OnWriteDone finishes after the queue drains
      finish_called_ = true;
    }
    Finish(finish_status_);
  }

  void OnSendInitialMetadataDone(bool) override {}

  void OnReadDone(bool ok) override {
    auto session = session_;
    CoordinatorLoop* loop = loop_;
    if (!ok) {
      loop->Post([loop, session] {
        loop->core().CloseSession(session->id, Unavailable("the worker ended the stream"));
      });
      Close(Status::Ok());
      return;
    }
    v1::WorkerMessage message = std::move(in_);
    in_.Clear();
    loop->Post([loop, session, message = std::move(message)] {
      (void)loop->core().HandleMessage(session->id, message);  // errors are logged and answered
    });
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    const v1::CoordinatorMessage* next = nullptr;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      out_.pop_front();
      if (!ok) {
        write_failed_ = true;  // the stream is broken; the read side reports the end
        out_.clear();
      }
      if (!out_.empty()) {
        next = &out_.front();
      } else {
        writing_ = false;
        if (finish_requested_ && !finish_called_) finish = finish_called_ = true;
      }
    }
    if (next) {
      StartWrite(next);
    } else if (finish) {
      Finish(finish_status_);
    }
  }

  void OnDone() override {
    auto session = session_;
    CoordinatorLoop* loop = loop_;
    loop->Post([loop, session] {
      loop->core().CloseSession(session->id, Unavailable("the stream ended"));
    });
    self_.reset();  // may destroy this
  }

 private:
  CoordinatorLoop* const loop_;
  std::shared_ptr<SessionReactor> self_;
  std::shared_ptr<GrpcWorkerSession> session_;
  v1::WorkerMessage in_;
  std::mutex mu_;
  std::deque<v1::CoordinatorMessage> out_;  // front = being written; deque keeps it in place
  bool writing_ = false;
  bool write_failed_ = false;
  bool finish_requested_ = false;
  bool finish_called_ = false;
  grpc::Status finish_status_;
};

void GrpcWorkerSession::Send(const v1::CoordinatorMessage& message) {
  if (auto r = reactor_.lock()) r->Send(message);
}
void GrpcWorkerSession::Close(const Status& reason) {
  if (auto r = reactor_.lock()) r->Close(reason);
}

class CoordinatorServiceImpl final : public v1::Coordinator::CallbackService {
 public:
  explicit CoordinatorServiceImpl(CoordinatorLoop* loop) : loop_(loop) {}

  grpc::ServerBidiReactor<v1::WorkerMessage, v1::CoordinatorMessage>* Session(
      grpc::CallbackServerContext* context) override {
    (void)context;
    auto reactor = std::make_shared<SessionReactor>(loop_);
    reactor->Begin(reactor);
    return reactor.get();
  }

 private:
  CoordinatorLoop* const loop_;
};

class CoordinatorHandleImpl : public CoordinatorHandle {
 public:
  ~CoordinatorHandleImpl() override { Stop(); }
  const std::string& address() const override { return address_; }
  CoordinatorStatus status() override { return loop_->core().status(); }
  void RequestCheckpoint() override {
    loop_->core().RequestCheckpoint();
    loop_->Wake();
  }
  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    // An immediate deadline cancels the worker streams instead of waiting for them to end.
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
    loop_->Stop();
    spdlog::info("coordinator: stopped (was listening on {})", address_);
  }

  std::unique_ptr<CoordinatorLoop> loop_;
  std::unique_ptr<CoordinatorServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

// "host:port" -> host, or "" when there is no port.
std::string HostOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? std::string() : address.substr(0, colon);
}

}  // namespace

Result<CoordinatorHandlePtr> StartCoordinatorWithStore(const CoordinatorConfig& config,
                                                       storage::ObjectStorePtr store,
                                                       Clock* clock) {
  if (HostOf(config.listen_address).empty()) {
    return InvalidArgument("listen_address must be host:port, got '" + config.listen_address +
                           "'");
  }
  if (!clock) clock = SystemClock();
  auto core = CheckpointCoordinator::Create(config.checkpoint, std::move(store), clock);
  if (!core.ok()) return core.status();

  auto handle = std::make_unique<CoordinatorHandleImpl>();
  handle->loop_ = std::make_unique<CoordinatorLoop>(std::move(core).value(), clock);
  handle->service_ = std::make_unique<CoordinatorServiceImpl>(handle->loop_.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config.listen_address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(handle->service_.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Workers never share a port with another server: fail instead of silently sharing it.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  handle->loop_->Start();
  handle->server_ = builder.BuildAndStart();
  if (!handle->server_ || port == 0) {
    handle->loop_->Stop();
    handle->stopped_ = true;
    // Usually the port is taken or the host is not local: a runtime problem, not a bad setting.
    return Unavailable("coordinator: cannot listen on '" + config.listen_address + "'");
  }
  handle->address_ = HostOf(config.listen_address) + ":" + std::to_string(port);
  spdlog::info("coordinator: listening on {}, checkpoints in {}", handle->address_,
               handle->loop_->core().DescribeStore());
  return CoordinatorHandlePtr(std::move(handle));
}

Result<CoordinatorHandlePtr> StartEmbeddedCoordinator(const CoordinatorConfig& config,
                                                      Clock* clock) {
  EDDY_RETURN_IF_ERROR(ValidateCoordinatorConfig(config));
  auto store = storage::OpenObjectStore(config.storage);
  if (!store.ok()) return store.status();
  return StartCoordinatorWithStore(config, std::move(store).value(), clock);
}

}  // namespace eddy::coordinator
