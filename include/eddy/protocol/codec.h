#pragma once
// StateFun request-reply codec: the plain structs of eddy/model/invocation.h <-> the protobuf wire
// bytes of io.statefun.sdk.reqreply.ToFunction / FromFunction. Stateless free functions, safe to
// call from any thread. Protobuf stays behind this header so callers never see generated code.
//
// Decoders treat their input as untrusted: anything that is not a well-formed message of the
// expected shape is an InvalidArgument, never a crash.

#include <string>
#include <string_view>

#include "eddy/common/status.h"
#include "eddy/model/invocation.h"

namespace eddy {

// Runtime -> function: the HTTP request body. Every state in `batch.states` is sent; a state
// without a value becomes a PersistedValue with only its name. An invocation without a caller
// (an ingress message) has no caller field.
std::string EncodeToFunction(const InvocationBatch& batch);

// Function -> runtime: the HTTP response body. A FromFunction with neither oneof set decodes to
// an empty InvocationResponse. InvalidArgument for unparseable bytes, unknown enum values, a
// MODIFY without a value, or a known field sent with the wrong wire type.
Result<FunctionReply> DecodeFromFunction(std::string_view bytes);

// The other direction, for function servers (SDK, fakes) and tests. DecodeToFunction rejects a
// ToFunction without an invocation batch (there is nothing a function could do with it).
Result<InvocationBatch> DecodeToFunction(std::string_view bytes);
std::string EncodeFromFunction(const FunctionReply& reply);

}  // namespace eddy
