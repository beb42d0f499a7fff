#pragma once
// The coordinator as a running service: storage + CheckpointCoordinator + gRPC server + the loop
// thread that drives them. eddy-coordinator runs one; eddy-worker can run one in-process
// (embedded mode) with the same code path, and workers reach it over gRPC either way.
// gRPC stays in src/coordinator: this header only names the address it listens on.

#include <memory>
#include <string>

#include "eddy/common/status.h"
#include "eddy/coordinator/checkpoint_coordinator.h"
#include "eddy/coordinator/coordinator_config.h"

namespace eddy::coordinator {

class CoordinatorHandle {
 public:
  virtual ~CoordinatorHandle() = default;  // stops (same as Stop())
  // "127.0.0.1:40123": the bound address (the real port when listen_address asked for port 0).
  virtual const std::string& address() const = 0;
  virtual CoordinatorStatus status() = 0;
  virtual void RequestCheckpoint() = 0;
  // Ends every worker stream (UNAVAILABLE), stops the loop thread. No checkpoint is completed
  // after Stop returns. Idempotent.
  virtual void Stop() = 0;
};
using CoordinatorHandlePtr = std::unique_ptr<CoordinatorHandle>;

// Opens storage, recovers (see CheckpointCoordinator::Create), binds the gRPC server. Fails with
// InvalidArgument for a bad config, Unavailable when the address cannot be bound, or with the
// recovery error.
// `clock` = nullptr uses the system clock.
Result<CoordinatorHandlePtr> StartEmbeddedCoordinator(const CoordinatorConfig& config,
                                                      Clock* clock = nullptr);

// Same, over a store the caller opened (tests inject a fault-injecting store this way).
Result<CoordinatorHandlePtr> StartCoordinatorWithStore(const CoordinatorConfig& config,
                                                       storage::ObjectStorePtr store,
                                                       Clock* clock = nullptr);

}  // namespace eddy::coordinator
