#pragma once
// CheckpointCoordinator: the transport-independent core of eddy-coordinator
// (docs/coordinator.md, docs/design/checkpoints.md). It owns worker registrations, splits
// max_parallelism into contiguous key-group ranges over the registered workers, triggers a
// checkpoint every `interval` once every expected worker is registered (at most one in flight),
// aborts on timeout, Decline or a lost session, and completes a checkpoint only when every worker
// of the assignment acknowledged: files verified (List, sizes) -> chk-N/manifest.pb -> LATEST ->
// Complete to the workers -> retention. Create() recovers from storage alone.
//
// Transport: each worker stream is a WorkerSession the transport implements (gRPC in
// src/coordinator; fakes in tests). The transport calls OpenSession / HandleMessage /
// CloseSession, and Poll() whenever NextDeadline() passes.
// Threading: every public method takes an internal mutex, so any thread may call them, but
// HandleMessage and Poll may block on storage (completion, retention): the gRPC server calls them
// from one loop thread, never from gRPC's callback threads. WorkerSession::Send is called with
// the mutex held and must not block or call back into the coordinator.
// Time comes from an injectable Clock, so tests drive timeouts without sleeping.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/coordinator.pb.h"
#include "eddy/storage/object_store.h"

namespace eddy::coordinator {

namespace v1 = ::eddy::coordinator::v1;

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() = 0;
  // Wall-clock time for timestamps in messages and manifests.
  virtual int64_t UnixMillis() = 0;
};

// steady_clock and system_clock. Process-wide, never destroyed.
Clock* SystemClock();

// A clock tests move by hand. Thread-safe.
class ManualClock : public Clock {
 public:
  SteadyTime Now() override;
  int64_t UnixMillis() override;
  void Advance(std::chrono::milliseconds d);

 private:
  std::mutex mu_;
  SteadyTime now_{std::chrono::hours(1)};
  int64_t unix_ms_ = 1'700'000'000'000;
};

// The coordinator's end of one worker stream.
class WorkerSession {
 public:
  virtual ~WorkerSession() = default;
  // Queues a message for the worker; never blocks. Dropped once the session has ended.
  virtual void Send(const v1::CoordinatorMessage& message) = 0;
  // Ends the stream with `reason` as its status (after the queued messages). The transport still
  // reports the end through CloseSession.
  virtual void Close(const Status& reason) = 0;
};

struct CoordinatorOptions {
  uint32_t expected_workers = 1;
  uint32_t max_parallelism = 128;  // must match the workers' max_parallelism
  std::chrono::milliseconds checkpoint_interval{10000};
  std::chrono::milliseconds checkpoint_timeout{60000};
  uint32_t retain = 3;  // completed checkpoints kept in storage, >= 1
  // A session that sends nothing (not even Heartbeat) for this long is closed as lost.
  std::chrono::milliseconds heartbeat_timeout{10000};
  // At startup, also download every file of the restore point and compare its SHA-256 (sizes are
  // always checked).
  bool verify_restore_checksums = false;
};

// Checks ranges (expected_workers 1..max_parallelism, durations > 0, retain >= 1).
Status ValidateCoordinatorOptions(const CoordinatorOptions& options);

// A snapshot of the coordinator's state, for logs, tests and the embedding worker.
struct CoordinatorStatus {
  std::vector<std::string> registered_workers;  // sorted
  uint64_t assignment_generation = 0;           // 0 = no assignment yet
  uint64_t in_flight_checkpoint = 0;            // 0 = none
  uint64_t last_completed_checkpoint = 0;       // this run's or the restored one; 0 = none
  uint64_t next_checkpoint_id = 1;
  uint64_t restored_from = 0;                   // checkpoint chosen at startup, 0 = none
  std::vector<uint64_t> retained_checkpoints;   // ascending
  // Startup recovery, one line per decision ("skipped chk-7: manifest checksum mismatch ...").
  std::vector<std::string> recovery_log;
  uint64_t completed = 0;  // this run
  uint64_t aborted = 0;
  std::string last_abort_reason;
  uint64_t rejected_messages = 0;
};

using SessionId = uint64_t;

class CheckpointCoordinator {
 public:
  // Validates options and recovers from `store`: LATEST and its manifest (checksum, file sizes),
  // else the newest older manifest that verifies, each skip logged with its reason. Numbering
  // continues after the highest checkpoint id seen in storage. Fails with the storage error when
  // storage cannot be read (a transient outage must not silently select an older checkpoint), and
  // with DataLoss when checkpoints exist but none verifies.
  static Result<std::unique_ptr<CheckpointCoordinator>> Create(const CoordinatorOptions& options,
                                                               storage::ObjectStorePtr store,
                                                               Clock* clock);
  ~CheckpointCoordinator();
  CheckpointCoordinator(const CheckpointCoordinator&) = delete;
  CheckpointCoordinator& operator=(const CheckpointCoordinator&) = delete;

  // A new stream. The session must Register before anything else.
  SessionId OpenSession(std::shared_ptr<WorkerSession> session);
  // One message from the worker. A message that breaks the protocol is answered with Rejected
  // (or, before Register / for an invalid Register, the session is closed) and returned as an
  // error; nothing else changes. Unknown session ids are ignored (NotFound).
  Status HandleMessage(SessionId session, const v1::WorkerMessage& message);
  // The stream ended (either side). A registered worker is unregistered; an in-flight checkpoint
  // it takes part in is aborted. Idempotent.
  void CloseSession(SessionId session, const Status& reason);

  // Fires what is due: heartbeat timeouts, the checkpoint timeout, the next trigger.
  void Poll();
  // When Poll has something to do next (may be in the past).
  SteadyTime NextDeadline();
  // Triggers a checkpoint at the next Poll when the workers are ready, without waiting for the
  // interval (an admin request, or a final checkpoint before stopping).
  void RequestCheckpoint();

  CoordinatorStatus status();
  std::string DescribeStore() const;

 private:
  class Impl;
  explicit CheckpointCoordinator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::coordinator
