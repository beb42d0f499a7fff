#include "sdk/grpc/grpc_bytes_server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "eddy/function_service.grpc.pb.h"

namespace eddy::sdk {
namespace {

using RequestReply = ::io::eddy::functions::v1::RequestReply;

grpc::Status ToGrpcStatus(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, st.message()};
    case StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, st.message()};
    case StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, st.message()};
    case StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, st.message()};
    default:
      return {grpc::StatusCode::INTERNAL, st.ToString()};
  }
}

// Hands `bytes` to gRPC without copying: the slice owns the string and frees it when gRPC is done.
grpc::ByteBuffer ToByteBuffer(std::string bytes) {
  auto* owned = new std::string(std::move(bytes));
  grpc::Slice slice(
      owned->data(), owned->size(), [](void* p) { delete static_cast<std::string*>(p); }, owned);
  return grpc::ByteBuffer(&slice, 1);
}

Result<std::string> ReadPemFile(const char* field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgument(std::string("gRPC server ") + field + ": cannot read file '" + path +
                           "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string pem = std::move(text).str();
  if (pem.find("-----BEGIN") == std::string::npos) {
    return InvalidArgument(std::string("gRPC server ") + field + ": file '" + path +
                           "' is not PEM");
  }
  return pem;
}

// One request waiting for a handler thread. The reactor and the response buffer stay valid until
// the reactor is finished.
struct Job {
  grpc::ServerUnaryReactor* reactor;
  grpc::Slice request;
  grpc::ByteBuffer* response;
};

// The handler threads. gRPC's callback threads only queue requests here, because handlers run
// user functions that may block, and a blocked gRPC callback thread stalls unrelated calls.
class HandlerPool {
 public:
  HandlerPool(GrpcBytesHandler handler, int threads) : handler_(std::move(handler)) {
    for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
  }
  ~HandlerPool() { Join(); }

  // Bounded: a full queue answers RESOURCE_EXHAUSTED at once (the runtime retries within its
  // call budget), so slow handlers or a flood of calls cannot grow memory without limit.
  void Submit(Job job) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= kMaxQueued) {
        job.reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "function server busy: " + std::to_string(kMaxQueued) +
                                 " requests already waiting"});
        return;
      }
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  static constexpr size_t kMaxQueued = 1024;

  // From now on, queued and new requests are answered UNAVAILABLE without running the handler.
  void BeginStop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }

  // Finishes what is queued, then joins. Call after the gRPC server has shut down.
  void Join() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      exit_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run() {
    for (;;) {
      Job job;
      bool stopping;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return !queue_.empty() || exit_; });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        stopping = stopping_;
      }
      if (stopping) {
        job.reactor->Finish({grpc::StatusCode::UNAVAILABLE, "function server is stopping"});
        continue;
      }
      Serve(job);
    }
  }

  void Serve(Job& job) {
    std::string_view request(reinterpret_cast<const char*>(job.request.begin()),
                             job.request.size());
    Result<std::string> reply = Internal("handler did not run");
    try {
      reply = handler_(request);
    } catch (const std::exception& e) {  // the handler is user code: keep serving
      reply = Internal(std::string("request handler threw: ") + e.what());
    } catch (...) {
      reply = Internal("request handler threw a non-std exception");
    }
    if (!reply.ok()) {
      job.reactor->Finish(ToGrpcStatus(reply.status()));
      return;
    }
    *job.response = ToByteBuffer(std::move(reply).value());
    job.reactor->Finish(grpc::Status::OK);
  }

  GrpcBytesHandler handler_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  bool exit_ = false;
  std::vector<std::thread> threads_;
};

// Serves Invoke on raw bytes: the ToFunction goes to the handler as it arrived, so it is parsed
// once (by the handler), not once by gRPC and again by the handler.
class RawService final : public RequestReply::WithRawCallbackMethod_Invoke<RequestReply::Service> {
 public:
  explicit RawService(HandlerPool& pool) : pool_(pool) {}

  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    grpc::Slice bytes;
    if (!request->DumpToSingleSlice(&bytes).ok()) {
      reactor->Finish({grpc::StatusCode::INTERNAL, "could not read the request"});
      return reactor;
    }
    pool_.Submit({reactor, std::move(bytes), response});
    return reactor;
  }

 private:
  HandlerPool& pool_;
};

class GrpcFunctionServer final : public FunctionServer {
 public:
  GrpcFunctionServer(std::unique_ptr<HandlerPool> pool, std::unique_ptr<RawService> service)
      : pool_(std::move(pool)), service_(std::move(service)) {}
  ~GrpcFunctionServer() override { Stop(); }

  void Started(std::unique_ptr<grpc::Server> server, int port) {
    server_ = std::move(server);
    port_ = static_cast<uint16_t>(port);
  }

  uint16_t Port() const override { return port_; }

  void Stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    pool_->BeginStop();
    if (server_) {
      // Cancels calls still in progress; Shutdown returns once their reactors are finished,
      // which the handler threads (still running) take care of.
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
    pool_->Join();
  }

 private:
  // Destroyed in reverse order: the server before the service and the pool it uses.
  std::unique_ptr<HandlerPool> pool_;
  std::unique_ptr<RawService> service_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<FunctionServer>> StartGrpcBytesServer(GrpcBytesHandler handler,
                                                             const ServerOptions& options) {
  if (!handler) return InvalidArgument("gRPC server: no request handler");
  if (!options.unix_socket.empty()) {
    return InvalidArgument("gRPC server: unix_socket is supported by the HTTP server only");
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return InvalidArgument("gRPC server: tls_cert and tls_key must be set together");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return InvalidArgument("gRPC server: tls_client_ca needs tls_cert and tls_key");
  }

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert.empty()) {
    auto cert = ReadPemFile("tls_cert", options.tls_cert);
    if (!cert.ok()) return cert.status();
    auto key = ReadPemFile("tls_key", options.tls_key);
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (!options.tls_client_ca.empty()) {
      auto ca = ReadPemFile("tls_client_ca", options.tls_client_ca);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = std::move(ca).value();
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    ssl.pem_key_cert_pairs.push_back({std::move(key).value(), std::move(cert).value()});
    credentials = grpc::SslServerCredentials(ssl);
  }

  if (options.threads < 1 || options.threads > 256) {
    return InvalidArgument("gRPC server: threads must be 1..256, got " +
                           std::to_string(options.threads));
  }
  // An IPv6 literal needs brackets, unless the caller already wrote them.
  const bool bare_ipv6 = options.host.find(':') != std::string::npos && options.host[0] != '[';
  const std::string host = bare_ipv6 ? "[" + options.host + "]" : options.host;
  const std::string address = host + ":" + std::to_string(options.port);
  const int max_bytes = static_cast<int>(std::clamp<int64_t>(options.max_body_bytes, 1, INT_MAX));

  auto pool = std::make_unique<HandlerPool>(std::move(handler), options.threads);
  auto service = std::make_unique<RawService>(*pool);
  auto* service_ptr = service.get();
  auto server = std::make_unique<GrpcFunctionServer>(std::move(pool), std::move(service));

  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, so a second server on a taken port would silently share
  // it instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  int selected_port = 0;
  builder.AddListeningPort(address, credentials, &selected_port);
  builder.RegisterService(service_ptr);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || selected_port == 0) {
    return Unavailable("gRPC server could not listen on " + address);
  }
  server->Started(std::move(grpc_server), selected_port);
  return std::unique_ptr<FunctionServer>(std::move(server));
}

}  // namespace eddy::sdk
