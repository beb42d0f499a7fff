#pragma once
// Private to src/invoker/grpc: turns an endpoint's GrpcTransportSpec into a gRPC channel, and
// validates it (so a bad config fails at invoker creation, not on the first call).

#include <grpcpp/channel.h>

#include <memory>
#include <string>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"

namespace eddy::grpc_invoker {

// Lazy: nothing connects until the first call. InvalidArgument names the field and the file.
Result<std::shared_ptr<grpc::Channel>> MakeChannel(const GrpcTransportSpec& spec);

// The service config selecting `policy` ("round_robin" or "pick_first").
std::string ServiceConfigJson(const std::string& policy);

}  // namespace eddy::grpc_invoker
