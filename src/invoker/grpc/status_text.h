#pragma once
// Private to src/invoker/grpc: gRPC statuses as text for error messages.

#include <grpcpp/support/status.h>

#include <string>

namespace eddy::grpc_invoker {

// "UNAVAILABLE", "INVALID_ARGUMENT", ...
const char* StatusCodeName(grpc::StatusCode code);
// "gRPC UNAVAILABLE: failed to connect to all addresses" (the message is omitted when empty).
std::string StatusText(const grpc::Status& status);

}  // namespace eddy::grpc_invoker
