#pragma once
// MotoServer: a moto_server process (S3 + IAM emulation, from the machine image's Python) on
// 127.0.0.1 with a port the OS picked, in auth mode: requests must carry a valid SigV4 signature
// made with the access key it creates, so a wrong secret gets a real 403. One bucket is created.
// Stopped (SIGTERM, then SIGKILL) on destruction. See test-infra.md for the auth-mode recipe.

#include <memory>
#include <optional>
#include <string>

#include "eddy/common/status.h"
#include "fakes/process.h"

namespace eddy::testing {

class MotoServer {
 public:
  // The moto_server executable found on PATH, or "" (tests then GTEST_SKIP: moto cannot be
  // installed from this machine).
  static std::string FindBinary();

  // Starts the server, switches on auth mode and creates `bucket`. Fails (with the server's log)
  // when the binary is missing or does not come up within 30 s.
  static Result<std::unique_ptr<MotoServer>> Start(const std::string& bucket = "eddy-test");

  ~MotoServer();
  MotoServer(const MotoServer&) = delete;
  MotoServer& operator=(const MotoServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }  // http://127.0.0.1:<port>
  const std::string& access_key_id() const { return access_key_id_; }
  const std::string& secret_access_key() const { return secret_access_key_; }
  const std::string& bucket() const { return bucket_; }
  std::string Log() const { return process_ ? process_->Log() : std::string(); }

  // Creates another bucket with this server's credentials.
  Status CreateBucket(const std::string& name);

 private:
  MotoServer() = default;

  std::optional<ChildProcess> process_;
  std::string dir_;
  std::string endpoint_;
  std::string access_key_id_;
  std::string secret_access_key_;
  std::string bucket_;
};

}  // namespace eddy::testing
