#pragma once
// FakeFunctionServer: an in-process remote function endpoint that speaks StateFun's
// request-reply protocol (POST a serialized ToFunction, answer a serialized FromFunction) over
// HTTP/1.1 with keep-alive on 127.0.0.1 and an ephemeral port.
//
// Tests register one Handler per function type ("namespace/type", or "namespace/*" as a
// fallback) and may answer with a FromFunction, a raw HTTP response (to misbehave on purpose),
// a dropped connection, and/or an artificial delay. Every well-formed request is recorded in a
// thread-safe log so tests can assert on batching (invocations per request) and on the states
// the runtime attached.
//
// Protocol errors are answered like the Go SDK: non-POST -> 405, Content-Type present and not
// application/octet-stream -> 415, empty or undecodable body -> 400, unknown function type ->
// 404 text/plain, handler exception -> 500 text/plain.
//
// Threads: the server runs its own io_context on `Options::threads` threads. Handlers may run
// concurrently on those threads, so they must be thread-safe. Beast stays inside the .cc file.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/common/status.h"
#include "statefun/sdk/request_reply.pb.h"

namespace eddy::fakes {

using ToFunction = io::statefun::sdk::reqreply::ToFunction;
using FromFunction = io::statefun::sdk::reqreply::FromFunction;

// What a handler answers. Implicitly constructible from a FromFunction for the common case.
class Reply {
 public:
  enum class Kind { kFromFunction, kRaw, kCloseConnection };

  Reply(FromFunction response);  // NOLINT: implicit by design, handlers just `return response;`
  // Any HTTP response, e.g. Raw(503, "text/plain", "overloaded") or a 200 with a wrong type.
  static Reply Raw(int status, std::string content_type, std::string body);
  // Close the connection without writing a response (the client sees EOF / reset).
  static Reply CloseConnection();

  // Waits `delay` (asynchronously, other requests proceed) before answering or closing.
  Reply& WithDelay(std::chrono::milliseconds delay) &;
  Reply&& WithDelay(std::chrono::milliseconds delay) &&;

  Kind kind() const { return kind_; }
  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  const std::string& body() const { return body_; }
  std::chrono::milliseconds delay() const { return delay_; }

 private:
  Reply() = default;

  Kind kind_ = Kind::kFromFunction;
  int status_ = 200;
  std::string content_type_ = "application/octet-stream";
  std::string body_;  // serialized FromFunction for kFromFunction
  std::chrono::milliseconds delay_{0};
};

using Handler = std::function<Reply(const ToFunction&)>;

struct RecordedState {
  std::string name;
  bool has_value = false;  // false: the name was sent without a state_value (registered, empty)
  std::string type_name;
  std::string value;  // raw bytes of state_value.value
};

struct RecordedRequest {
  std::string path;           // HTTP request target, e.g. "/counter"
  std::string function_type;  // "namespace/type" of the target address
  std::string id;             // target address id
  std::size_t num_invocations = 0;
  std::vector<RecordedState> states;
  ToFunction request;  // the whole decoded request
};

class FakeFunctionServer {
 public:
  struct Options {
    int threads = 2;
    std::size_t max_body_bytes = 64 << 20;
  };

  // Binds 127.0.0.1:0 and starts serving before returning.
  static Result<std::unique_ptr<FakeFunctionServer>> Start(Options options);
  static Result<std::unique_ptr<FakeFunctionServer>> Start() { return Start(Options{}); }

  ~FakeFunctionServer();
  FakeFunctionServer(const FakeFunctionServer&) = delete;
  FakeFunctionServer& operator=(const FakeFunctionServer&) = delete;

  uint16_t port() const;
  // "http://127.0.0.1:<port>"
  std::string BaseUrl() const;
  // "http://127.0.0.1:<port>/{function.name}", ready for a module.yaml endpoint.
  std::string UrlPathTemplate() const;

  // Registers (or replaces) the handler for "namespace/type"; "namespace/*" matches every type
  // of that namespace without an exact registration. Safe to call while serving.
  void Register(std::string function_type, Handler handler);

  // Log of well-formed requests, in arrival order. Requests rejected before decoding (405, 415,
  // 400) are only counted in RejectedRequests().
  std::vector<RecordedRequest> Requests() const;
  std::vector<RecordedRequest> RequestsFor(std::string_view function_type) const;
  std::size_t RequestCount(std::string_view function_type) const;
  std::size_t TotalRequests() const;
  std::size_t RejectedRequests() const;
  std::size_t ConnectionsAccepted() const;
  // Blocks until RequestCount(function_type) >= n or the timeout passes; returns whether it did.
  bool WaitForRequests(std::string_view function_type, std::size_t n,
                       std::chrono::milliseconds timeout) const;
  void ClearLog();

  // Closes the listener and every connection, joins the threads. Idempotent.
  void Stop();

 private:
  class Impl;
  explicit FakeFunctionServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::fakes
