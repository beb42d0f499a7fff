// StartHttpServer: StateFun's request-reply protocol over HTTP/1.1 (Boost.Beast), on TCP or a
// unix domain socket, optionally with TLS (and client certificates). One io_context run by
// `threads` threads; every connection gets its own strand, so a connection's handlers never run
// concurrently while different connections run in parallel. Handlers run on the I/O thread that
// read the request: functions are expected to be quick (as in every StateFun SDK server).

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <array>
#include <cctype>
#include <chrono>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "eddy/sdk/server.h"

namespace eddy::sdk {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using unix_socket = asio::local::stream_protocol;

// Request line and headers of a ToFunction POST are small; anything larger is hostile.
constexpr uint32_t kHeaderLimit = 16 * 1024;
// A connection waiting for (the rest of) a request, or a client not reading its response, is
// closed after this long, so idle or stuck peers cannot pin a connection forever.
constexpr std::chrono::seconds kIdleTimeout{60};
constexpr std::chrono::seconds kHandshakeTimeout{10};
// After an error response, how long and how much to read and discard before closing, so the
// client sees the response instead of a reset caused by its own unread bytes.
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr size_t kLingerMaxBytes = 64 * 1024;
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
constexpr int kMaxThreads = 256;

constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Shared {
  const FunctionRegistry* registry = nullptr;
  uint64_t max_body_bytes = 0;
  ssl::context* tls = nullptr;  // null for plaintext
};

beast::string_view Sv(std::string_view s) { return {s.data(), s.size()}; }

Response MakeResponse(http::status status, unsigned version, std::string_view content_type,
                      std::string body) {
  Response res{status, version};
  res.set(http::field::server, "eddy-sdk");
  res.set(http::field::content_type, Sv(content_type));
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response TextResponse(http::status status, unsigned version, std::string body) {
  body.push_back('\n');
  return MakeResponse(status, version, kTextPlain, std::move(body));
}

// "application/octet-stream", in any case, with or without parameters.
bool IsOctetStream(beast::string_view header) {
  std::string_view value(header.data(), header.size());
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  if (value.size() != kOctetStream.size()) return false;
  for (size_t i = 0; i < value.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(value[i])) != kOctetStream[i]) return false;
  }
  return true;
}

Response Handle(const Request& req, const FunctionRegistry& registry) {
  const unsigned version = req.version();
  if (req.method() != http::verb::post) {
    Response res = TextResponse(http::status::method_not_allowed, version,
                                "only POST is supported");
    res.set(http::field::allow, "POST");
    return res;
  }
  auto content_type = req.find(http::field::content_type);
  if (content_type == req.end() || !IsOctetStream(content_type->value())) {
    return TextResponse(http::status::unsupported_media_type, version,
                        "Content-Type must be application/octet-stream");
  }
  if (req.body().empty()) {
    return TextResponse(http::status::bad_request, version, "empty body: expected a ToFunction");
  }
  Result<std::string> reply = Internal("not run");
  try {
    reply = HandleToFunction(registry, req.body());
  } catch (const std::exception& e) {  // only allocation failures can get here
    reply = Internal(e.what());
  }
  if (reply.ok()) {
    return MakeResponse(http::status::ok, version, kOctetStream, std::move(reply).value());
  }
  const Status& status = reply.status();
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return TextResponse(http::status::bad_request, version, status.message());
    case StatusCode::kNotFound:
      return TextResponse(http::status::not_found, version, status.message());
    default:
      spdlog::warn("function server: {}", status.ToString());
      return TextResponse(http::status::internal_server_error, version, status.message());
  }
}

template <typename Stream>
struct IsTls : std::false_type {};
template <typename Next>
struct IsTls<beast::ssl_stream<Next>> : std::true_type {};

template <typename Stream, typename Socket>
Stream MakeStream(Socket&& socket, const Shared& shared) {
  if constexpr (IsTls<Stream>::value) {
    return Stream(std::forward<Socket>(socket), *shared.tls);
  } else {
    return Stream(std::forward<Socket>(socket));
  }
}

// One connection: (TLS handshake), then read request / write response until the client closes,
// asks to close, errs or idles. Owned by the shared_ptr in its one pending handler; destroyed
// when that completes without starting another, or when Stop() destroys the io_context.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename Socket>
  Session(Socket&& socket, const Shared& shared)
      : stream_(MakeStream<Stream>(std::forward<Socket>(socket), shared)), shared_(shared) {}

  void Start() {
    if constexpr (IsTls<Stream>::value) {
      Lowest().expires_after(kHandshakeTimeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->Close();  // bad client, no certificate...
                                self->ReadRequest();
                              });
    } else {
      ReadRequest();
    }
  }

 private:
  auto& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(shared_.max_body_bytes);
    Lowest().expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();  // closed between requests
    if (ec && ec.category() != http::make_error_code(http::error::end_of_stream).category()) {
      return Close();  // timeout, reset, TLS failure: nobody to answer
    }
    if (ec) {
      // Not HTTP, or over a limit: answer once and close, since the stream position is lost.
      Response res = ec == http::error::body_limit
                         ? TextResponse(http::status::payload_too_large, 11,
                                        "request body larger than " +
                                            std::to_string(shared_.max_body_bytes) + " bytes")
                     : ec == http::error::header_limit
                         ? TextResponse(http::status::request_header_fields_too_large, 11,
                                        "request header too large")
                         : TextResponse(http::status::bad_request, 11,
                                        "malformed HTTP request: " + ec.message());
      res.keep_alive(false);
      return Write(std::move(res));
    }
    const Request& req = parser_->get();
    Response res = Handle(req, *shared_.registry);
    res.keep_alive(req.keep_alive());
    Write(std::move(res));
  }

  void Write(Response res) {
    response_ = std::move(res);
    Lowest().expires_after(kIdleTimeout);  // a client that never reads must not pin us
    http::async_write(stream_, response_,
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!self->response_.keep_alive()) return self->CloseGracefully();
                        self->ReadRequest();
                      });
  }

  void CloseGracefully() {
    if constexpr (IsTls<Stream>::value) {
      Lowest().expires_after(kLingerTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        self->Close();
      });
    } else {
      beast::error_code ignored;
      Lowest().socket().shutdown(asio::socket_base::shutdown_send, ignored);
      Lowest().expires_after(kLingerTimeout);
      Drain();
    }
  }

  void Drain() {
    Lowest().async_read_some(asio::buffer(drain_),
                             [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ > kLingerMaxBytes) return self->Close();
                               self->Drain();
                             });
  }

  void Close() {
    beast::error_code ignored;
    Lowest().socket().shutdown(asio::socket_base::shutdown_both, ignored);
    Lowest().close();
  }

  Stream stream_;
  const Shared& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;
  std::array<char, 4096> drain_;
  size_t drained_ = 0;
};

template <typename Protocol>
class Listener : public std::enable_shared_from_this<Listener<Protocol>> {
 public:
  using Acceptor = typename Protocol::acceptor;
  using Socket = typename Protocol::socket;
  using PlainStream = beast::basic_stream<Protocol>;

  Listener(asio::io_context& ioc, Acceptor acceptor, const Shared& shared)
      : ioc_(ioc), acceptor_(std::move(acceptor)), retry_(ioc), shared_(shared) {}

  void Accept() {
    acceptor_.async_accept(asio::make_strand(ioc_), [self = this->shared_from_this()](
                                                        beast::error_code ec, Socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  // Only once the io_context threads are joined.
  void Close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void OnAccept(beast::error_code ec, Socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: wait instead of spinning on the error.
      spdlog::warn("function server: accept failed: {}", ec.message());
      retry_.expires_after(kAcceptRetryDelay);
      retry_.async_wait([self = this->shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec) self->Accept();
      });
      return;
    }
    if (shared_.tls != nullptr) {
      std::make_shared<Session<beast::ssl_stream<PlainStream>>>(std::move(socket), shared_)
          ->Start();
    } else {
      std::make_shared<Session<PlainStream>>(std::move(socket), shared_)->Start();
    }
    Accept();
  }

  asio::io_context& ioc_;
  Acceptor acceptor_;
  asio::steady_timer retry_;
  const Shared& shared_;
};

class HttpServer final : public FunctionServer {
 public:
  HttpServer() = default;
  ~HttpServer() override { Stop(); }

  uint16_t Port() const override { return port_; }

  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    if (ioc_) ioc_->stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    // No thread runs handlers any more: close the listeners, then destroy the io_context,
    // which destroys every pending handler and with it every connection.
    if (tcp_listener_) tcp_listener_->Close();
    if (unix_listener_) unix_listener_->Close();
    tcp_listener_.reset();
    unix_listener_.reset();
    ioc_.reset();
    if (!unix_path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(unix_path_, ignored);
    }
  }

  Status Start(const FunctionRegistry& registry, const ServerOptions& options) {
    if (options.threads < 1 || options.threads > kMaxThreads) {
      return InvalidArgument("threads must be between 1 and " + std::to_string(kMaxThreads));
    }
    if (options.max_body_bytes <= 0) return InvalidArgument("max_body_bytes must be positive");
    shared_.registry = &registry;
    shared_.max_body_bytes = static_cast<uint64_t>(options.max_body_bytes);
    EDDY_RETURN_IF_ERROR(SetUpTls(options));
    ioc_ = std::make_unique<asio::io_context>(options.threads);
    if (options.unix_socket.empty()) {
      EDDY_RETURN_IF_ERROR(ListenTcp(options));
      tcp_listener_->Accept();
    } else {
      EDDY_RETURN_IF_ERROR(ListenUnix(options.unix_socket));
      unix_listener_->Accept();
    }
    threads_.reserve(options.threads);
    for (int i = 0; i < options.threads; ++i) {
      threads_.emplace_back([this] {
        try {
          ioc_->run();
        } catch (const std::exception& e) {
          // Handlers do not throw; if one ever does, the server stops serving but the process
          // (the function's host) lives on.
          spdlog::error("function server: I/O thread stopped: {}", e.what());
        }
      });
    }
    return Status::Ok();
  }

 private:
  Status SetUpTls(const ServerOptions& options) {
    if (options.tls_cert.empty() && options.tls_key.empty()) {
      if (!options.tls_client_ca.empty()) {
        return InvalidArgument("tls_client_ca is set but tls_cert/tls_key are not");
      }
      return Status::Ok();
    }
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return InvalidArgument("TLS needs both tls_cert and tls_key");
    }
    tls_.emplace(ssl::context::tls_server);
    ssl::context& ctx = *tls_;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                    ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    beast::error_code ec;
    ctx.use_certificate_chain_file(options.tls_cert, ec);
    if (ec) return InvalidArgument("tls_cert '" + options.tls_cert + "': " + ec.message());
    ctx.use_private_key_file(options.tls_key, ssl::context::pem, ec);
    if (ec) return InvalidArgument("tls_key '" + options.tls_key + "': " + ec.message());
    if (!options.tls_client_ca.empty()) {
      ctx.load_verify_file(options.tls_client_ca, ec);
      if (ec) {
        return InvalidArgument("tls_client_ca '" + options.tls_client_ca + "': " + ec.message());
      }
      ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
      if (ec) return Internal("enabling client certificate verification: " + ec.message());
    }
    shared_.tls = &ctx;
    return Status::Ok();
  }

  Status ListenTcp(const ServerOptions& options) {
    beast::error_code ec;
    tcp::endpoint endpoint;
    asio::ip::address address = asio::ip::make_address(options.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, options.port);
    } else {
      tcp::resolver resolver(*ioc_);
      auto results = resolver.resolve(options.host, std::to_string(options.port),
                                      tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return InvalidArgument("cannot resolve host '" + options.host + "': " + ec.message());
      }
      endpoint = results.begin()->endpoint();
    }
    const std::string where = options.host + ":" + std::to_string(options.port);
    tcp::acceptor acceptor(*ioc_);
    if (acceptor.open(endpoint.protocol(), ec); ec) {
      return Unavailable("listen " + where + ": open: " + ec.message());
    }
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (acceptor.bind(endpoint, ec); ec) {
      return Unavailable("listen " + where + ": bind: " + ec.message());
    }
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return Unavailable("listen " + where + ": " + ec.message());
    }
    port_ = acceptor.local_endpoint(ec).port();
    tcp_listener_ = std::make_shared<Listener<tcp>>(*ioc_, std::move(acceptor), shared_);
    return Status::Ok();
  }

  Status ListenUnix(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code fs_ec;
    fs::file_status st = fs::symlink_status(path, fs_ec);
    if (fs::exists(st)) {
      if (!fs::is_socket(st)) {
        return FailedPrecondition("unix_socket '" + path + "' exists and is not a socket");
      }
      // A socket file somebody still accepts on is not stale: do not steal it.
      beast::error_code ec;
      unix_socket::socket probe(*ioc_);
      probe.connect(unix_socket::endpoint(path), ec);
      if (!ec) return FailedPrecondition("unix_socket '" + path + "' is in use by a live server");
      fs::remove(path, fs_ec);
      if (fs_ec) {
        return FailedPrecondition("removing stale unix_socket '" + path + "': " +
                                  fs_ec.message());
      }
    }
    beast::error_code ec;
    unix_socket::endpoint endpoint;
    try {
      endpoint = unix_socket::endpoint(path);  // throws when the path is too long
    } catch (const std::exception& e) {
      return InvalidArgument("unix_socket '" + path + "': " + e.what());
    }
    unix_socket::acceptor acceptor(*ioc_);
    if (acceptor.open(endpoint.protocol(), ec); ec) {
      return Unavailable("listen on " + path + ": open: " + ec.message());
    }
    if (acceptor.bind(endpoint, ec); ec) {
      return Unavailable("listen on " + path + ": bind: " + ec.message());
    }
    unix_path_ = path;  // ours now: removed again by Stop()
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
      return Unavailable("listen on " + path + ": " + ec.message());
    }
    unix_listener_ =
        std::make_shared<Listener<unix_socket>>(*ioc_, std::move(acceptor), shared_);
    return Status::Ok();
  }

  Shared shared_;
  std::optional<ssl::context> tls_;
  std::unique_ptr<asio::io_context> ioc_;
  std::shared_ptr<Listener<tcp>> tcp_listener_;
  std::shared_ptr<Listener<unix_socket>> unix_listener_;
  std::vector<std::thread> threads_;
  std::string unix_path_;
  uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<FunctionServer>> StartHttpServer(const FunctionRegistry& registry,
                                                        const ServerOptions& options) {
  auto server = std::make_unique<HttpServer>();
  try {
    EDDY_RETURN_IF_ERROR(server->Start(registry, options));
  } catch (const std::exception& e) {  // Asio/OpenSSL setup failures we did not foresee
    return Internal(std::string("starting the HTTP function server: ") + e.what());
  }
  return std::unique_ptr<FunctionServer>(std::move(server));
}

}  // namespace eddy::sdk
