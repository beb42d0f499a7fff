#pragma once
// Egress: where functions' egress messages go. Send() is called from shard threads and must be
// thread-safe. The egress holds a ProgressTracker count on `epoch` until the record is
// acknowledged by its destination. A record that definitively fails keeps its count (and is
// logged and counted): its epoch never completes, so the ingress records behind it are not
// committed and are read again after a restart, instead of being skipped.

#include <chrono>
#include <memory>

#include "eddy/common/status.h"
#include "eddy/model/typed_value.h"

namespace eddy {

class Egress {
 public:
  virtual ~Egress() = default;
  // OK when Send would accept the value (typename, payload). Used to reject a function's reply
  // as a whole before any of it is applied.
  virtual Status Validate(const TypedValue& value) const = 0;
  // InvalidArgument when the value is not what this egress accepts (see Validate); the record
  // is then not sent and no count is held.
  virtual Status Send(const TypedValue& value, uint64_t epoch) = 0;
  // Waits until everything sent so far is acknowledged, or the timeout passes.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
};

using EgressPtr = std::unique_ptr<Egress>;

}  // namespace eddy
