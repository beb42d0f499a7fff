#include "scripted_server.h"

#include <cctype>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "eddy/protocol/codec.h"

namespace eddy::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using tcp = asio::ip::tcp;

ServerConnection::ServerConnection(tcp::socket socket, int index, ScriptedServer* server)
    : socket_(std::move(socket)), index_(index), server_(server) {}

asio::awaitable<std::optional<ReceivedRequest>> ServerConnection::ReadRequest() {
  auto alive = server_->alive_;
  http::request<http::string_body> req;
  error_code ec;
  co_await http::async_read(socket_, buffer_, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec || !*alive) co_return std::nullopt;
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
  co_await asio::async_write(socket_, asio::buffer(bytes),
                             asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec;
}

asio::awaitable<void> ServerConnection::Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(socket_.get_executor(), d);
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<bool> ServerConnection::WaitForPeerClose(std::chrono::milliseconds limit) {
  // Reads (and drops) until EOF; a timer closes our side if the peer stays.
  asio::steady_timer timer(socket_.get_executor(), limit);
  bool timed_out = false;
  timer.async_wait([&](error_code ec) {
    if (!ec) {
      timed_out = true;
      error_code ignored;
      socket_.cancel(ignored);
    }
  });
  char sink[256];
  error_code ec;
  while (!ec) {
    co_await socket_.async_read_some(asio::buffer(sink),
                                     asio::redirect_error(asio::use_awaitable, ec));
  }
  timer.cancel();
  co_return !timed_out;
}

void ServerConnection::Close() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

ScriptedServer::ScriptedServer(asio::io_context& io, Script script)
    : io_(io),
      script_(std::move(script)),
      acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      alive_(std::make_shared<bool>(true)) {
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(io_, Accept(), asio::detached);
}

ScriptedServer::~ScriptedServer() {
  *alive_ = false;
  error_code ignored;
  acceptor_.close(ignored);
  for (auto& weak : live_) {
    if (auto conn = weak.lock()) conn->Close();
  }
}

std::string ScriptedServer::Url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

asio::awaitable<void> ScriptedServer::Accept() {
  auto alive = alive_;
  while (true) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(
        asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !*alive) co_return;
    auto conn = std::make_shared<ServerConnection>(std::move(socket), accepted_++, this);
    live_.push_back(conn);
    asio::co_spawn(io_, Run(conn), asio::detached);
  }
}

asio::awaitable<void> ScriptedServer::Run(std::shared_ptr<ServerConnection> conn) {
  auto alive = alive_;
  Script script = script_;  // a copy: the frame must not depend on the server's lifetime
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
