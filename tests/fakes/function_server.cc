#include "fakes/function_server.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace eddy::fakes {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Reply::Reply(FromFunction response) { body_ = response.SerializeAsString(); }

Reply Reply::Raw(int status, std::string content_type, std::string body) {
  Reply r;
  r.kind_ = Kind::kRaw;
  r.status_ = status;
  r.content_type_ = std::move(content_type);
  r.body_ = std::move(body);
  return r;
}

Reply Reply::CloseConnection() {
  Reply r;
  r.kind_ = Kind::kCloseConnection;
  return r;
}

Reply& Reply::WithDelay(std::chrono::milliseconds delay) & {
  delay_ = delay;
  return *this;
}

Reply&& Reply::WithDelay(std::chrono::milliseconds delay) && {
  delay_ = delay;
  return std::move(*this);
}

class FakeFunctionServer::Impl {
 public:
  explicit Impl(Options options)
      : options_(options),
        ioc_(std::make_unique<asio::io_context>()),
        acceptor_(std::make_unique<tcp::acceptor>(*ioc_)) {}

  ~Impl() { Stop(); }

  Status Listen() {
    boost::system::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("fake function server cannot listen: " + ec.message());
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*ioc_, Accept(), asio::detached);
    int threads = options_.threads < 1 ? 1 : options_.threads;
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_->run(); });
    return Status::Ok();
  }

  void Stop() {
    std::call_once(stop_once_, [this] {
      ioc_->stop();
      for (auto& t : threads_) t.join();
      threads_.clear();
      // Destroying the io_context destroys the suspended coroutine frames, which closes every
      // socket they own. Do it now, while the rest of Impl (handlers, log) is still alive.
      acceptor_.reset();
      ioc_.reset();
    });
  }

  uint16_t port() const { return port_; }

  void Register(std::string function_type, Handler handler) {
    std::lock_guard lock(mu_);
    handlers_[std::move(function_type)] = std::make_shared<Handler>(std::move(handler));
  }

  std::vector<RecordedRequest> Requests() const {
    std::lock_guard lock(mu_);
    return log_;
  }

  std::size_t RequestCount(std::string_view function_type) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(function_type);
    return it == counts_.end() ? 0 : it->second;
  }

  std::size_t TotalRequests() const {
    std::lock_guard lock(mu_);
    return log_.size();
  }

  std::size_t RejectedRequests() const { return rejected_.load(); }
  std::size_t ConnectionsAccepted() const { return connections_.load(); }

  bool WaitForRequests(std::string_view function_type, std::size_t n,
                       std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      auto it = counts_.find(function_type);
      return it != counts_.end() && it->second >= n;
    });
  }

  void ClearLog() {
    std::lock_guard lock(mu_);
    log_.clear();
    counts_.clear();
  }

 private:
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  asio::awaitable<void> Accept() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor_->async_accept(
          asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      connections_.fetch_add(1);
      asio::co_spawn(*ioc_, Session(std::move(socket)), asio::detached);
    }
  }

  static Response TextResponse(http::status status, std::string text, unsigned version) {
    Response res{status, version};
    res.set(http::field::content_type, "text/plain");
    res.body() = std::move(text);
    return res;
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      boost::system::error_code ec;
      co_await http::async_read(socket, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != asio::error::connection_reset && ec != asio::error::operation_aborted) {
          // A request Beast cannot parse: answer 400 once, then close (framing is lost).
          rejected_.fetch_add(1);
          Response res = TextResponse(http::status::bad_request,
                                      "malformed HTTP request: " + ec.message(), 11);
          res.keep_alive(false);
          res.prepare_payload();
          boost::system::error_code wec;
          co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, wec));
        }
        break;
      }
      Request request = parser.release();
      bool keep_alive = request.keep_alive();

      std::optional<Response> response;
      std::chrono::milliseconds delay{0};
      bool close_without_reply = false;
      Handle(request, &response, &delay, &close_without_reply);

      if (delay.count() > 0) {
        asio::steady_timer timer(socket.get_executor(), delay);
        boost::system::error_code tec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, tec));
        if (tec) break;
      }
      if (close_without_reply) break;

      response->keep_alive(keep_alive);
      response->prepare_payload();
      boost::system::error_code wec;
      co_await http::async_write(socket, *response, asio::redirect_error(asio::use_awaitable, wec));
      if (wec || !keep_alive) break;
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    socket.close(ignored);
  }

  void Handle(const Request& request, std::optional<Response>* response,
              std::chrono::milliseconds* delay, bool* close_without_reply) {
    unsigned version = request.version();
    auto reject = [&](http::status status, std::string text) {
      rejected_.fetch_add(1);
      response->emplace(TextResponse(status, std::move(text), version));
    };
    if (request.method() != http::verb::post) {
      reject(http::status::method_not_allowed, "only POST is supported");
      (*response)->set(http::field::allow, "POST");
      return;
    }
    auto content_type = request.find(http::field::content_type);
    if (content_type != request.end() &&
        !beast::iequals(content_type->value(), "application/octet-stream")) {
      reject(http::status::unsupported_media_type,
             "content type must be application/octet-stream, got " +
                 std::string(content_type->value()));
      return;
    }
    if (request.body().empty()) {
      reject(http::status::bad_request, "empty request body");
      return;
    }
    ToFunction to_function;
    if (!to_function.ParseFromString(request.body()) || !to_function.has_invocation()) {
      reject(http::status::bad_request, "request body is not a ToFunction invocation batch");
      return;
    }
    const auto& batch = to_function.invocation();
    std::string function_type = batch.target().namespace_() + "/" + batch.target().type();

    std::shared_ptr<Handler> handler;
    {
      std::lock_guard lock(mu_);
      auto it = handlers_.find(function_type);
      if (it == handlers_.end()) it = handlers_.find(batch.target().namespace_() + "/*");
      if (it != handlers_.end()) handler = it->second;
    }
    if (!handler) {
      reject(http::status::not_found, "unknown function type " + function_type);
      return;
    }
    Record(std::string(request.target()), function_type, to_function);

    std::optional<Reply> reply;
    try {
      reply.emplace((*handler)(to_function));
    } catch (const std::exception& e) {
      response->emplace(TextResponse(http::status::internal_server_error,
                                     std::string("function failed: ") + e.what(), version));
      return;
    } catch (...) {
      response->emplace(
          TextResponse(http::status::internal_server_error, "function failed", version));
      return;
    }
    *delay = reply->delay();
    if (reply->kind() == Reply::Kind::kCloseConnection) {
      *close_without_reply = true;
      return;
    }
    Response res{static_cast<http::status>(reply->status()), version};
    res.set(http::field::content_type, reply->content_type());
    res.body() = reply->body();
    response->emplace(std::move(res));
  }

  void Record(std::string path, std::string function_type, const ToFunction& request) {
    RecordedRequest rec;
    rec.path = std::move(path);
    rec.function_type = function_type;
    const auto& batch = request.invocation();
    rec.id = batch.target().id();
    rec.num_invocations = static_cast<std::size_t>(batch.invocations_size());
    for (const auto& pv : batch.state()) {
      RecordedState s;
      s.name = pv.state_name();
      s.has_value = pv.has_state_value() && pv.state_value().has_value();
      s.type_name = pv.state_value().typename_();
      s.value = pv.state_value().value();
      rec.states.push_back(std::move(s));
    }
    rec.request = request;
    {
      std::lock_guard lock(mu_);
      log_.push_back(std::move(rec));
      ++counts_[function_type];
    }
    cv_.notify_all();
  }

  Options options_;
  std::unique_ptr<asio::io_context> ioc_;  // reset by Stop()
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  std::once_flag stop_once_;
  uint16_t port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Handler>, std::less<>> handlers_;
  std::vector<RecordedRequest> log_;
  std::map<std::string, std::size_t, std::less<>> counts_;
  std::atomic<std::size_t> rejected_{0};
  std::atomic<std::size_t> connections_{0};
};

Result<std::unique_ptr<FakeFunctionServer>> FakeFunctionServer::Start(Options options) {
  auto impl = std::make_unique<Impl>(options);
  Status st = impl->Listen();
  if (!st.ok()) return st;
  return std::unique_ptr<FakeFunctionServer>(new FakeFunctionServer(std::move(impl)));
}

FakeFunctionServer::FakeFunctionServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeFunctionServer::~FakeFunctionServer() = default;

uint16_t FakeFunctionServer::port() const { return impl_->port(); }
std::string FakeFunctionServer::BaseUrl() const {
  return "http://127.0.0.1:" + std::to_string(port());
}
std::string FakeFunctionServer::UrlPathTemplate() const { return BaseUrl() + "/{function.name}"; }

void FakeFunctionServer::Register(std::string function_type, Handler handler) {
  impl_->Register(std::move(function_type), std::move(handler));
}

std::vector<RecordedRequest> FakeFunctionServer::Requests() const { return impl_->Requests(); }

std::vector<RecordedRequest> FakeFunctionServer::RequestsFor(
    std::string_view function_type) const {
  std::vector<RecordedRequest> out;
  for (auto& r : impl_->Requests()) {
    if (r.function_type == function_type) out.push_back(std::move(r));
  }
  return out;
}

std::size_t FakeFunctionServer::RequestCount(std::string_view function_type) const {
  return impl_->RequestCount(function_type);
}
std::size_t FakeFunctionServer::TotalRequests() const { return impl_->TotalRequests(); }
std::size_t FakeFunctionServer::RejectedRequests() const { return impl_->RejectedRequests(); }
std::size_t FakeFunctionServer::ConnectionsAccepted() const {
  return impl_->ConnectionsAccepted();
}
bool FakeFunctionServer::WaitForRequests(std::string_view function_type, std::size_t n,
                                         std::chrono::milliseconds timeout) const {
  return impl_->WaitForRequests(function_type, n, timeout);
}
void FakeFunctionServer::ClearLog() { impl_->ClearLog(); }
void FakeFunctionServer::Stop() { impl_->Stop(); }

}  // namespace eddy::fakes
