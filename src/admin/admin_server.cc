#include "eddy/admin/admin_server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

namespace eddy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// Admin requests are tiny GETs: anything bigger is a misbehaving or hostile client.
constexpr size_t kHeaderLimit = 8 * 1024;
constexpr uint64_t kBodyLimit = 1024;
// Bounds the whole read buffer too (request line + headers + body + a pipelined request).
constexpr size_t kReadBufferLimit = 2 * (kHeaderLimit + kBodyLimit);
// Each connection costs a file descriptor; an admin port never needs many.
constexpr int kMaxConnections = 64;
// After an error response, how long and how much to read and discard before closing, so the
// client sees the response instead of a reset caused by its own unread bytes.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kLingerMaxBytes = 64 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

std::string EndpointString(const asio::ip::address& address, uint16_t port) {
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

struct Handlers {
  MetricsRegistry* registry;
  std::function<bool()> ready;
};

Response MakeResponse(http::status status, unsigned version, std::string_view content_type,
                      std::string body) {
  Response res{status, version};
  res.set(http::field::server, "eddy-admin");
  res.set(http::field::content_type,
          beast::string_view(content_type.data(), content_type.size()));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// Routes one parsed request. Never throws: a failure inside ready() or the renderer is a 500.
Response Route(const Request& req, const Handlers& handlers) {
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  const bool known = target == "/healthz" || target == "/readyz" || target == "/metrics";
  const unsigned version = req.version();
  if (!known) return MakeResponse(http::status::not_found, version, kTextContentType, "not found");
  const bool head = req.method() == http::verb::head;
  if (!head && req.method() != http::verb::get) {
    Response res = MakeResponse(http::status::method_not_allowed, version, kTextContentType,
                                "method not allowed");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  Response res;
  try {
    if (target == "/healthz") {
      res = MakeResponse(http::status::ok, version, kTextContentType, "ok");
    } else if (target == "/readyz") {
      const bool ready = handlers.ready && handlers.ready();
      res = ready ? MakeResponse(http::status::ok, version, kTextContentType, "ready")
                  : MakeResponse(http::status::service_unavailable, version, kTextContentType,
                                 "not ready");
    } else {
      res = MakeResponse(http::status::ok, version, kMetricsContentType,
                         handlers.registry->RenderPrometheus());
    }
  } catch (const std::exception& e) {
    spdlog::error("admin: handling {} failed: {}", target, e.what());
    res = MakeResponse(http::status::internal_server_error, version, kTextContentType,
                       "internal error");
  }
  if (head) {
    // Same headers as GET (including Content-Length), no body.
    const size_t length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  return res;
}

// One connection. Lives on the admin thread; kept alive by the shared_ptr captured in its
// pending handler, so it is destroyed when its last operation completes or when Stop()
// destroys the io_context with the handler still queued.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Handlers& handlers, std::chrono::milliseconds idle_timeout,
          int* live_connections)
      : stream_(std::move(socket)),
        buffer_(kReadBufferLimit),
        handlers_(handlers),
        idle_timeout_(idle_timeout),
        live_connections_(live_connections) {
    ++*live_connections_;
  }
  ~Session() { --*live_connections_; }

  void Run() { ReadRequest(); }

 private:
  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(idle_timeout_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();  // client closed between requests
    if (ec && ec.category() != http::make_error_code(http::error::end_of_stream).category()) {
      return Close();  // timeout, reset, Stop(): nothing useful to answer
    }
    if (ec) {
      // A protocol error: answer once, then close, because the stream position is unknown.
      http::status status = ec == http::error::body_limit ? http::status::payload_too_large
                                                          : http::status::bad_request;
      std::string body = ec == http::error::header_limit   ? "request header too large"
                         : ec == http::error::body_limit   ? "request body too large"
                                                           : "malformed request";
      Response res = MakeResponse(status, 11, kTextContentType, std::move(body));
      res.keep_alive(false);
      return Write(std::move(res));
    }
    Response res = Route(parser_->get(), handlers_);
    res.keep_alive(parser_->get().keep_alive());
    Write(std::move(res));
  }

  void Write(Response res) {
    response_ = std::move(res);
    stream_.expires_after(idle_timeout_);  // a client that never reads must not pin us
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    if (ec) return Close();
    if (!response_.keep_alive()) return LingerAndClose();
    ReadRequest();
  }

  void LingerAndClose() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  const Handlers& handlers_;
  const std::chrono::milliseconds idle_timeout_;
  int* const live_connections_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
};

}  // namespace

class AdminServer::Impl {
 public:
  Impl(Options options, MetricsRegistry& registry, std::function<bool()> ready)
      : options_(std::move(options)), handlers_{&registry, std::move(ready)} {}
  ~Impl() { Stop(); }

  Result<uint16_t> Start() {
    if (thread_.joinable()) return FailedPrecondition("admin server already started");
    boost::system::error_code ec;
    asio::ip::address address = asio::ip::make_address(options_.address, ec);
    if (ec) {
      return InvalidArgument("admin server: invalid listen address '" + options_.address +
                             "': " + ec.message());
    }
    const std::string where = EndpointString(address, options_.port);
    ioc_ = std::make_unique<asio::io_context>(1);
    acceptor_.emplace(*ioc_);
    retry_timer_.emplace(*ioc_);
    const tcp::endpoint endpoint(address, options_.port);
    // SO_REUSEADDR only lets us rebind over TIME_WAIT leftovers after a restart; on Linux it
    // does not allow two listeners on one port, so a real conflict still fails below.
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::string message = "admin server cannot listen on " + where + ": " + ec.message();
      TearDown();
      return Unavailable(std::move(message));
    }
    const uint16_t port = acceptor_->local_endpoint(ec).port();
    if (ec) {
      std::string message = "admin server: cannot read bound port for " + where + ": " +
                            ec.message();
      TearDown();
      return Internal(std::move(message));
    }
    Accept();
    thread_ = std::thread([this] { RunLoop(); });
    spdlog::info("admin server listening on {}", EndpointString(address, port));
    return port;
  }

  void Stop() {
    if (!ioc_) return;
    ioc_->stop();
    if (thread_.joinable()) thread_.join();
    TearDown();
  }

 private:
  void RunLoop() {
    // Handlers do not throw by design; this is the last line of defence so that a bug in a
    // handler cannot take the process down through an uncaught exception on this thread.
    for (;;) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("admin server: unexpected exception on the admin thread: {}", e.what());
      } catch (...) {
        spdlog::error("admin server: unexpected non-standard exception on the admin thread");
      }
    }
  }

  void Accept() {
    acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {
        // Typically EMFILE/ENFILE: back off instead of spinning on a failing accept.
        spdlog::warn("admin server: accept failed: {}", ec.message());
        retry_timer_->expires_after(kAcceptRetryDelay);
        retry_timer_->async_wait([this](boost::system::error_code wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      if (live_connections_ >= kMaxConnections) {
        boost::system::error_code ignored;
        socket.close(ignored);  // over the cap: refuse by closing right away
      } else {
        // Responses are written whole; without this, a pipelined second response waits out
        // the client's delayed ACK (tens of milliseconds) under Nagle's algorithm.
        boost::system::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<Session>(std::move(socket), handlers_, options_.idle_timeout,
                                  &live_connections_)
            ->Run();
      }
      Accept();
    });
  }

  // Destroys the sockets before the io_context they belong to. Destroying the io_context also
  // destroys queued handlers, which releases (and so closes) every remaining Session.
  void TearDown() {
    retry_timer_.reset();
    acceptor_.reset();
    ioc_.reset();
  }

  Options options_;
  Handlers handlers_;
  std::unique_ptr<asio::io_context> ioc_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> retry_timer_;
  std::thread thread_;
  int live_connections_ = 0;  // touched only on the admin thread (or after it has joined)
};

AdminServer::AdminServer(Options options, MetricsRegistry& registry, std::function<bool()> ready)
    : impl_(std::make_unique<Impl>(std::move(options), registry, std::move(ready))) {}

AdminServer::~AdminServer() = default;

Result<uint16_t> AdminServer::Start() { return impl_->Start(); }

void AdminServer::Stop() { impl_->Stop(); }

}  // namespace eddy
