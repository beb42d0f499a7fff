#pragma once
// The remote gRPC invoker (io.eddy.endpoints.v1/grpc): one unary call of
// io.eddy.functions.v1.RequestReply/Invoke per batch, carrying StateFun's ToFunction and
// FromFunction messages. gRPC stays out of this header.
//
// Lifecycle and threads: one instance per endpoint per shard, created, called, shut down and
// destroyed on the thread that runs `io`. Every callback is posted to `io` (never inline) and runs
// exactly once. gRPC completes calls on its own threads; those only post back to `io`, and once
// the invoker is destroyed they drop their result instead (so `io` must outlive the invoker, not
// the gRPC calls). Destroying the invoker shuts it down: pending callbacks get Unavailable.
//
// Each invoker owns one channel (its own connections: a local subchannel pool, so shards do not
// share one HTTP/2 connection) to endpoint.grpc.target with the configured load-balancing policy.
// Every failed attempt (any gRPC status other than OK, or an undecodable reply) is retried with
// exponential backoff until grpc.call_timeout is spent; then the call fails with DeadlineExceeded
// naming the last error, including the gRPC status code. A request larger than
// grpc.max_message_bytes fails at once with ResourceExhausted.

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace eddy {

// `endpoint.grpc` is used (endpoint is copied). InvalidArgument when the target is empty, a
// duration is not positive, load_balancing is not round_robin or pick_first, or a TLS file
// (trust_cacerts, client_cert, client_key) is missing, unreadable or not PEM; the message names
// the field and the file. Creating the invoker does not connect.
Result<InvokerPtr> MakeGrpcInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint);

}  // namespace eddy
