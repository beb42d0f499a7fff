#include "eddy/invoker/http_invoker.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "eddy/protocol/codec.h"
#include "invoker/http/http_invoker_stats.h"
#include "invoker/http/url.h"

namespace eddy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using http_invoker::HttpUrl;

constexpr char kOctetStream[] = "application/octet-stream";
constexpr auto kMinBudget = std::chrono::milliseconds(1);  // less left: give up (as StateFun)

struct Connection {
  enum class State { kConnecting, kBusy, kIdle, kClosed };

  Connection(asio::io_context& io, std::string key)
      : stream(io), idle_timer(io), resolver(io), pool_key(std::move(key)) {}

  beast::tcp_stream stream;
  asio::steady_timer idle_timer;
  tcp::resolver resolver;
  beast::flat_buffer buffer;  // survives between requests: it belongs to the connection
  std::string pool_key;
  State state = State::kConnecting;
  uint64_t idle_generation = 0;  // tells a stale idle-timer firing from a current one
  int requests_started = 0;
};
using ConnectionPtr = std::shared_ptr<Connection>;

struct Call {
  enum class Phase { kWaiting, kConnecting, kInFlight, kBackoff, kDone };

  explicit Call(asio::io_context& io) : deadline_timer(io), backoff_timer(io) {}

  http::request<http::string_body> request;  // built once, re-sent by every attempt
  std::optional<http::response_parser<http::string_body>> parser;
  HttpUrl url;
  std::string url_text;
  std::string pool_key;
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
  Core(asio::io_context& io, const HttpEndpointSpec& spec)
      : io_(io),
        spec_(spec),
        pool_size_(static_cast<size_t>(std::max(1, spec.transport.pool_size))) {}

  void Invoke(InvocationBatch batch, Invoker::Callback done);
  void Shutdown();
  HttpInvokerStats Stats() const;

 private:
  void StartAttempt(const CallPtr& call);
  void OpenConnection(const CallPtr& call, Pool& pool);
  void Connect(const CallPtr& call, const ConnectionPtr& conn, std::vector<tcp::endpoint> eps);
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
  void Close(const ConnectionPtr& conn);
  void ServeWaiters(Pool& pool);
  static bool LooksAlive(Connection& conn);

  asio::io_context& io_;
  const HttpEndpointSpec spec_;
  const size_t pool_size_;
  struct Target {
    std::string url_text;
    HttpUrl url;
    std::string pool_key;
  };
  std::unordered_map<std::string, Target> targets_;  // by function type name
  std::unordered_map<std::string, Pool> pools_;  // by host:port
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
    Target target;
    target.url_text =
        http_invoker::ExpandUrlTemplate(spec_.url_path_template, batch.target.type.name);
    auto url = http_invoker::ParseHttpUrl(target.url_text);
    if (!url.ok()) return fail(url.status());
    target.url = std::move(url).value();
    target.pool_key = target.url.host + ":" + std::to_string(target.url.port);
    cached = targets_.emplace(batch.target.type.name, std::move(target)).first;
  }
  call->url_text = cached->second.url_text;
  call->url = cached->second.url;
  call->pool_key = cached->second.pool_key;

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
    if (LooksAlive(*conn)) {
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
  auto conn = std::make_shared<Connection>(io_, call->pool_key);
  ++pool.open;
  call->conn = conn;
  call->phase = Call::Phase::kConnecting;
  error_code ec;
  auto address = asio::ip::make_address(call->url.host, ec);
  if (!ec) {  // an IP literal needs no resolver (and no resolver thread)
    return Connect(call, conn, {tcp::endpoint(address, call->url.port)});
  }
  conn->resolver.async_resolve(
      call->url.host, std::to_string(call->url.port),
      [self = shared_from_this(), call, conn](error_code ec, tcp::resolver::results_type eps) {
        if (self->Stale(call, conn)) return;
        if (ec) {
          self->Close(conn);
          return self->AttemptFailed(call, "resolving " + call->url.host + ": " + ec.message());
        }
        self->Connect(call, conn, std::vector<tcp::endpoint>(eps.begin(), eps.end()));
      });
}

void Core::Connect(const CallPtr& call, const ConnectionPtr& conn,
                   std::vector<tcp::endpoint> eps) {
  conn->stream.expires_after(spec_.transport.connect_timeout);
  conn->stream.async_connect(
      eps, [self = shared_from_this(), call, conn](error_code ec, const tcp::endpoint&) {
        if (self->Stale(call, conn)) return;
        if (ec) {
          self->Close(conn);
          std::string what = ec == beast::error::timeout
                                 ? "timed out after " +
                                       std::to_string(self->spec_.transport.connect_timeout.count()) +
                                       " ms"
                                 : "failed: " + ec.message();
          return self->AttemptFailed(call, "connect to " + call->pool_key + " " + what);
        }
        ++self->stats_.connections_opened;
        conn->stream.expires_never();  // the call's deadline timer bounds the rest
        error_code ignored;
        conn->stream.socket().set_option(tcp::no_delay(true), ignored);
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
  http::async_write(
      conn->stream, call->request,
      [self = shared_from_this(), call, conn](error_code ec, size_t) {
        if (self->Stale(call, conn)) return;
        if (ec) return self->OnIoError(call, conn, "sending request", ec);
        self->ReadReply(call, conn);
      });
}

// Header first, then body. Beast 1.74 drops the body_limit error when header and body arrive in
// one read with an eager parser (http::async_read), so the Content-Length is checked here,
// before the eager body read; chunked and read-to-EOF bodies are limited by the parser itself.
void Core::ReadReply(const CallPtr& call, const ConnectionPtr& conn) {
  http::async_read_header(
      conn->stream, conn->buffer, *call->parser,
      [self = shared_from_this(), call, conn](error_code ec, size_t) {
        if (self->Stale(call, conn)) return;
        if (ec) return self->OnResponse(call, conn, ec);
        const auto length = call->parser->content_length();
        if (length && *length > static_cast<uint64_t>(self->spec_.transport.payload_max_bytes)) {
          return self->OnResponse(call, conn, http::error::body_limit);
        }
        if (call->parser->is_done()) return self->OnResponse(call, conn, {});
        http::async_read(conn->stream, conn->buffer, *call->parser,
                         [self, call, conn](error_code ec, size_t) {
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
                              ec == asio::error::broken_pipe;
  // A keep-alive connection the server closed while it sat in the pool (the close raced our
  // request): retry on a fresh connection without counting an attempt. Bounded, since each such
  // retry consumes one pooled connection and fresh connections never qualify.
  if (call->reused && nothing_received && closed_by_peer) {
    ++stats_.stale_connection_retries;
    return StartAttempt(call);
  }
  AttemptFailed(call, what + " to " + call->url_text + ": " + ec.message());
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
  if (response.keep_alive() && conn->buffer.size() == 0 && !shut_down_) {
    Release(conn);
  } else {
    Close(conn);
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
  switch (call->phase) {
    case Call::Phase::kDone:
      return;
    case Call::Phase::kInFlight:
      call->last_error = "no reply from " + call->url_text + " before the call budget ran out";
      break;
    case Call::Phase::kConnecting:
      call->last_error = "connect to " + call->pool_key + " did not finish within the call budget";
      break;
    case Call::Phase::kWaiting:
      call->last_error = "no connection to " + call->pool_key + " became free (pool_size " +
                         std::to_string(pool_size_) + ")";
      break;
    case Call::Phase::kBackoff:
      break;
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
    self->Close(conn);
  });
}

// Idempotent. A closed connection never returns to the pool; its slot goes to a waiting call.
void Core::Close(const ConnectionPtr& conn) {
  if (conn->state == Connection::State::kClosed) return;
  Pool& pool = pools_[conn->pool_key];
  if (conn->state == Connection::State::kIdle) {
    pool.idle.erase(std::remove(pool.idle.begin(), pool.idle.end(), conn), pool.idle.end());
  }
  conn->state = Connection::State::kClosed;
  --pool.open;
  error_code ignored;
  conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  conn->stream.close();
  conn->idle_timer.cancel();
  conn->resolver.cancel();
  if (!shut_down_) ServeWaiters(pool);
}

void Core::ServeWaiters(Pool& pool) {
  while (pool.open < pool_size_ && !pool.waiters.empty()) {
    CallPtr waiter = std::move(pool.waiters.front());
    pool.waiters.pop_front();
    if (waiter->phase == Call::Phase::kWaiting) OpenConnection(waiter, pool);
  }
}

// A pooled connection whose peer already closed (or sent unsolicited bytes) is useless: peek
// without blocking. Catches the common case before a request is wasted on it.
bool Core::LooksAlive(Connection& conn) {
  auto& socket = conn.stream.socket();
  error_code ec;
  socket.non_blocking(true, ec);
  if (ec) return false;
  char byte;
  socket.receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
  return ec == asio::error::would_block || ec == asio::error::try_again;
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
    while (!pool.idle.empty()) Close(pool.idle.back());
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
  HttpInvoker(asio::io_context& io, const HttpEndpointSpec& spec)
      : core_(std::make_shared<Core>(io, spec)) {}
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

InvokerPtr MakeHttpInvoker(boost::asio::io_context& io, const HttpEndpointSpec& endpoint) {
  return std::make_unique<HttpInvoker>(io, endpoint);
}

}  // namespace eddy
