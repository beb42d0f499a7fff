// StartGrpcServer (eddy/sdk/server.h): the bytes server with the SDK's shared protocol step.
#include "eddy/sdk/server.h"
#include "sdk/grpc/grpc_bytes_server.h"

namespace eddy::sdk {

Result<std::unique_ptr<FunctionServer>> StartGrpcServer(const FunctionRegistry& registry,
                                                        const ServerOptions& options) {
  return StartGrpcBytesServer(
      [&registry](std::string_view request) { return HandleToFunction(registry, request); },
      options);
}

}  // namespace eddy::sdk
