#pragma once
// ChildProcess: runs a binary of this build as a child process for integration tests, with its
// stdout and stderr in a log file, and stops it with SIGTERM (graceful) or SIGKILL (crash).

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "eddy/common/status.h"

namespace eddy::testing {

class ChildProcess {
 public:
  // argv[0] is the binary path. The log goes to log_path (truncated).
  static Result<ChildProcess> Spawn(std::vector<std::string> argv, std::string log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();  // SIGKILL if still running

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `signal` and waits up to `timeout`; returns the exit code, 128+signal if killed by a
  // signal, or -1 on timeout (the process is then SIGKILLed).
  int Stop(int signal, std::chrono::milliseconds timeout);
  // Waits for exit without signalling; same return values as Stop.
  int Wait(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

// Starts $EDDY_BUILD_DIR/bin/eddy-worker with --module and one --set per override (plus
// state_dir and admin_port), and waits until its /readyz answers 200. Fails, with the worker's
// log in the message, when it exits or is not ready within the timeout.
Result<ChildProcess> StartReadyWorker(const std::string& module, const std::string& state_dir,
                                      uint16_t admin_port,
                                      const std::vector<std::string>& overrides,
                                      const std::string& log_path,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(20),
                                      const std::string& binary = "eddy-worker");

// $EDDY_BUILD_DIR/bin/<name>.
std::string BuildBinary(const std::string& name);
// A TCP port on 127.0.0.1 that was free a moment ago.
uint16_t FreeLoopbackPort();
// GET http://127.0.0.1:port/path; returns the status line + headers + body, or "" on failure.
std::string HttpGet(uint16_t port, const std::string& path);
// A fresh, empty temporary directory.
std::string MakeTempDir(const std::string& prefix);

}  // namespace eddy::testing
