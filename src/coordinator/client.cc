// CoordinatorClient over gRPC's synchronous streaming API: one session thread reads (and runs the
// participant callbacks), one heartbeat thread writes heartbeats; Ack / Decline write from the
// caller's thread. Writes on one stream are serialized by the stream's write mutex, as gRPC
// allows one reader and one writer at a time.
#include "eddy/coordinator/client.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "eddy/coordinator.grpc.pb.h"

namespace eddy::coordinator {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

Status CheckOptions(const CoordinatorClientOptions& o) {
  if (o.coordinator_address.empty()) return InvalidArgument("coordinator_address is empty");
  if (o.worker_id.empty()) return InvalidArgument("worker_id is empty");
  for (char c : o.worker_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-';
    if (!ok) return InvalidArgument("worker_id '" + o.worker_id + "' has a character outside " +
                                    "[A-Za-z0-9._~-]");
  }
  if (o.heartbeat_interval.count() <= 0) return InvalidArgument("heartbeat_interval must be > 0");
  if (o.reconnect_backoff_initial.count() <= 0 ||
      o.reconnect_backoff_max < o.reconnect_backoff_initial) {
    return InvalidArgument("reconnect backoff: need 0 < initial <= max");
  }
  return Status::Ok();
}

struct Stream {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> rw;
  std::mutex write_mu;
  bool closed = false;  // guarded by write_mu: no Write after Finish
  std::set<uint64_t> triggered;  // guarded by the client's mu_: triggered, not yet answered

  bool Write(const v1::WorkerMessage& m) {
    std::lock_guard lock(write_mu);
    return !closed && rw->Write(m);
  }
};

class CoordinatorClientImpl : public CoordinatorClient {
 public:
  CoordinatorClientImpl(const CoordinatorClientOptions& options, CheckpointParticipant* p)
      : options_(options), participant_(p) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                static_cast<int>(options.reconnect_backoff_initial.count()));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                static_cast<int>(options.reconnect_backoff_initial.count()));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(options.reconnect_backoff_max.count()));
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    // A fresh connection per client: tests run several "workers" in one process.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(options.coordinator_address,
                                             grpc::InsecureChannelCredentials(), args);
    stub_ = v1::Coordinator::NewStub(channel);
  }

  ~CoordinatorClientImpl() override { Stop(); }

  void StartThreads() {
    session_thread_ = std::thread([this] { RunSessions(); });
    heartbeat_thread_ = std::thread([this] { RunHeartbeats(); });
  }

  Status Ack(uint64_t checkpoint_id, const v1::SnapshotDescription& snapshot) override {
    v1::WorkerMessage m;
    m.mutable_ack()->set_checkpoint_id(checkpoint_id);
    *m.mutable_ack()->mutable_snapshot() = snapshot;
    return Answer(checkpoint_id, m);
  }

  Status Decline(uint64_t checkpoint_id, const std::string& reason) override {
    v1::WorkerMessage m;
    m.mutable_decline()->set_checkpoint_id(checkpoint_id);
    m.mutable_decline()->set_reason(reason);
    return Answer(checkpoint_id, m);
  }

  bool connected() const override {
    std::lock_guard lock(mu_);
    return connected_;
  }

  void Stop() override {
    std::shared_ptr<Stream> s;
    {
      std::lock_guard lock(mu_);
      if (stopping_ && !session_thread_.joinable()) return;
      stopping_ = true;
      s = current_;
    }
    cv_.notify_all();
    if (s) s->context.TryCancel();
    if (session_thread_.joinable()) session_thread_.join();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  }

 private:
  Status Answer(uint64_t id, const v1::WorkerMessage& m) {
    std::shared_ptr<Stream> s;
    {
      std::lock_guard lock(mu_);
      s = current_;
      if (!s || !connected_) return Unavailable("not connected to the coordinator");
      if (s->triggered.erase(id) == 0) {
        return FailedPrecondition("checkpoint " + std::to_string(id) +
                                  " was not triggered on the current session, or was already "
                                  "answered or aborted");
      }
    }
    if (!s->Write(m)) return Unavailable("the session to the coordinator broke");
    return Status::Ok();
  }

  void RunSessions() {
    auto backoff = options_.reconnect_backoff_initial;
    std::mt19937_64 rng(std::random_device{}());
    for (;;) {
      auto s = std::make_shared<Stream>();
      // Wait for the channel instead of failing fast while it backs off: otherwise this loop's
      // backoff and the channel's compound, and a restarted coordinator was seen by its workers
      // only 5-8 s after it listened again.
      s->context.set_wait_for_ready(true);
      // Corked: the stream's constructor would otherwise block until the channel is ready,
      // before Stop can see (and cancel) it; now the first Write (the registration) waits.
      s->context.set_initial_metadata_corked(true);
      s->rw = stub_->Session(&s->context);
      {
        std::lock_guard lock(mu_);
        if (stopping_) {
          s->context.TryCancel();
          (void)s->rw->Finish();
          return;
        }
        current_ = s;
      }
      bool assigned = RunOneSession(*s);
      grpc::Status end;
      {
        std::lock_guard lock(s->write_mu);
        s->closed = true;
        end = s->rw->Finish();
      }
      std::set<uint64_t> unanswered;
      bool was_connected;
      {
        std::lock_guard lock(mu_);
        current_.reset();
        unanswered.swap(s->triggered);
        was_connected = connected_;
        connected_ = false;
      }
      if (was_connected) {
        spdlog::warn("coordinator client {}: session ended: {} {}", options_.worker_id,
                     static_cast<int>(end.error_code()), end.error_message());
        participant_->OnConnectionChanged(false);
      }
      // The coordinator cannot complete a checkpoint without our ack: these are aborted.
      // Acknowledged ones may have completed; the next Assignment's restore_from tells.
      for (uint64_t id : unanswered) {
        participant_->OnAbort(id, "session to the coordinator lost: " + end.error_message());
      }
      if (assigned) backoff = options_.reconnect_backoff_initial;
      std::unique_lock lock(mu_);
      if (stopping_) return;
      // Jitter in [backoff/2, backoff] so that many workers do not reconnect in lockstep.
      auto half = backoff.count() / 2;
      std::chrono::milliseconds wait(half + static_cast<int64_t>(rng() % (half + 1)));
      cv_.wait_for(lock, wait, [this] { return stopping_; });
      if (stopping_) return;
      backoff = std::min(backoff * 2, options_.reconnect_backoff_max);
    }
  }

  // Register, then read until the stream ends. True when an assignment arrived.
  bool RunOneSession(Stream& s) {
    v1::WorkerMessage reg;
    reg.mutable_register_worker()->set_worker_id(options_.worker_id);
    reg.mutable_register_worker()->set_address(options_.worker_address);
    for (const auto& c : options_.capabilities) reg.mutable_register_worker()->add_capabilities(c);
    if (!s.Write(reg)) return false;
    // Returns once the coordinator accepted the stream (its reactor sends metadata at once) or
    // the call failed; in the latter case Read below fails at once.
    s.rw->WaitForInitialMetadata();
    SetConnected();
    bool assigned = false;
    v1::CoordinatorMessage m;
    while (s.rw->Read(&m)) {
      switch (m.kind_case()) {
        case v1::CoordinatorMessage::kAssignment:
          assigned = true;
          participant_->OnAssignment(m.assignment());
          break;
        case v1::CoordinatorMessage::kTrigger: {
          {
            std::lock_guard lock(mu_);
            s.triggered.insert(m.trigger().checkpoint_id());
          }
          participant_->OnTrigger(m.trigger().checkpoint_id(), m.trigger().timestamp_unix_ms());
          break;
        }
        case v1::CoordinatorMessage::kComplete:
          participant_->OnComplete(m.complete().checkpoint_id());
          break;
        case v1::CoordinatorMessage::kAbort: {
          {
            std::lock_guard lock(mu_);
            s.triggered.erase(m.abort().checkpoint_id());
          }
          participant_->OnAbort(m.abort().checkpoint_id(), m.abort().reason());
          break;
        }
        case v1::CoordinatorMessage::kRejected:
          spdlog::warn("coordinator client {}: coordinator rejected a message: {}",
                       options_.worker_id, m.rejected().reason());
          participant_->OnRejected(m.rejected().reason());
          break;
        case v1::CoordinatorMessage::KIND_NOT_SET:
          spdlog::warn("coordinator client {}: ignoring a message of unknown kind",
                       options_.worker_id);
          break;
      }
    }
    return assigned;
  }

  void SetConnected() {
    {
      std::lock_guard lock(mu_);
      connected_ = true;
    }
    participant_->OnConnectionChanged(true);
  }

  void RunHeartbeats() {
    v1::WorkerMessage hb;
    hb.mutable_heartbeat();
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait_for(lock, options_.heartbeat_interval, [this] { return stopping_; });
      if (stopping_) return;
      auto s = current_;
      lock.unlock();
      if (s) (void)s->Write(hb);  // a failure shows up on the read side
      lock.lock();
    }
  }

  const CoordinatorClientOptions options_;
  CheckpointParticipant* const participant_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool connected_ = false;
  std::shared_ptr<Stream> current_;
  std::thread session_thread_;
  std::thread heartbeat_thread_;
};

}  // namespace

Result<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Start(
    const CoordinatorClientOptions& options, CheckpointParticipant* participant) {
  if (!participant) return InvalidArgument("coordinator client: no participant");
  if (Status st = CheckOptions(options); !st.ok()) {
    return InvalidArgument("coordinator client: " + st.message());
  }
  auto client = std::make_unique<CoordinatorClientImpl>(options, participant);
  client->StartThreads();
  return std::unique_ptr<CoordinatorClient>(std::move(client));
}

}  // namespace eddy::coordinator
