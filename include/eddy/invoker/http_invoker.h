#pragma once
// The remote HTTP invoker: StateFun's default `io.statefun.transports.v1/async` transport over
// HTTP/1.1 (Boost.Beast, kept out of this header). One instance serves every function type of
// one module.yaml endpoint and belongs to one shard: it is created, called, shut down and
// destroyed on the thread that runs `io`, and posts every callback to `io` (never inline).
//
// Per host:port it keeps a pool of keep-alive connections (at most transport.pool_size, idle ones
// closed after transport.pool_ttl), one request per connection at a time. Every failed attempt
// (connect/I/O error, timeout, non-2xx, wrong Content-Type, oversized or unparseable body) is
// retried with exponential backoff until transport.call_timeout is spent, then the call fails
// with DeadlineExceeded naming the last error. Only http:// URLs are supported for now.
//
// Destroying the invoker shuts it down (pending callbacks get Unavailable). `io` must outlive it;
// handlers still queued in `io` afterwards keep the internals alive and complete as no-ops.

#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace eddy {

// `endpoint` is copied. The URL for a batch is endpoint.url_path_template with "{function.name}"
// replaced by batch.target.type.name.
InvokerPtr MakeHttpInvoker(boost::asio::io_context& io, const HttpEndpointSpec& endpoint);

}  // namespace eddy
