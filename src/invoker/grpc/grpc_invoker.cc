#include "eddy/invoker/grpc_invoker.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eddy/function_service.grpc.pb.h"
#include "eddy/protocol/codec.h"
#include "invoker/grpc/channel.h"
#include "invoker/grpc/status_text.h"

namespace eddy {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr auto kMinBudget = std::chrono::milliseconds(1);  // less left: give up (as StateFun)

// The only way from gRPC's threads back to the shard. The invoker detaches it when destroyed;
// completions arriving later drop their result instead of posting to an io_context that may be
// gone. The mutex makes "check attached, then post" atomic against Detach.
class ShardLink {
 public:
  explicit ShardLink(asio::io_context& io) : io_(&io) {}

  template <typename Handler>
  void Post(Handler&& handler) {
    std::lock_guard lock(mu_);
    if (io_ != nullptr) asio::post(*io_, std::forward<Handler>(handler));
  }

  void Detach() {
    std::lock_guard lock(mu_);
    io_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* io_;
};

// What gRPC needs alive until an attempt's completion callback has run. Owned by that callback
// and by the call (to cancel it). It holds nothing of Asio, so it may be freed on a gRPC thread.
struct Attempt {
  grpc::ClientContext context;
  grpc::ByteBuffer request;  // shares the call's slices (refcounted), no copy of the bytes
  grpc::ByteBuffer response;
};

// One Invoke, shard thread only.
struct Call {
  explicit Call(asio::io_context& io) : backoff_timer(io) {}

  uint64_t id = 0;
  grpc::ByteBuffer request;  // encoded once, re-sent by every attempt
  std::string function;      // "ns/name", for messages
  Invoker::Callback done;
  Clock::time_point deadline;
  int failed_attempts = 0;
  uint64_t attempt_seq = 0;  // tells the current attempt's completion from a stale one
  std::string first_error;  // of the first failed attempt: often the cause, where the last
                            // one may only say the budget ran out
  std::string last_error = "no attempt was made";
  std::shared_ptr<Attempt> attempt;  // in flight; null while backing off
  asio::steady_timer backoff_timer;
};

// Wraps `bytes` without copying: the slice owns the string and frees it when gRPC is done.
grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

// Runs on a gRPC thread: decoding there keeps the shard thread free. The codec is stateless.
Result<FunctionReply> DecodeReply(const grpc::Status& status, const grpc::ByteBuffer& response) {
  if (!status.ok()) return Unavailable(grpc_invoker::StatusText(status));
  if (!response.Valid()) return DecodeFromFunction(std::string_view());
  grpc::Slice slice;
  if (!response.DumpToSingleSlice(&slice).ok()) {
    return Unavailable("could not read the reply's bytes");
  }
  auto reply = DecodeFromFunction(
      std::string_view(reinterpret_cast<const char*>(slice.begin()), slice.size()));
  if (!reply.ok()) return InvalidArgument("undecodable FromFunction: " + reply.status().message());
  return reply;
}

// All state and logic; shard thread only, except the completion callbacks noted above. Handlers
// (Asio and gRPC) hold it by weak_ptr only, so the facade's shared_ptr is the sole owner and the
// core dies on the shard thread, with its Asio timers, when the invoker is destroyed.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::io_context& io, const EndpointSpec& spec, std::shared_ptr<grpc::Channel> channel)
      : io_(io),
        spec_(spec.grpc),
        method_(std::string("/") + io::eddy::functions::v1::RequestReply::service_full_name() +
                "/Invoke"),
        link_(std::make_shared<ShardLink>(io)),
        channel_(std::move(channel)),
        stub_(std::make_unique<grpc::GenericStub>(channel_)) {}

  void Invoke(InvocationBatch batch, Invoker::Callback done);
  void Shutdown();
  // The invoker is going away: completions from now on are dropped on gRPC's threads.
  void Detach() { link_->Detach(); }

 private:
  void StartAttempt(Call& call);
  void OnAttemptDone(uint64_t id, uint64_t seq, Result<FunctionReply> result);
  void OnBackoffDone(uint64_t id);
  void AttemptFailed(Call& call, std::string error);
  void Finish(Call& call, Result<FunctionReply> result);

  asio::io_context& io_;
  const GrpcTransportSpec spec_;
  const std::string method_;
  const std::shared_ptr<ShardLink> link_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;  // not yet finished
  uint64_t next_id_ = 1;
  bool shut_down_ = false;
};

void Core::Invoke(InvocationBatch batch, Invoker::Callback done) {
  auto fail = [&](Status st) {
    asio::post(io_, [done = std::move(done), st = std::move(st)]() { done(st); });
  };
  if (shut_down_) return fail(Unavailable("gRPC invoker for " + spec_.target + " is shut down"));
  std::string bytes = EncodeToFunction(batch);
  if (static_cast<int64_t>(bytes.size()) > spec_.max_message_bytes) {
    return fail(ResourceExhausted("request for " + batch.target.type.ToString() + " to " +
                                  spec_.target + " is " + std::to_string(bytes.size()) +
                                  " bytes, more than max_message_bytes (" +
                                  std::to_string(spec_.max_message_bytes) + ")"));
  }
  auto call = std::make_unique<Call>(io_);
  call->id = next_id_++;
  call->request = ToByteBuffer(std::move(bytes));
  call->function = batch.target.type.ToString();
  call->done = std::move(done);
  call->deadline = Clock::now() + spec_.call_timeout;
  Call& ref = *call;
  calls_.emplace(ref.id, std::move(call));
  StartAttempt(ref);
}

void Core::StartAttempt(Call& call) {
  const auto remaining = call.deadline - Clock::now();
  if (remaining < kMinBudget) {
    return Finish(call, DeadlineExceeded("gRPC call for " + call.function + " to " + spec_.target +
                                         " did not succeed within " +
                                         std::to_string(spec_.call_timeout.count()) + " ms (" +
                                         std::to_string(call.failed_attempts) +
                                         " failed attempts); " +
                                         (call.failed_attempts > 1 &&
                                                  call.first_error != call.last_error
                                              ? "first error: " + call.first_error + "; "
                                              : std::string()) +
                                         "last error: " + call.last_error));
  }
  auto attempt = std::make_shared<Attempt>();
  attempt->request = call.request;
  // The attempt may use the whole remaining budget (no separate per-attempt timeout, as in
  // StateFun's async transport); wait_for_ready stays off so an unreachable server fails fast.
  attempt->context.set_deadline(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(remaining));
  call.attempt = attempt;
  const uint64_t seq = ++call.attempt_seq;
  Attempt* raw = attempt.get();
  stub_->UnaryCall(&raw->context, method_, grpc::StubOptions(), &raw->request, &raw->response,
                   [attempt = std::move(attempt), link = link_, weak = weak_from_this(),
                    id = call.id, seq](grpc::Status status) {
                     Result<FunctionReply> result = DecodeReply(status, attempt->response);
                     link->Post([weak, id, seq, result = std::move(result)]() mutable {
                       if (auto core = weak.lock()) core->OnAttemptDone(id, seq, std::move(result));
                     });
                   });
}

void Core::OnAttemptDone(uint64_t id, uint64_t seq, Result<FunctionReply> result) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // finished (shut down) meanwhile
  Call& call = *it->second;
  if (seq != call.attempt_seq || !call.attempt) return;
  call.attempt.reset();
  if (result.ok()) return Finish(call, std::move(result));
  AttemptFailed(call, result.status().message());
}

void Core::AttemptFailed(Call& call, std::string error) {
  if (call.failed_attempts == 0) call.first_error = error;
  call.last_error = std::move(error);
  const int attempt = call.failed_attempts++;
  const auto remaining = call.deadline - Clock::now();
  if (remaining < kMinBudget) return StartAttempt(call);  // fails with DeadlineExceeded
  // StateFun's async transport: 2 ms * 2^attempt, never past the budget.
  const auto backoff = std::chrono::milliseconds(2LL << std::min(attempt, 20));
  call.backoff_timer.expires_after(std::min<Clock::duration>(backoff, remaining));
  call.backoff_timer.async_wait([weak = weak_from_this(), id = call.id](error_code ec) {
    if (ec) return;
    if (auto core = weak.lock()) core->OnBackoffDone(id);
  });
}

void Core::OnBackoffDone(uint64_t id) {
  auto it = calls_.find(id);
  if (it != calls_.end() && !it->second->attempt) StartAttempt(*it->second);
}

void Core::Finish(Call& call, Result<FunctionReply> result) {
  // Take what outlives the call, then drop it: the map owns the call (and its timer).
  auto done = std::move(call.done);
  const uint64_t id = call.id;  // not a reference into the element being erased
  if (call.attempt) call.attempt->context.TryCancel();  // its completion will find no call
  calls_.erase(id);
  asio::post(io_, [done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

void Core::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<Call*> pending;
  pending.reserve(calls_.size());
  for (auto& [id, call] : calls_) pending.push_back(call.get());
  for (Call* call : pending) {
    Finish(*call, Unavailable("gRPC invoker shut down before " + spec_.target + " replied for " +
                              call->function));
  }
  // Releases the connections once cancelled attempts have completed (each holds a reference).
  stub_.reset();
  channel_.reset();
}

class GrpcInvoker final : public Invoker {
 public:
  explicit GrpcInvoker(std::shared_ptr<Core> core) : core_(std::move(core)) {}
  ~GrpcInvoker() override {
    core_->Shutdown();
    core_->Detach();
  }

  void Invoke(InvocationBatch batch, Callback done) override {
    core_->Invoke(std::move(batch), std::move(done));
  }
  void Shutdown() override { core_->Shutdown(); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

Result<InvokerPtr> MakeGrpcInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint) {
  auto channel = grpc_invoker::MakeChannel(endpoint.grpc);
  if (!channel.ok()) return channel.status();
  return InvokerPtr(std::make_unique<GrpcInvoker>(
      std::make_shared<Core>(io, endpoint, std::move(channel).value())));
}

}  // namespace eddy
