#pragma once
// Counters of one HTTP invoker, for tests and metrics (private to src/invoker/http and tests).
// MakeHttpInvoker returns an HttpInvokerWithStats; downcast the InvokerPtr to read them, on the
// invoker's thread.

#include <cstdint>

#include "eddy/invoker/invoker.h"

namespace eddy {

struct HttpInvokerStats {
  uint64_t connections_opened = 0;   // connects (and TLS handshakes) that succeeded
  uint64_t requests_sent = 0;        // attempts that got a connection and started writing
  uint64_t requests_on_reused_connection = 0;
  uint64_t attempt_failures = 0;     // failed attempts that count towards backoff
  uint64_t stale_connection_retries = 0;  // free retries after a pooled connection was dead
  uint64_t idle_connections_expired = 0;  // closed by pool_ttl
  uint64_t calls_succeeded = 0;
  uint64_t calls_failed = 0;
  uint64_t open_connections = 0;     // gauge: connecting + busy + idle, all pools
  uint64_t idle_connections = 0;     // gauge
};

class HttpInvokerWithStats : public Invoker {
 public:
  virtual HttpInvokerStats Stats() const = 0;
};

}  // namespace eddy
