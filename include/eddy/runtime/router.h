#pragma once
// Router: the one place that knows which shard (and, later, which worker) owns an address.
// Route() is thread-safe and never blocks; the envelope is handed to the owning shard's inbox.
// Memory is bounded by FlowControl, which pauses ingestion, not by refusing internal messages:
// refusing a function-to-function message could deadlock a cycle of functions.

#include <vector>

#include "eddy/runtime/envelope.h"

namespace eddy {

class Router {
 public:
  virtual ~Router() = default;
  virtual void Route(Envelope envelope) = 0;
  // Routes every envelope, in order, and leaves the vector empty. Same effect as Route on each;
  // an implementation may hand them over with fewer wake-ups, and may take the vector's buffer
  // with them (a caller that refills it reserves again).
  virtual void RouteBatch(std::vector<Envelope>& envelopes) {
    for (Envelope& e : envelopes) Route(std::move(e));
    envelopes.clear();
  }
};

}  // namespace eddy
