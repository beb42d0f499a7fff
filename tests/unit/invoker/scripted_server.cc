#include "scripted_server.h"

#include <cctype>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>

#include "eddy/protocol/codec.h"

namespace eddy::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

ServerConnection::ServerConnection(Socket socket, asio::ssl::context& tls, bool use_tls,
                                   int index, ScriptedServer* server)
    : stream_(std::move(socket), tls),
      tls_(use_tls),
      index_(index),
      server_(server),
      alive_(server->alive_) {}

asio::awaitable<std::optional<ReceivedRequest>> ServerConnection::ReadRequest() {
  auto alive = alive_;
  http::request<http::string_body> req;
  error_code ec;
  co_await WithStream([&](auto& s) {
    return http::async_read(s, buffer_, req, asio::redirect_error(asio::use_awaitable, ec));
  });
  if (!*alive) co_return std::nullopt;
  if (ec) {
    // SSL_ERROR_ZERO_RETURN (close_notify) surfaces as eof; a bare TCP close as stream_truncated.
    if (tls_ && (ec == asio::error::eof || ec == http::error::end_of_stream) &&
        (SSL_get_shutdown(stream_.native_handle()) & SSL_RECEIVED_SHUTDOWN)) {
      ++server_->clean_tls_closes_;
    }
    co_return std::nullopt;
  }
  ReceivedRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = req.body();
  out.connection = index_;
  server_->requests_.push_back(out);
  co_return out;
}

asio::awaitable<bool> ServerConnection::Write(std::string bytes) {
  error_code ec;
  co_await WithStream([&](auto& s) {
    return asio::async_write(s, asio::buffer(bytes), asio::redirect_error(asio::use_awaitable, ec));
  });
  co_return !ec;
}

asio::awaitable<void> ServerConnection::Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(stream_.get_executor(), d);
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<bool> ServerConnection::WaitForPeerClose(std::chrono::milliseconds limit) {
  // Reads (and drops) until EOF; a timer closes our side if the peer stays.
  asio::steady_timer timer(stream_.get_executor(), limit);
  bool timed_out = false;
  timer.async_wait([&](error_code ec) {
    if (!ec) {
      timed_out = true;
      error_code ignored;
      stream_.next_layer().cancel(ignored);
    }
  });
  char sink[256];
  error_code ec;
  while (!ec) {
    co_await WithStream([&](auto& s) {
      return s.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
    });
  }
  timer.cancel();
  co_return !timed_out;
}

void ServerConnection::Close() {
  error_code ignored;
  stream_.next_layer().shutdown(Socket::shutdown_both, ignored);
  stream_.next_layer().close(ignored);
}

// Test setup errors throw (GoogleTest reports them); this is not product code.
ScriptedServer::ScriptedServer(asio::io_context& io, Script script, ServerOptions options)
    : io_(io),
      script_(std::move(script)),
      options_(std::move(options)),
      tls_(asio::ssl::context::tls_server),
      alive_(std::make_shared<bool>(true)) {
  if (!options_.cert.empty()) {
    tls_.use_certificate_chain_file(options_.cert);
    tls_.use_private_key_file(options_.key, asio::ssl::context::pem);
    if (!options_.client_ca.empty()) {
      tls_.load_verify_file(options_.client_ca);
      tls_.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
  }
  if (!options_.unix_socket.empty()) {
    std::remove(options_.unix_socket.c_str());
    unix_acceptor_.emplace(io, asio::local::stream_protocol::endpoint(options_.unix_socket));
    asio::co_spawn(io_, Accept(*unix_acceptor_, alive_), asio::detached);
  } else {
    tcp_acceptor_.emplace(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port_ = tcp_acceptor_->local_endpoint().port();
    asio::co_spawn(io_, Accept(*tcp_acceptor_, alive_), asio::detached);
  }
}

ScriptedServer::~ScriptedServer() {
  *alive_ = false;
  error_code ignored;
  if (tcp_acceptor_) tcp_acceptor_->close(ignored);
  if (unix_acceptor_) {
    unix_acceptor_->close(ignored);
    std::remove(options_.unix_socket.c_str());
  }
  for (auto& weak : live_) {
    if (auto conn = weak.lock()) conn->Close();
  }
}

std::string ScriptedServer::Url(std::string_view path) const {
  const std::string scheme = options_.cert.empty() ? "http" : "https";
  if (!options_.unix_socket.empty()) {
    return scheme + "+unix://" + options_.unix_socket + std::string(path);
  }
  return scheme + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

// `alive` is a parameter, copied into the frame when the coroutine is made: the server may be
// gone before the io_context first runs it.
template <class Acceptor>
asio::awaitable<void> ScriptedServer::Accept(Acceptor& acceptor, std::shared_ptr<bool> alive) {
  if (!*alive) co_return;
  while (true) {
    error_code ec;
    ServerConnection::Socket socket(io_);
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !*alive) co_return;
    auto conn = std::make_shared<ServerConnection>(std::move(socket), tls_,
                                                   !options_.cert.empty(), accepted_++, this);
    live_.push_back(conn);
    asio::co_spawn(io_, Run(conn, script_, alive_), asio::detached);
  }
}

// Parameters, not members: the frame must not depend on the server's lifetime.
asio::awaitable<void> ScriptedServer::Run(std::shared_ptr<ServerConnection> conn, Script script,
                                          std::shared_ptr<bool> alive) {
  if (!*alive) co_return;
  if (conn->tls_) {
    error_code ec;
    co_await conn->stream_.async_handshake(asio::ssl::stream_base::server,
                                           asio::redirect_error(asio::use_awaitable, ec));
    if (!*alive) co_return;
    if (ec) {
      handshake_errors_.push_back(ec.message());
      conn->Close();
      ++closed_;
      co_return;
    }
    SSL* ssl = conn->stream_.native_handle();
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    server_names_.push_back(sni ? sni : "");
    if (X509* peer = SSL_get_peer_certificate(ssl)) {
      ++client_certificates_;
      X509_free(peer);
    }
  }
  co_await script(*conn);
  conn->Close();
  if (*alive) ++closed_;
}

std::string HttpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Scripted\r\n";
  if (!content_type.empty()) out += "Content-Type: " + std::string(content_type) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += std::string(extra_headers);
  out += "\r\n";
  out += std::string(body);
  return out;
}

std::string OkReply(const FunctionReply& reply) {
  return HttpResponse(200, "application/octet-stream", EncodeFromFunction(reply));
}

ScriptedServer::Script RespondWith(std::function<std::string(const ReceivedRequest&)> respond) {
  return [respond = std::move(respond)](ServerConnection& c) -> asio::awaitable<void> {
    while (auto req = co_await c.ReadRequest()) {
      if (!co_await c.Write(respond(*req))) co_return;
    }
  };
}

}  // namespace eddy::testing
