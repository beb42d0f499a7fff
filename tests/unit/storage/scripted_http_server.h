#pragma once
// ScriptedHttpServer: a tiny HTTP/1.1 server on 127.0.0.1 (port 0) whose answers a test scripts
// request by request, for what moto cannot do: 5xx and 429 bursts, hangs, cut-off bodies,
// malformed XML, and inspecting the exact headers the client sent. One connection at a time,
// "Connection: close" on every answer.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace eddy::storage::testing {

struct RecordedRequest {
  std::string method;
  std::string target;                                        // path + query as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::vector<std::string> raw_header_lines;
  std::string body;
  // Value of the first header with that (lower-case) name, or "".
  std::string Header(const std::string& name) const;
  bool HasHeader(const std::string& name) const;
};

struct ScriptedResponse {
  enum class Action { kRespond, kHang, kCloseWithoutAnswer } action = Action::kRespond;
  int status = 200;
  std::string body;
  std::vector<std::string> headers;  // extra "Name: value" lines
  // >= 0: announce the full Content-Length but send only this many body bytes, then close.
  int64_t cut_body_at = -1;
};

class ScriptedHttpServer {
 public:
  using Handler = std::function<ScriptedResponse(const RecordedRequest&)>;
  explicit ScriptedHttpServer(Handler handler);
  ~ScriptedHttpServer();

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> requests() const;

 private:
  void Serve();
  void HandleConnection(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

// Endpoint of a loopback port nobody listens on (bound, then closed).
std::string UnreachableEndpoint();

}  // namespace eddy::storage::testing
