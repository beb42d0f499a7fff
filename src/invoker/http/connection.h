#pragma once
// One client connection of the HTTP invoker (private to src/invoker/http): TCP or unix socket,
// plain or TLS. It only does I/O; the pool and call logic in http_invoker.cc own the bookkeeping
// fields below and decide when to connect, send, read and close.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "invoker/http/url.h"

namespace eddy::http_invoker {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using ResponseParser = boost::beast::http::response_parser<boost::beast::http::string_body>;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State { kConnecting, kBusy, kIdle, kClosed };
  using IoDone = std::function<void(boost::system::error_code)>;
  // Empty on success, else what failed, ready for an error message ("connect to X failed: ..").
  using ConnectDone = std::function<void(std::string error)>;

  // A connection to `url`'s peer (not connected yet). `tls` is required for https URLs and kept
  // alive by the connection.
  static std::shared_ptr<Connection> Make(boost::asio::io_context& io, const HttpUrl& url,
                                          std::shared_ptr<boost::asio::ssl::context> tls,
                                          std::string pool_key);
  virtual ~Connection() = default;

  // Resolves (TCP host names only), connects and, for TLS, handshakes and verifies the server's
  // certificate and name; all bounded by `timeout`.
  virtual void Connect(std::chrono::milliseconds timeout, ConnectDone done) = 0;
  // Handlers run on the io_context, hold the connection alive and may see operation_aborted
  // after Close. `request`, `parser` and `buffer` must live until the handler runs.
  virtual void Write(const Request& request, IoDone done) = 0;
  virtual void ReadHeader(ResponseParser& parser, IoDone done) = 0;
  virtual void ReadBody(ResponseParser& parser, IoDone done) = 0;
  // Idempotent. `graceful`: an idle TLS connection first sends close_notify (bounded by a short
  // timer, in the background); otherwise the socket is closed at once.
  virtual void Close(bool graceful) = 0;
  // False when the peer already closed the connection or sent unsolicited bytes; never blocks.
  virtual bool LooksAlive() = 0;
  // Adds OpenSSL's certificate verification result to a TLS error ("certificate verify failed
  // (unable to get local issuer certificate)"); other errors: ec.message().
  virtual std::string Describe(boost::system::error_code ec) = 0;

  // Owned by the pool logic.
  boost::asio::steady_timer idle_timer;
  boost::beast::flat_buffer buffer;  // survives between requests: it belongs to the connection
  std::string pool_key;
  State state = State::kConnecting;
  uint64_t idle_generation = 0;  // tells a stale idle-timer firing from a current one
  int requests_started = 0;

 protected:
  Connection(boost::asio::io_context& io, std::string key)
      : idle_timer(io), pool_key(std::move(key)) {}
};
using ConnectionPtr = std::shared_ptr<Connection>;

}  // namespace eddy::http_invoker
