#pragma once
// Egress: where functions' egress messages go. Send() is called from shard threads and must be
// thread-safe. The egress holds a ProgressTracker count on `epoch` until the record is
// acknowledged by its destination (or has definitively failed and been logged and counted).

#include <chrono>
#include <memory>

#include "eddy/common/status.h"
#include "eddy/model/typed_value.h"

namespace eddy {

class Egress {
 public:
  virtual ~Egress() = default;
  // InvalidArgument when the value is not what this egress accepts (e.g. wrong typename); the
  // record is then not sent and no count is held.
  virtual Status Send(const TypedValue& value, uint64_t epoch) = 0;
  // Waits until everything sent so far is acknowledged, or the timeout passes.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
};

using EgressPtr = std::unique_ptr<Egress>;

}  // namespace eddy
