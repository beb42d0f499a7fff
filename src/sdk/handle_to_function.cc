// The protocol step shared by the HTTP and gRPC function servers.

#include <string>

#include "eddy/protocol/codec.h"
#include "eddy/sdk/server.h"

namespace eddy::sdk {

Result<std::string> HandleToFunction(const FunctionRegistry& registry, std::string_view bytes) {
  Result<InvocationBatch> batch = DecodeToFunction(bytes);
  if (!batch.ok()) return batch.status();
  const FunctionSpec* spec = registry.Find(batch->target.type);
  if (spec == nullptr) {
    return NotFound("unknown function type " + batch->target.type.ToString());
  }
  Result<FunctionReply> reply = RunBatch(*spec, *batch);
  if (!reply.ok()) return reply.status();
  return EncodeFromFunction(*reply);
}

}  // namespace eddy::sdk
