#pragma once
// DeadLetterSink: where records go that Eddy cannot process and must not drop silently: ingress
// records without a key, and (with failure_policy: dead-letter) messages whose function kept
// failing for its whole call budget. Thread-safe. Every call is logged and counted by the caller.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "eddy/common/status.h"

namespace eddy {

struct DeadLetter {
  std::string reason;        // e.g. "null-key", "function-failed: <status>"
  std::string source;        // "kafka:<topic>/<partition>@<offset>" or the target address
  std::string key;           // record key / target id, may be empty
  std::string value;         // raw bytes (record value, or serialized TypedValue argument)
  std::string value_type;    // typename when known
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  // Keeps a ProgressTracker count on epoch until the record is acknowledged (and for good if
  // it definitively fails, like Egress).
  virtual Status Send(const DeadLetter& letter, uint64_t epoch) = 0;
  // Waits until everything sent so far is acknowledged, or the timeout passes.
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;
};

using DeadLetterSinkPtr = std::unique_ptr<DeadLetterSink>;

}  // namespace eddy
