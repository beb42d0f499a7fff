#pragma once
// AdminServer: the operator-facing HTTP/1.1 endpoint of a worker or coordinator.
//   GET /healthz -> 200 "ok" while the process serves requests at all (liveness).
//   GET /readyz  -> 200 "ready" when ready() returns true, else 503 "not ready" (readiness).
//   GET /metrics -> 200, Prometheus text format 0.0.4 from MetricsRegistry::RenderPrometheus().
// HEAD is accepted wherever GET is; unknown paths get 404, other methods on known paths 405.
//
// Lifecycle and threads: Start() binds and listens synchronously (so a port conflict is reported
// to the caller) and then serves on one thread of its own; Stop() closes the listener and every
// open connection and joins that thread. Stop() is idempotent and also runs in the destructor.
// `ready` and the registry are called on the admin thread, so `ready` must be thread-safe (an
// atomic load is typical) and both must outlive the server. Start/Stop must not be called from
// the admin thread itself (i.e. from inside `ready`).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "eddy/common/status.h"
#include "eddy/metrics/metrics.h"

namespace eddy {

class AdminServer {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;  // 0 = pick a free port; Start() returns the one bound
    // A connection with no complete request within this time is closed (also bounds how long a
    // slow client may take to send one request).
    std::chrono::milliseconds idle_timeout{30000};
  };

  AdminServer(Options options, MetricsRegistry& registry, std::function<bool()> ready);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds, starts the serving thread and returns the bound port. Errors: InvalidArgument for an
  // unparseable address, Unavailable when the address/port cannot be bound (the message names
  // both), FailedPrecondition when already started.
  Result<uint16_t> Start();

  // Closes the listener and all connections, then joins the thread. Idempotent.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy
