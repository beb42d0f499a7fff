// eddy-bench-function: a fast standalone remote function for benchmarks. It speaks StateFun's
// request-reply protocol over HTTP/1.1 (keep-alive) and serves one keyed counter,
// `bench/counter`: state `count` (io.statefun.types/long) is answered IncompleteInvocationContext
// when missing, otherwise MODIFYed to count + N for the N invocations of the batch.
//
// Speed choices: Beast's basic_parser is subclassed so a request costs no header-map
// allocations; the body, response buffers and a protobuf arena (with a fixed first block) live
// per connection and are reused; the response header is formatted by hand; each thread runs its
// own io_context so connections never share a reactor lock.
//
//   eddy-bench-function [--port N] [--threads N] [--port-file PATH] [--egress-every N]
//   eddy-bench-function --dump-request FILE [--dump-id ID]

#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>  // before Asio: Boost 1.74 awaitable.hpp uses std::exchange
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <google/protobuf/arena.h>

#include "statefun/sdk/egress.pb.h"
#include "statefun/sdk/request_reply.pb.h"
#include "statefun/sdk/types.pb.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace reqreply = io::statefun::sdk::reqreply;
using tcp = asio::ip::tcp;

constexpr std::string_view kLongType = "io.statefun.types/long";
constexpr std::string_view kStringType = "io.statefun.types/string";
constexpr std::string_view kKafkaRecordType =
    "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord";
constexpr std::string_view kStateName = "count";
constexpr std::uint64_t kMaxBodyBytes = 32u << 20;  // StateFun's default payload_max_bytes
constexpr std::size_t kArenaBlockBytes = 64 << 10;

struct Options {
  uint16_t port = 0;
  int threads = 1;
  std::string port_file;
  std::uint64_t egress_every = 0;  // 0: never egress
  std::string egress_namespace = "bench";
  std::string egress_type = "out";
  std::string egress_topic = "bench-out";
  std::string dump_request;
  std::string dump_id = "user-1";
};

// Parses one request without building a header map: only what the protocol needs is kept.
class RequestParser final : public http::basic_parser<true> {
 public:
  explicit RequestParser(std::string* body) : body_(body) { body_->clear(); }

  http::verb method() const { return method_; }
  int version() const { return version_; }
  bool bad_content_type() const { return bad_content_type_; }

 private:
  void on_request_impl(http::verb method, beast::string_view, beast::string_view, int version,
                       beast::error_code&) override {
    method_ = method;
    version_ = version;
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(http::field name, beast::string_view, beast::string_view value,
                     beast::error_code&) override {
    // Go SDK semantics: a Content-Type, when present, must be exactly octet-stream.
    if (name == http::field::content_type &&
        !beast::iequals(value, "application/octet-stream")) {
      bad_content_type_ = true;
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length) body_->reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view s, beast::error_code&) override {
    body_->append(s.data(), s.size());
    return s.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view s,
                                 beast::error_code&) override {
    body_->append(s.data(), s.size());
    return s.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  std::string* body_;
  http::verb method_ = http::verb::unknown;
  int version_ = 11;
  bool bad_content_type_ = false;
};

// LongWrapper{sfixed64 value = 1}: 0x09 + 8 little-endian bytes, zero = no bytes.
std::string EncodeLong(int64_t v) {
  if (v == 0) return {};
  std::string out(9, '\0');
  out[0] = 0x09;
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return out;
}

bool DecodeLong(const std::string& bytes, int64_t* out) {
  if (bytes.empty()) {
    *out = 0;
    return true;
  }
  if (bytes.size() == 9 && bytes[0] == 0x09) {
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) u |= uint64_t(static_cast<unsigned char>(bytes[1 + i])) << (8 * i);
    *out = static_cast<int64_t>(u);
    return true;
  }
  io::statefun::sdk::types::LongWrapper w;  // unusual but valid encodings
  if (!w.ParseFromString(bytes)) return false;
  *out = w.value();
  return true;
}

struct HttpReply {
  int status = 200;
  std::string_view reason = "OK";
  std::string_view content_type = "application/octet-stream";
};

// Per-connection reusable buffers: after warm-up a request allocates (almost) nothing.
class Connection {
 public:
  explicit Connection(const Options& options)
      : options_(options),
        arena_block_(new char[kArenaBlockBytes]),
        arena_(MakeArenaOptions(arena_block_.get())) {
    body_.reserve(4096);
    out_body_.reserve(4096);
    out_header_.reserve(256);
  }

  asio::awaitable<void> Serve(tcp::socket socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    beast::flat_buffer buffer;
    for (;;) {
      RequestParser parser(&body_);
      parser.body_limit(kMaxBodyBytes);
      co_await http::async_read(socket, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, ec));
      bool keep_alive = false;
      HttpReply reply;
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof ||
            ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
          break;
        }
        reply = Text(400, "Bad Request", "malformed HTTP request: " + ec.message());
      } else {
        keep_alive = parser.keep_alive();
        reply = Handle(parser);
      }
      FormatHeader(reply, keep_alive, parser.version());
      std::array<asio::const_buffer, 2> buffers = {asio::buffer(out_header_),
                                                   asio::buffer(out_body_)};
      co_await asio::async_write(socket, buffers, asio::redirect_error(asio::use_awaitable, ec));
      arena_.Reset();
      if (ec || !keep_alive) break;
    }
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }

 private:
  static google::protobuf::ArenaOptions MakeArenaOptions(char* block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block;
    o.initial_block_size = kArenaBlockBytes;
    return o;
  }

  HttpReply Text(int status, std::string_view reason, std::string text) {
    out_body_ = std::move(text);
    return HttpReply{status, reason, "text/plain"};
  }

  HttpReply Handle(const RequestParser& parser) {
    if (parser.method() != http::verb::post) return Text(405, "Method Not Allowed", "POST only");
    if (parser.bad_content_type()) {
      return Text(415, "Unsupported Media Type", "expected application/octet-stream");
    }
    if (body_.empty()) return Text(400, "Bad Request", "empty request body");
    auto* request = google::protobuf::Arena::CreateMessage<reqreply::ToFunction>(&arena_);
    if (!request->ParseFromString(body_) || !request->has_invocation()) {
      return Text(400, "Bad Request", "body is not a ToFunction invocation batch");
    }
    const auto& batch = request->invocation();
    if (batch.target().namespace_() != "bench" || batch.target().type() != "counter") {
      return Text(404, "Not Found",
                  "unknown function type " + batch.target().namespace_() + "/" +
                      batch.target().type());
    }

    auto* response = google::protobuf::Arena::CreateMessage<reqreply::FromFunction>(&arena_);
    const reqreply::ToFunction::PersistedValue* state = nullptr;
    for (const auto& pv : batch.state()) {
      if (pv.state_name() == kStateName) state = &pv;
    }
    if (state == nullptr) {
      auto* missing = response->mutable_incomplete_invocation_context()->add_missing_values();
      missing->set_state_name(std::string(kStateName));
      missing->set_type_typename(std::string(kLongType));
      missing->mutable_expiration_spec();  // present with mode NONE, like the Python SDK
      response->SerializeToString(&out_body_);
      return {};
    }
    int64_t count = 0;
    if (state->has_state_value() && state->state_value().has_value()) {
      const auto& value = state->state_value();
      if (value.typename_() != kLongType || !DecodeLong(value.value(), &count)) {
        return Text(500, "Internal Server Error", "state count is not a valid long");
      }
    }

    auto* result = response->mutable_invocation_result();
    for (int i = 0; i < batch.invocations_size(); ++i) {
      ++count;
      if (options_.egress_every > 0 && ++egress_counter_ % options_.egress_every == 0) {
        AddEgress(result, batch.target().id(), count);
      }
    }
    auto* mutation = result->add_state_mutations();
    mutation->set_mutation_type(reqreply::FromFunction::PersistedValueMutation::MODIFY);
    mutation->set_state_name(std::string(kStateName));
    auto* value = mutation->mutable_state_value();
    value->set_typename_(std::string(kLongType));
    value->set_has_value(true);
    value->set_value(EncodeLong(count));
    response->SerializeToString(&out_body_);
    return {};
  }

  void AddEgress(reqreply::FromFunction::InvocationResponse* result, const std::string& key,
                 int64_t count) {
    auto* record =
        google::protobuf::Arena::CreateMessage<io::statefun::sdk::egress::KafkaProducerRecord>(
            &arena_);
    record->set_topic(options_.egress_topic);
    record->set_key(key);
    record->set_value_bytes(std::to_string(count));
    auto* egress = result->add_outgoing_egresses();
    egress->set_egress_namespace(options_.egress_namespace);
    egress->set_egress_type(options_.egress_type);
    auto* argument = egress->mutable_argument();
    argument->set_typename_(std::string(kKafkaRecordType));
    argument->set_has_value(true);
    record->SerializeToString(argument->mutable_value());
  }

  void FormatHeader(const HttpReply& reply, bool keep_alive, int version) {
    out_header_.clear();
    out_header_.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof(digits), reply.status).ptr;
    out_header_.append(digits, end);
    out_header_.push_back(' ');
    out_header_.append(reply.reason);
    out_header_.append("\r\nContent-Type: ");
    out_header_.append(reply.content_type);
    out_header_.append("\r\nContent-Length: ");
    end = std::to_chars(digits, digits + sizeof(digits), out_body_.size()).ptr;
    out_header_.append(digits, end);
    if (!keep_alive) {
      out_header_.append("\r\nConnection: close");
    } else if (version == 10) {
      out_header_.append("\r\nConnection: keep-alive");
    }
    out_header_.append("\r\n\r\n");
  }

  const Options& options_;
  std::string body_;
  std::string out_body_;
  std::string out_header_;
  std::uint64_t egress_counter_ = 0;
  std::unique_ptr<char[]> arena_block_;
  google::protobuf::Arena arena_;
};

asio::awaitable<void> ServeConnection(tcp::socket socket, const Options& options) {
  Connection connection(options);
  co_await connection.Serve(std::move(socket));
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor,
                                 std::vector<std::unique_ptr<asio::io_context>>& contexts,
                                 const Options& options) {
  std::size_t next = 0;
  for (;;) {
    asio::io_context& target = *contexts[next++ % contexts.size()];
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(target, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(target, ServeConnection(std::move(socket), options), asio::detached);
  }
}

bool WritePortFile(const std::string& path, uint16_t port) {
  // Write then rename, so a reader polling the file never sees a partial number.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

// The body the wrk benchmark posts: one ingress invocation for bench/counter/<id> with the
// state already registered and holding a value, as the runtime sends in steady state.
int DumpRequest(const Options& options) {
  reqreply::ToFunction request;
  auto* batch = request.mutable_invocation();
  batch->mutable_target()->set_namespace_("bench");
  batch->mutable_target()->set_type("counter");
  batch->mutable_target()->set_id(options.dump_id);
  auto* state = batch->add_state();
  state->set_state_name(std::string(kStateName));
  state->mutable_state_value()->set_typename_(std::string(kLongType));
  state->mutable_state_value()->set_has_value(true);
  state->mutable_state_value()->set_value(EncodeLong(41));
  auto* argument = batch->add_invocations()->mutable_argument();
  io::statefun::sdk::types::StringWrapper payload;
  payload.set_value("hello");
  argument->set_typename_(std::string(kStringType));
  argument->set_has_value(true);
  argument->set_value(payload.SerializeAsString());

  std::ofstream out(options.dump_request, std::ios::binary | std::ios::trunc);
  out << request.SerializeAsString();
  if (!out) {
    std::cerr << "cannot write " << options.dump_request << "\n";
    return 1;
  }
  return 0;
}

void Usage() {
  std::cerr << "usage: eddy-bench-function [--port N] [--threads N] [--port-file PATH]\n"
               "                           [--egress-every N]\n"
               "       eddy-bench-function --dump-request FILE [--dump-id ID]\n";
}

template <typename T>
bool ParseNumber(std::string_view s, T* out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return false;
    if (i + 1 >= argc) {
      std::cerr << "missing value for " << arg << "\n";
      return false;
    }
    std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--port") {
      ok = ParseNumber(value, &o->port);
    } else if (arg == "--threads") {
      ok = ParseNumber(value, &o->threads) && o->threads >= 1 && o->threads <= 256;
    } else if (arg == "--port-file") {
      o->port_file = value;
    } else if (arg == "--egress-every") {
      ok = ParseNumber(value, &o->egress_every);
    } else if (arg == "--dump-request") {
      o->dump_request = value;
    } else if (arg == "--dump-id") {
      o->dump_id = value;
    } else {
      std::cerr << "unknown option " << arg << "\n";
      return false;
    }
    if (!ok) {
      std::cerr << "bad value for " << arg << ": " << value << "\n";
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseArgs(argc, argv, &options)) {
    Usage();
    return 2;
  }
  if (!options.dump_request.empty()) return DumpRequest(options);

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  for (int i = 0; i < options.threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));  // one thread each: no locking
  }
  asio::io_context& main_context = *contexts[0];
  tcp::acceptor acceptor(main_context);
  beast::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), options.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "cannot listen on 127.0.0.1:" << options.port << ": " << ec.message() << "\n";
    return 1;
  }
  uint16_t port = acceptor.local_endpoint().port();
  if (!options.port_file.empty() && !WritePortFile(options.port_file, port)) {
    std::cerr << "cannot write port file " << options.port_file << "\n";
    return 1;
  }
  std::cerr << "eddy-bench-function listening on 127.0.0.1:" << port << " with "
            << options.threads << " thread(s)\n";

  asio::signal_set signals(main_context, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) {
    for (auto& c : contexts) c->stop();
  });
  asio::co_spawn(main_context, AcceptLoop(acceptor, contexts, options), asio::detached);

  // Keep idle worker contexts alive until a signal stops them.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& c : contexts) guards.push_back(asio::make_work_guard(*c));
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < contexts.size(); ++i) {
    workers.emplace_back([&c = *contexts[i]] { c.run(); });
  }
  main_context.run();
  for (auto& c : contexts) c->stop();
  for (auto& t : workers) t.join();
  return 0;
}
