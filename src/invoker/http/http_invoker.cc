#include "eddy/invoker/http_invoker.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "eddy/protocol/codec.h"
#include "invoker/http/connection.h"
#include "invoker/http/http_invoker_stats.h"
#include "invoker/http/tls_context.h"
#include "invoker/http/url.h"

namespace eddy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using http_invoker::Connection;
using http_invoker::ConnectionPtr;
using http_invoker::HttpUrl;

constexpr char kOctetStream[] = "application/octet-stream";
constexpr auto kMinBudget = std::chrono::milliseconds(1);  // less left: give up (as StateFun)

struct Call {
  enum class Phase { kWaiting, kConnecting, kInFlight, kBackoff, kDone };

  explicit Call(asio::io_context& io) : deadline_timer(io), backoff_timer(io) {}

  http::request<http::string_body> request;  // built once, re-sent by every attempt
  std::optional<http::response_parser<http::string_body>> parser;
  HttpUrl url;
  std::string url_text;
  std::string pool_key;
  std::string peer;  // for messages: "host:port" or "unix socket <path>"
  Invoker::Callback done;
  Clock::time_point deadline;
  Phase phase = Phase::kWaiting;
  int failed_attempts = 0;
  std::string last_error = "no attempt was made";
  ConnectionPtr conn;    // the connection this attempt uses (connecting or in flight)
  bool reused = false;   // the current attempt runs on a connection that served before
  asio::steady_timer deadline_timer;
  asio::steady_timer backoff_timer;
};
using CallPtr = std::shared_ptr<Call>;

struct Pool {
  std::vector<ConnectionPtr> idle;  // most recently used at the back
  size_t open = 0;                  // connecting + busy + idle
  std::deque<CallPtr> waiters;      // calls waiting for a free slot; may hold finished calls
};

// All state and logic. Shared ownership because Asio handlers still queued after Shutdown (or
// after the facade is gone) must find the object alive; every handler holds a shared_ptr and
// becomes a no-op once its call is done or its connection closed.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::io_context& io, const EndpointSpec& spec, std::shared_ptr<asio::ssl::context> tls)
      : io_(io),
        spec_(spec),
        pool_size_(static_cast<size_t>(std::max(1, spec.transport.pool_size))),
        tls_(std::move(tls)) {}

  void Invoke(InvocationBatch batch, Invoker::Callback done);
  void Shutdown();
  HttpInvokerStats Stats() const;

 private:
  void StartAttempt(const CallPtr& call);
  void OpenConnection(const CallPtr& call, Pool& pool);
  void Send(const CallPtr& call, const ConnectionPtr& conn);
  void ReadReply(const CallPtr& call, const ConnectionPtr& conn);
  void OnResponse(const CallPtr& call, const ConnectionPtr& conn, error_code ec);
  void OnIoError(const CallPtr& call, const ConnectionPtr& conn, const std::string& what,
                 error_code ec);
  bool Stale(const CallPtr& call, const ConnectionPtr& conn);
  void OnDeadline(const CallPtr& call);
  void AttemptFailed(const CallPtr& call, std::string error);
  void FailDeadline(const CallPtr& call);
  void Finish(const CallPtr& call, Result<FunctionReply> result);
  void Release(const ConnectionPtr& conn);
  // graceful: the connection is healthy and idle (TLS sends close_notify); otherwise abort.
  void Close(const ConnectionPtr& conn, bool graceful = false);
  void ServeWaiters(Pool& pool);

  asio::io_context& io_;
  const EndpointSpec spec_;
  const size_t pool_size_;
  // Shared with every TLS connection, which may outlive the core (see connection.h); null
  // when the endpoint has no TLS settings and no TLS URL.
  const std::shared_ptr<asio::ssl::context> tls_;
  struct Target {
    std::string url_text;
    HttpUrl url;
    std::string pool_key;
    std::string peer;
  };
  std::unordered_map<std::string, Target> targets_;  // by function type name
  std::unordered_map<std::string, Pool> pools_;  // by HttpUrl::PoolKey()
  std::unordered_set<CallPtr> calls_;            // not yet finished
  bool shut_down_ = false;
  HttpInvokerStats stats_;
};

void Core::Invoke(InvocationBatch batch, Invoker::Callback done) {
  auto fail = [&](Status st) {
    ++stats_.calls_failed;
    asio::post(io_, [done = std::move(done), st = std::move(st)]() { done(st); });
  };
  if (shut_down_) return fail(Unavailable("HTTP invoker is shut down"));

  auto call = std::make_shared<Call>(io_);
  // The URL depends only on the function type's name: expand and parse it once per name
  // (bounded by the types this endpoint serves), not on every request.
  auto cached = targets_.find(batch.target.type.name);
  if (cached == targets_.end()) {
    // The name goes into the URL as it is (as in StateFun), so only characters that cannot
    // change the URL's host, path or query are allowed: a message to "ns/evil.com#" must not
    // reach another server through a template like http://{function.name}.fns/.
    for (unsigned char c : batch.target.type.name) {
      if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')) {
        return fail(InvalidArgument("function type name '" + batch.target.type.name +
                                    "' has characters not allowed in a URL template "
                                    "([A-Za-z0-9._~-])"));
      }
    }
    if (batch.target.type.name == "." || batch.target.type.name == "..") {
      return fail(InvalidArgument("function type name '" + batch.target.type.name +
                                  "' is not allowed in a URL template"));
    }
    Target target;
    target.url_text =
        http_invoker::ExpandUrlTemplate(spec_.url_path_template, batch.target.type.name);
    auto url = http_invoker::ParseHttpUrl(target.url_text);
    if (!url.ok()) return fail(url.status());
    // Creation checked the template with a sample name, so only a {function.name} inside the
    // scheme could ask for TLS here without a context.
    if (url->tls && !tls_) {
      return fail(InvalidArgument("URL '" + target.url_text + "' needs TLS but the endpoint's " +
                                  "URL template did not"));
    }
    target.url = std::move(url).value();
    target.pool_key = target.url.PoolKey();
    target.peer = target.url.Peer();
    cached = targets_.emplace(batch.target.type.name, std::move(target)).first;
  }
  call->url_text = cached->second.url_text;
  call->url = cached->second.url;
  call->pool_key = cached->second.pool_key;
  call->peer = cached->second.peer;

  std::string body = EncodeToFunction(batch);
  if (static_cast<int64_t>(body.size()) > spec_.transport.payload_max_bytes) {
    return fail(ResourceExhausted("request to " + call->url_text + " is " +
                                  std::to_string(body.size()) +
                                  " bytes, more than payload_max_bytes (" +
                                  std::to_string(spec_.transport.payload_max_bytes) + ")"));
  }
  auto& req = call->request;
  req.method(http::verb::post);
  req.target(call->url.target);
  req.version(11);
  req.set(http::field::host, call->url.host_header);
  req.set(http::field::user_agent, "eddy");
  req.set(http::field::content_type, kOctetStream);
  req.set(http::field::accept, kOctetStream);
  req.set(http::field::connection, "keep-alive");
  req.body() = std::move(body);
  req.prepare_payload();

  call->done = std::move(done);
  call->deadline = Clock::now() + spec_.transport.call_timeout;
  call->deadline_timer.expires_at(call->deadline);
  call->deadline_timer.async_wait([self = shared_from_this(), call](error_code ec) {
    if (!ec) self->OnDeadline(call);
  });
  calls_.insert(call);
  StartAttempt(call);
}

void Core::StartAttempt(const CallPtr& call) {
  if (call->phase == Call::Phase::kDone) return;
  if (call->deadline - Clock::now() < kMinBudget) return FailDeadline(call);
  Pool& pool = pools_[call->pool_key];
  while (!pool.idle.empty()) {
    ConnectionPtr conn = pool.idle.back();
    if (conn->LooksAlive()) {
      pool.idle.pop_back();
      conn->idle_timer.cancel();
      ++conn->idle_generation;
      return Send(call, conn);
    }
    Close(conn);  // the server closed it while idle: not an attempt failure
  }
  if (pool.open < pool_size_) return OpenConnection(call, pool);
  call->phase = Call::Phase::kWaiting;
  pool.waiters.push_back(call);
}

void Core::OpenConnection(const CallPtr& call, Pool& pool) {
  ConnectionPtr conn = Connection::Make(io_, call->url, tls_, call->pool_key);
  if (!conn) return AttemptFailed(call, "cannot create a connection to " + call->peer);
  ++pool.open;
  call->conn = conn;
  call->phase = Call::Phase::kConnecting;
  conn->Connect(spec_.transport.connect_timeout,
                [self = shared_from_this(), call, conn](std::string error) {
                  if (self->Stale(call, conn)) return;
                  if (!error.empty()) {
                    self->Close(conn);
                    return self->AttemptFailed(call, std::move(error));
                  }
                  ++self->stats_.connections_opened;
                  self->Send(call, conn);
                });
}

void Core::Send(const CallPtr& call, const ConnectionPtr& conn) {
  conn->state = Connection::State::kBusy;
  call->conn = conn;
  call->phase = Call::Phase::kInFlight;
  call->reused = conn->requests_started++ > 0;
  ++stats_.requests_sent;
  if (call->reused) ++stats_.requests_on_reused_connection;
  call->parser.emplace();
  call->parser->body_limit(static_cast<uint64_t>(std::max<int64_t>(0,
      spec_.transport.payload_max_bytes)));
  conn->Write(call->request, [self = shared_from_this(), call, conn](error_code ec) {
    if (self->Stale(call, conn)) return;
    if (ec) return self->OnIoError(call, conn, "sending request", ec);
    self->ReadReply(call, conn);
  });
}

// Header first, then body. Beast 1.74 drops the body_limit error when header and body arrive in
// one read with an eager parser (http::async_read), so the Content-Length is checked here,
// before the eager body read; chunked and read-to-EOF bodies are limited by the parser itself.
void Core::ReadReply(const CallPtr& call, const ConnectionPtr& conn) {
  conn->ReadHeader(*call->parser, [self = shared_from_this(), call, conn](error_code ec) {
    if (self->Stale(call, conn)) return;
    if (ec) return self->OnResponse(call, conn, ec);
    const auto length = call->parser->content_length();
    if (length && *length > static_cast<uint64_t>(self->spec_.transport.payload_max_bytes)) {
      return self->OnResponse(call, conn, http::error::body_limit);
    }
    if (call->parser->is_done()) return self->OnResponse(call, conn, {});
    conn->ReadBody(*call->parser, [self, call, conn](error_code ec) {
      if (self->Stale(call, conn)) return;
      self->OnResponse(call, conn, ec);
    });
  });
}

// True when a completion belongs to an attempt that no longer matters (call finished, or this
// connection was closed or replaced under it).
bool Core::Stale(const CallPtr& call, const ConnectionPtr& conn) {
  if (conn->state == Connection::State::kClosed) return true;
  // Finishing a call or abandoning an attempt always closes its connection first, so a call
  // that moved on implies a closed connection; checked anyway rather than trusted.
  return call->phase == Call::Phase::kDone || call->conn != conn;
}

void Core::OnIoError(const CallPtr& call, const ConnectionPtr& conn, const std::string& what,
                     error_code ec) {
  Close(conn);
  call->conn = nullptr;
  const bool nothing_received = !call->parser || !call->parser->got_some();
  const bool closed_by_peer = ec == http::error::end_of_stream || ec == asio::error::eof ||
                              ec == asio::error::connection_reset ||
                              ec == asio::error::broken_pipe ||
                              ec == asio::ssl::error::stream_truncated;
  // A keep-alive connection the server closed while it sat in the pool (the close raced our
  // request): retry on a fresh connection without counting an attempt. Bounded, since each such
  // retry consumes one pooled connection and fresh connections never qualify.
  if (call->reused && nothing_received && closed_by_peer) {
    ++stats_.stale_connection_retries;
    return StartAttempt(call);
  }
  AttemptFailed(call, what + " to " + call->url_text + ": " + conn->Describe(ec));
}

void Core::OnResponse(const CallPtr& call, const ConnectionPtr& conn, error_code ec) {
  if (ec == http::error::body_limit) {
    Close(conn);
    call->conn = nullptr;
    return AttemptFailed(call, "reply from " + call->url_text +
                                   " is larger than payload_max_bytes (" +
                                   std::to_string(spec_.transport.payload_max_bytes) + ")");
  }
  if (ec) return OnIoError(call, conn, "reading reply", ec);

  auto response = call->parser->release();
  // The exchange itself was clean, so the connection may serve again, unless the server wants it
  // closed or sent bytes beyond the response (which would poison the next exchange).
  call->conn = nullptr;
  if (conn->buffer.size() != 0) {
    Close(conn);
  } else if (response.keep_alive() && !shut_down_) {
    Release(conn);
  } else {
    Close(conn, /*graceful=*/true);
  }

  const unsigned status = response.result_int();
  if (status < 200 || status > 299) {
    std::string snippet = response.body().substr(0, 120);
    for (char& c : snippet) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '.';
    }
    return AttemptFailed(call, "HTTP " + std::to_string(status) + " from " + call->url_text +
                                   (snippet.empty() ? "" : ": " + snippet));
  }
  auto content_type = response[http::field::content_type];
  if (!beast::iequals(content_type, kOctetStream)) {
    return AttemptFailed(call, "reply from " + call->url_text + " has Content-Type '" +
                                   std::string(content_type.data(), content_type.size()) +
                                   "', expected " +
                                   std::string(kOctetStream));
  }
  auto reply = DecodeFromFunction(response.body());
  if (!reply.ok()) {
    return AttemptFailed(call, "unusable reply from " + call->url_text + ": " +
                                   reply.status().message());
  }
  Finish(call, std::move(reply));
}

void Core::OnDeadline(const CallPtr& call) {
  std::string now;
  switch (call->phase) {
    case Call::Phase::kDone:
      return;
    case Call::Phase::kInFlight:
      now = "no reply from " + call->url_text + " before the call budget ran out";
      break;
    case Call::Phase::kConnecting:
      now = "connect to " + call->peer + " did not finish within the call budget";
      break;
    case Call::Phase::kWaiting:
      now = "no connection to " + call->peer + " became free (pool_size " +
            std::to_string(pool_size_) + ")";
      break;
    case Call::Phase::kBackoff:
      break;
  }
  // The interrupted attempt says little on its own ("connect did not finish"); the failed one
  // before it usually names the cause (refused, certificate verify failed, ...).
  if (!now.empty()) {
    call->last_error = call->failed_attempts > 0
                           ? now + "; the attempt before failed: " + call->last_error
                           : std::move(now);
  }
  if (call->conn) Close(call->conn);
  call->conn = nullptr;
  FailDeadline(call);
}

void Core::AttemptFailed(const CallPtr& call, std::string error) {
  if (call->phase == Call::Phase::kDone) return;
  ++stats_.attempt_failures;
  call->last_error = std::move(error);
  call->conn = nullptr;
  const int attempt = call->failed_attempts++;
  const auto remaining = call->deadline - Clock::now();
  if (remaining < kMinBudget) return FailDeadline(call);
  // StateFun's async transport: 2 ms * 2^attempt, never past the budget.
  const auto backoff = std::chrono::milliseconds(2LL << std::min(attempt, 20));
  call->phase = Call::Phase::kBackoff;
  call->backoff_timer.expires_after(std::min<Clock::duration>(backoff, remaining));
  call->backoff_timer.async_wait([self = shared_from_this(), call](error_code ec) {
    if (!ec) self->StartAttempt(call);
  });
}

void Core::FailDeadline(const CallPtr& call) {
  const auto budget = spec_.transport.call_timeout.count();
  Finish(call, DeadlineExceeded("call to " + call->url_text + " did not succeed within " +
                                std::to_string(budget) + " ms (" +
                                std::to_string(call->failed_attempts) +
                                " failed attempts); last error: " + call->last_error));
}

void Core::Finish(const CallPtr& call, Result<FunctionReply> result) {
  if (call->phase == Call::Phase::kDone) return;
  call->phase = Call::Phase::kDone;
  calls_.erase(call);
  call->deadline_timer.cancel();
  call->backoff_timer.cancel();
  if (call->conn) Close(call->conn);
  call->conn = nullptr;
  call->parser.reset();
  ++(result.ok() ? stats_.calls_succeeded : stats_.calls_failed);
  asio::post(io_, [done = std::move(call->done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

// Gives a healthy connection to the oldest waiting call, or parks it in the pool.
void Core::Release(const ConnectionPtr& conn) {
  Pool& pool = pools_[conn->pool_key];
  while (!pool.waiters.empty()) {
    CallPtr waiter = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    if (waiter->phase == Call::Phase::kWaiting) return Send(waiter, conn);
  }
  conn->state = Connection::State::kIdle;
  const uint64_t generation = ++conn->idle_generation;
  pool.idle.push_back(conn);
  conn->idle_timer.expires_after(spec_.transport.pool_ttl);
  conn->idle_timer.async_wait([self = shared_from_this(), conn, generation](error_code ec) {
    if (ec || conn->state != Connection::State::kIdle || conn->idle_generation != generation) {
      return;
    }
    ++self->stats_.idle_connections_expired;
    self->Close(conn, /*graceful=*/true);
  });
}

// Idempotent. A closed connection never returns to the pool; its slot goes to a waiting call.
void Core::Close(const ConnectionPtr& conn, bool graceful) {
  if (conn->state == Connection::State::kClosed) return;
  Pool& pool = pools_[conn->pool_key];
  if (conn->state == Connection::State::kIdle) {
    pool.idle.erase(std::remove(pool.idle.begin(), pool.idle.end(), conn), pool.idle.end());
  }
  conn->state = Connection::State::kClosed;
  --pool.open;
  conn->idle_timer.cancel();
  conn->Close(graceful);
  if (!shut_down_) ServeWaiters(pool);
}

void Core::ServeWaiters(Pool& pool) {
  while (pool.open < pool_size_ && !pool.waiters.empty()) {
    CallPtr waiter = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    if (waiter->phase == Call::Phase::kWaiting) OpenConnection(waiter, pool);
  }
}

void Core::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  std::vector<CallPtr> pending(calls_.begin(), calls_.end());
  for (const CallPtr& call : pending) {
    Finish(call, Unavailable("HTTP invoker shut down before " + call->url_text + " replied"));
  }
  for (auto& [key, pool] : pools_) {
    pool.waiters.clear();
    while (!pool.idle.empty()) Close(pool.idle.back(), /*graceful=*/true);
  }
}

HttpInvokerStats Core::Stats() const {
  HttpInvokerStats s = stats_;
  for (const auto& [key, pool] : pools_) {
    s.open_connections += pool.open;
    s.idle_connections += pool.idle.size();
  }
  return s;
}

class HttpInvoker final : public HttpInvokerWithStats {
 public:
  HttpInvoker(asio::io_context& io, const EndpointSpec& spec,
              std::shared_ptr<asio::ssl::context> tls)
      : core_(std::make_shared<Core>(io, spec, std::move(tls))) {}
  ~HttpInvoker() override { core_->Shutdown(); }

  void Invoke(InvocationBatch batch, Callback done) override {
    core_->Invoke(std::move(batch), std::move(done));
  }
  void Shutdown() override { core_->Shutdown(); }
  HttpInvokerStats Stats() const override { return core_->Stats(); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

Result<InvokerPtr> MakeHttpInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint) {
  // The URL depends on the function name only through {function.name}; a sample name shows
  // whether the template is well formed (scheme, authority or socket path) before any call.
  auto url = http_invoker::ParseHttpUrl(
      http_invoker::ExpandUrlTemplate(endpoint.url_path_template, "fn"));
  if (!url.ok()) return url.status();
  std::shared_ptr<asio::ssl::context> tls;
  if (url->tls || http_invoker::HasTlsSettings(endpoint.transport)) {
    auto made = http_invoker::MakeClientTlsContext(endpoint.transport);
    if (!made.ok()) return made.status();
    tls = std::move(made).value();
  }
  return InvokerPtr(std::make_unique<HttpInvoker>(io, endpoint, std::move(tls)));
}

}  // namespace eddy
