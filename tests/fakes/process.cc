#include "fakes/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace eddy::testing {

Result<ChildProcess> ChildProcess::Spawn(std::vector<std::string> argv, std::string log_path) {
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return Internal("cannot open " + log_path + ": " + std::strerror(errno));
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Internal(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    // Signals blocked by the test runner must not stay blocked in the child.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(log_fd);
  ChildProcess p;
  p.pid_ = pid;
  p.log_path_ = std::move(log_path);
  return p;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept { *this = std::move(other); }

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(exit_code_, other.exit_code_);
  std::swap(log_path_, other.log_path_);
  return *this;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && Running()) Stop(SIGKILL, std::chrono::seconds(10));
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

int ChildProcess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
      exit_code_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

int ChildProcess::Stop(int signal, std::chrono::milliseconds timeout) {
  if (Running()) ::kill(pid_, signal);
  return Wait(timeout);
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<ChildProcess> StartReadyWorker(const std::string& module, const std::string& state_dir,
                                      uint16_t admin_port,
                                      const std::vector<std::string>& overrides,
                                      const std::string& log_path,
                                      std::chrono::milliseconds timeout,
                                      const std::string& binary) {
  std::vector<std::string> argv = {BuildBinary(binary), "--module", module,
                                   "--set", "state_dir=" + state_dir,
                                   "--set", "admin_port=" + std::to_string(admin_port)};
  for (const auto& o : overrides) {
    argv.push_back("--set");
    argv.push_back(o);
  }
  auto worker = ChildProcess::Spawn(argv, log_path);
  if (!worker.ok()) return worker.status();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (HttpGet(admin_port, "/readyz").find(" 200 ") == std::string::npos) {
    if (!worker->Running()) return Internal("worker exited during startup:\n" + worker->Log());
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceeded("worker never became ready:\n" + worker->Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return worker;
}

std::string BuildBinary(const std::string& name) {
  const char* dir = std::getenv("EDDY_BUILD_DIR");
  return std::string(dir ? dir : ".") + "/bin/" + name;
}

uint16_t FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string HttpGet(uint16_t port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return "";
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::string MakeTempDir(const std::string& prefix) {
  std::string templ = "/tmp/" + prefix + "-XXXXXX";
  char* dir = ::mkdtemp(templ.data());
  return dir ? std::string(dir) : std::string();
}

}  // namespace eddy::testing
