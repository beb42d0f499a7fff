#pragma once
// The worker's side of checkpoint coordination (target eddy_coordinator_client): CoordinatorClient
// keeps one session with the coordinator (register, heartbeat, reconnect with backoff) and turns
// its messages into calls on a CheckpointParticipant, which answers each trigger later with
// Ack or Decline. gRPC stays inside src/coordinator.
//
// Threading: participant callbacks run on the client's session thread, one at a time and in the
// order the coordinator sent them; they should return quickly (start the snapshot elsewhere).
// Ack / Decline may be called from any thread, including from inside a callback.
// Lifecycle: Start -> (sessions come and go) -> Stop or destruction. After Stop returns no
// callback runs. When a session is lost, every checkpoint triggered on it and not yet
// acknowledged is reported through OnAbort (the coordinator aborts it as well).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/coordinator.pb.h"

namespace eddy::coordinator {

class CheckpointParticipant {
 public:
  virtual ~CheckpointParticipant() = default;
  // The key groups this worker owns and, if set, the checkpoint to restore them from. Arrives
  // after every (re)registration, before any trigger of that session.
  virtual void OnAssignment(const v1::Assignment& assignment) = 0;
  // Take checkpoint `checkpoint_id`; answer with client.Ack(...) or client.Decline(...).
  virtual void OnTrigger(uint64_t checkpoint_id, int64_t timestamp_unix_ms) = 0;
  // Manifest and LATEST are written: commit the egress of this checkpoint.
  virtual void OnComplete(uint64_t checkpoint_id) = 0;
  // Discard what was made for this checkpoint.
  virtual void OnAbort(uint64_t checkpoint_id, const std::string& reason) = 0;
  // The coordinator ignored one of our messages (a protocol error on our side). For logs.
  virtual void OnRejected(const std::string& reason) { (void)reason; }
  virtual void OnConnectionChanged(bool connected) { (void)connected; }
};

struct CoordinatorClientOptions {
  std::string coordinator_address;  // "host:port"
  std::string worker_id;            // non-empty, [A-Za-z0-9._~-]
  std::string worker_address;       // where other workers reach this one (informational today)
  std::vector<std::string> capabilities;
  std::chrono::milliseconds heartbeat_interval{1000};  // keep below the coordinator's timeout
  // Reconnect backoff of the channel (and of new sessions after one ends). Kept short: a
  // restarted coordinator should see its workers within about a second, and a reconnect
  // attempt per worker per second is cheap for the one coordinator.
  std::chrono::milliseconds reconnect_backoff_initial{100};
  std::chrono::milliseconds reconnect_backoff_max{1000};
};

class CoordinatorClient {
 public:
  // Validates the options and starts the session thread (connecting happens in the background).
  static Result<std::unique_ptr<CoordinatorClient>> Start(const CoordinatorClientOptions& options,
                                                          CheckpointParticipant* participant);
  virtual ~CoordinatorClient() = default;

  // Reports this worker's part of `checkpoint_id`. FailedPrecondition when the checkpoint was not
  // triggered on the current session or was already answered; Unavailable when not connected.
  virtual Status Ack(uint64_t checkpoint_id, const v1::SnapshotDescription& snapshot) = 0;
  virtual Status Decline(uint64_t checkpoint_id, const std::string& reason) = 0;
  virtual bool connected() const = 0;
  // Ends the session (the coordinator sees it closed) and joins the threads. Idempotent.
  virtual void Stop() = 0;
};
using CoordinatorClientPtr = std::unique_ptr<CoordinatorClient>;

}  // namespace eddy::coordinator
