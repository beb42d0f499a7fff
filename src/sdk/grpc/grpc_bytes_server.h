#pragma once
// Private to src/sdk/grpc and its tests: the gRPC RequestReply server over a plain bytes handler.
// StartGrpcServer (eddy/sdk/server.h) is this with HandleToFunction as the handler; tests use it
// directly to serve scripted replies (errors, garbage bytes, delays) without a function registry.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/common/status.h"
#include "eddy/sdk/server.h"

namespace eddy::sdk {

// ToFunction bytes in, FromFunction bytes out. A non-OK result becomes the call's gRPC status:
// InvalidArgument -> INVALID_ARGUMENT, NotFound -> NOT_FOUND, ResourceExhausted ->
// RESOURCE_EXHAUSTED, Unavailable -> UNAVAILABLE, anything else -> INTERNAL; the message is kept.
// Runs on one of the server's `options.threads` handler threads and may block.
using GrpcBytesHandler = std::function<Result<std::string>(std::string_view request)>;

// Serves io.eddy.functions.v1.RequestReply/Invoke. Returns once listening. InvalidArgument for
// bad options (unreadable TLS files, a cert without a key), Unavailable when the port cannot be
// bound.
Result<std::unique_ptr<FunctionServer>> StartGrpcBytesServer(GrpcBytesHandler handler,
                                                             const ServerOptions& options);

}  // namespace eddy::sdk
