// The four transports (TCP or unix socket, plain or TLS) are one template over Beast's
// basic_stream, whose expiry bounds connect + handshake the same way for all of them. The core
// sees only the virtual interface, so its pool/retry logic is written once.

#include "invoker/http/connection.h"

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "eddy/common/status.h"

namespace eddy::http_invoker {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using boost::system::error_code;

// How long a graceful TLS close waits for the peer's close_notify (or EOF) before it just closes.
constexpr std::chrono::milliseconds kTlsShutdownTimeout(500);

template <class Protocol, bool kTls>
class StreamConnection final : public Connection {
  using Lowest = beast::basic_stream<Protocol>;
  using Stream = std::conditional_t<kTls, beast::ssl_stream<Lowest>, Lowest>;
  static constexpr bool kUnix = std::is_same_v<Protocol, local>;

 public:
  StreamConnection(asio::io_context& io, const HttpUrl& url, std::shared_ptr<ssl::context> tls,
                   std::string key) requires kTls
      : Connection(io, std::move(key)), url_(url), tls_(std::move(tls)), stream_(io, *tls_) {}
  StreamConnection(asio::io_context& io, const HttpUrl& url, std::shared_ptr<ssl::context>,
                   std::string key) requires(!kTls)
      : Connection(io, std::move(key)), url_(url), stream_(io) {}

  void Connect(std::chrono::milliseconds timeout, ConnectDone done) override {
    timeout_ = timeout;
    if constexpr (kUnix) {
      lowest().expires_after(timeout_);
      lowest().async_connect(local::endpoint(url_.socket_path),
                             [self = Self(), done = std::move(done)](error_code ec) {
                               self->OnConnected(ec, done);
                             });
    } else {
      error_code ec;
      auto address = asio::ip::make_address(url_.host, ec);
      if (!ec) {  // an IP literal needs no resolver (and no resolver thread)
        lowest().expires_after(timeout_);
        lowest().async_connect(tcp::endpoint(address, url_.port),
                               [self = Self(), done = std::move(done)](error_code ec) {
                                 self->OnConnected(ec, done);
                               });
        return;
      }
      // Name resolution is not part of the connect timeout (the call's deadline bounds it).
      resolver_.emplace(lowest().get_executor());
      resolver_->async_resolve(
          url_.host, std::to_string(url_.port),
          [self = Self(), done = std::move(done)](error_code ec,
                                                  tcp::resolver::results_type results) {
            if (ec) return done("resolving " + self->url_.host + ": " + ec.message());
            self->lowest().expires_after(self->timeout_);
            self->lowest().async_connect(
                results, [self, done](error_code ec, const tcp::endpoint&) {
                  self->OnConnected(ec, done);
                });
          });
    }
  }

  void Write(const Request& request, IoDone done) override {
    http::async_write(stream_, request,
                      [self = Self(), done = std::move(done)](error_code ec, size_t) { done(ec); });
  }

  void ReadHeader(ResponseParser& parser, IoDone done) override {
    http::async_read_header(
        stream_, buffer, parser,
        [self = Self(), done = std::move(done)](error_code ec, size_t) { done(ec); });
  }

  void ReadBody(ResponseParser& parser, IoDone done) override {
    http::async_read(stream_, buffer, parser,
                     [self = Self(), done = std::move(done)](error_code ec, size_t) { done(ec); });
  }

  void Close(bool graceful) override {
    if (closed_) return;
    closed_ = true;
    if (resolver_) resolver_->cancel();
    if constexpr (kTls) {
      if (graceful && handshake_done_) {
        // close_notify tells the server the connection ended on purpose (not a truncation).
        // Runs in the background, holding the connection; the expiry bounds the wait.
        lowest().expires_after(kTlsShutdownTimeout);
        stream_.async_shutdown([self = Self()](error_code) { self->CloseSocket(); });
        return;
      }
    }
    CloseSocket();
  }

  // A peek without blocking: a closed peer reads as EOF, unsolicited bytes as data.
  bool LooksAlive() override {
    if (closed_) return false;
    if constexpr (kTls) {
      if (SSL_pending(stream_.native_handle()) > 0) return false;
    }
    auto& socket = lowest().socket();
    error_code ec;
    socket.non_blocking(true, ec);
    if (ec) return false;
    char byte;
    socket.receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, ec);
    return ec == asio::error::would_block || ec == asio::error::try_again;
  }

  std::string Describe(error_code ec) override {
    std::string text = ec.message();
    if constexpr (kTls) {
      if (ec.category() == asio::error::get_ssl_category()) {
        const long verify = SSL_get_verify_result(stream_.native_handle());
        if (verify != X509_V_OK) {
          text += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
        }
      }
    }
    return text;
  }

 private:
  std::shared_ptr<StreamConnection> Self() {
    return std::static_pointer_cast<StreamConnection>(shared_from_this());
  }
  Lowest& lowest() { return beast::get_lowest_layer(stream_); }

  void OnConnected(error_code ec, const ConnectDone& done) {
    if (ec) {
      if (ec == beast::error::timeout) {
        return done("connect to " + url_.Peer() + " timed out after " +
                    std::to_string(timeout_.count()) + " ms");
      }
      return done("connect to " + url_.Peer() + " failed: " + ec.message());
    }
    if constexpr (!kUnix) {
      error_code ignored;
      lowest().socket().set_option(tcp::no_delay(true), ignored);
    }
    if constexpr (kTls) {
      if (std::string error = PrepareHandshake(); !error.empty()) {
        return done("TLS setup for " + url_.Peer() + " failed: " + error);
      }
      // The connect expiry still runs: connect + handshake share connect_timeout.
      stream_.async_handshake(ssl::stream_base::client, [self = Self(), done](error_code ec) {
        if (ec == beast::error::timeout) {
          return done("TLS handshake with " + self->url_.Peer() + " timed out (connect_timeout " +
                      std::to_string(self->timeout_.count()) + " ms)");
        }
        if (ec) return done("TLS handshake with " + self->url_.Peer() + " failed: " +
                            self->Describe(ec));
        self->handshake_done_ = true;
        self->lowest().expires_never();  // the call's deadline timer bounds the rest
        done({});
      });
    } else {
      lowest().expires_never();
      done({});
    }
  }

  // Server name checks by OpenSSL itself during the handshake (so the verify result names a
  // mismatch), and SNI for DNS names (never for IP literals, RFC 6066).
  std::string PrepareHandshake() requires kTls {
    SSL* ssl = stream_.native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const std::string& name = url_.server_name;
    error_code not_ip;
    asio::ip::make_address(name, not_ip);
    if (!not_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
        return "cannot check the certificate against IP " + name;
      }
      return {};
    }
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0) != 1) {
      return "cannot check the certificate against host name " + name;
    }
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) {
      return "cannot set SNI " + name;
    }
    return {};
  }

  void CloseSocket() {
    error_code ignored;
    lowest().socket().shutdown(asio::socket_base::shutdown_both, ignored);
    lowest().close();
  }

  const HttpUrl url_;
  std::shared_ptr<ssl::context> tls_;  // before stream_: the SSL object is made from it
  Stream stream_;
  std::optional<tcp::resolver> resolver_;  // TCP host names only
  std::chrono::milliseconds timeout_{0};
  bool handshake_done_ = false;
  bool closed_ = false;
};

template <class Protocol, bool kTls>
ConnectionPtr MakeOne(asio::io_context& io, const HttpUrl& url, std::shared_ptr<ssl::context> tls,
                      std::string key) {
  return std::make_shared<StreamConnection<Protocol, kTls>>(io, url, std::move(tls),
                                                            std::move(key));
}

}  // namespace

ConnectionPtr Connection::Make(asio::io_context& io, const HttpUrl& url,
                               std::shared_ptr<ssl::context> tls, std::string pool_key) {
  EDDY_CHECK(!url.tls || tls != nullptr);
  try {  // SSL_new can fail (out of memory); asio throws then
    if (url.unix_socket) {
      return url.tls ? MakeOne<local, true>(io, url, std::move(tls), std::move(pool_key))
                     : MakeOne<local, false>(io, url, std::move(tls), std::move(pool_key));
    }
    return url.tls ? MakeOne<tcp, true>(io, url, std::move(tls), std::move(pool_key))
                   : MakeOne<tcp, false>(io, url, std::move(tls), std::move(pool_key));
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace eddy::http_invoker
