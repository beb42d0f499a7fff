#pragma once
// Router: the one place that knows which shard (and, later, which worker) owns an address.
// Route() is thread-safe and never blocks; the envelope is handed to the owning shard's inbox.
// Memory is bounded by FlowControl, which pauses ingestion, not by refusing internal messages:
// refusing a function-to-function message could deadlock a cycle of functions.

#include "eddy/runtime/envelope.h"

namespace eddy {

class Router {
 public:
  virtual ~Router() = default;
  virtual void Route(Envelope envelope) = 0;
};

}  // namespace eddy
