#pragma once
// Invoker: sends one batch to a function and delivers its reply. One Invoker instance belongs to
// one shard and is only ever called from that shard's thread; the callback runs on the same
// thread, exactly once, after Invoke returns (never inline).

#include <chrono>
#include <functional>
#include <memory>

#include "eddy/common/status.h"
#include "eddy/model/invocation.h"

namespace eddy {

class Invoker {
 public:
  using Callback = std::function<void(Result<FunctionReply>)>;
  virtual ~Invoker() = default;

  // Retries every failed attempt (I/O error, timeout, non-2xx, wrong content type, oversized or
  // unparseable reply) inside the endpoint's call budget, like StateFun's async transport. A
  // non-OK result means the budget is spent (DeadlineExceeded, with the last attempt's error),
  // the request itself is unusable (ResourceExhausted, InvalidArgument), or the invoker was shut
  // down (Unavailable); the caller decides what happens to the batch. The batch is taken by value so the invoker may keep it for retries.
  virtual void Invoke(InvocationBatch batch, Callback done) = 0;

  // Fails every pending call with Unavailable and releases connections. Idempotent.
  virtual void Shutdown() = 0;

  // Optional synchronous path for invokers that run the function in this process without I/O
  // (embedded functions): the shard then runs a message for an idle address at once, with no
  // posted handler, callback or mailbox. Same results as Invoke (including Unavailable after
  // Shutdown). Called only when SupportsInline() is true, on the owning shard's thread. `took`
  // receives how long the function ran (the shard's latency metric; saves two clock reads).
  virtual bool SupportsInline() const { return false; }
  virtual Result<FunctionReply> InvokeInline(const InvocationBatch& /*batch*/,
                                             std::chrono::nanoseconds* took) {
    *took = std::chrono::nanoseconds(0);
    return Unavailable("this invoker has no inline path");
  }
};

using InvokerPtr = std::unique_ptr<Invoker>;

}  // namespace eddy
