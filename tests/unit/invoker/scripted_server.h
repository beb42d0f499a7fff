#pragma once
// A scripted HTTP/1.1 server for invoker tests. Raw Asio on 127.0.0.1:0 (or a unix socket),
// plain or TLS (optionally requiring a client certificate), running C++20 coroutines on the
// test's own io_context (one thread, no locks), so a script can send any bytes, stall, or close
// whenever it likes. Each accepted connection runs the script once, after the TLS handshake; a
// connection whose handshake fails is counted and closed without running it.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "eddy/model/invocation.h"

namespace eddy::testing {

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  int connection = 0;  // 0-based index of the connection it arrived on
};

struct ServerOptions {
  std::string unix_socket;  // listen on this path (created, removed again) instead of TCP
  std::string cert;         // TLS when set: certificate chain and key (PEM)
  std::string key;
  std::string client_ca;    // TLS: require a client certificate signed by this CA
};

class ScriptedServer;

class ServerConnection {
 public:
  using Socket = boost::asio::generic::stream_protocol::socket;  // TCP or unix

  ServerConnection(Socket socket, boost::asio::ssl::context& tls, bool use_tls, int index,
                   ScriptedServer* server);

  // One request, or nullopt when the peer closed or sent something that is not HTTP.
  boost::asio::awaitable<std::optional<ReceivedRequest>> ReadRequest();
  // Writes raw bytes; false on error.
  boost::asio::awaitable<bool> Write(std::string bytes);
  boost::asio::awaitable<void> Sleep(std::chrono::milliseconds d);
  // Waits until the peer closes (or `limit` passes); true if it closed.
  boost::asio::awaitable<bool> WaitForPeerClose(std::chrono::milliseconds limit);
  void Close();
  int index() const { return index_; }

 private:
  friend class ScriptedServer;
  // Calls f with the TLS stream or the plain socket.
  template <class F>
  auto WithStream(F&& f) {
    return tls_ ? f(stream_) : f(stream_.next_layer());
  }

  boost::asio::ssl::stream<Socket> stream_;
  bool tls_;
  boost::beast::flat_buffer buffer_;
  int index_;
  ScriptedServer* server_;        // only touched while *alive_
  std::shared_ptr<bool> alive_;   // the server's flag
};

class ScriptedServer {
 public:
  using Script = std::function<boost::asio::awaitable<void>(ServerConnection&)>;

  ScriptedServer(boost::asio::io_context& io, Script script, ServerOptions options = {});
  ~ScriptedServer();  // closes the listener and every live connection

  uint16_t port() const { return port_; }
  // http://127.0.0.1:<port><path>, https://.. with TLS, http+unix://<socket><path> on a unix
  // socket (https+unix with TLS).
  std::string Url(std::string_view path = "/{function.name}") const;
  int connections_accepted() const { return accepted_; }
  int connections_closed() const { return closed_; }
  const std::vector<ReceivedRequest>& requests() const { return requests_; }
  // TLS: failed server-side handshakes and their errors ("peer did not return a certificate").
  const std::vector<std::string>& handshake_errors() const { return handshake_errors_; }
  // TLS: SNI per successful handshake ("" when the client sent none).
  const std::vector<std::string>& server_names() const { return server_names_; }
  // TLS: successful handshakes where the client presented a certificate.
  int client_certificates() const { return client_certificates_; }
  // TLS: connections the client ended with close_notify (a clean close, not a truncation).
  int clean_tls_closes() const { return clean_tls_closes_; }

 private:
  friend class ServerConnection;
  template <class Acceptor>
  boost::asio::awaitable<void> Accept(Acceptor& acceptor, std::shared_ptr<bool> alive);
  boost::asio::awaitable<void> Run(std::shared_ptr<ServerConnection> conn, Script script,
                                   std::shared_ptr<bool> alive);

  boost::asio::io_context& io_;
  Script script_;
  ServerOptions options_;
  boost::asio::ssl::context tls_;
  std::optional<boost::asio::ip::tcp::acceptor> tcp_acceptor_;
  std::optional<boost::asio::local::stream_protocol::acceptor> unix_acceptor_;
  uint16_t port_ = 0;
  int accepted_ = 0;
  int closed_ = 0;
  int client_certificates_ = 0;
  int clean_tls_closes_ = 0;
  std::vector<ReceivedRequest> requests_;
  std::vector<std::string> handshake_errors_;
  std::vector<std::string> server_names_;
  std::vector<std::weak_ptr<ServerConnection>> live_;
  std::shared_ptr<bool> alive_;  // coroutines check it before touching the server after a wait
};

// "HTTP/1.1 <status> X\r\nContent-Type: ..\r\nContent-Length: ..\r\n<extra>\r\n<body>".
// An empty content_type omits the header.
std::string HttpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_headers = "");
// A 200 application/octet-stream reply carrying `reply`.
std::string OkReply(const FunctionReply& reply);

// A script that answers every request on the connection with `respond(request)` (keep-alive)
// until the peer closes.
ScriptedServer::Script RespondWith(std::function<std::string(const ReceivedRequest&)> respond);

}  // namespace eddy::testing
