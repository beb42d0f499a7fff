#pragma once
// Example C++ functions, written once against eddy/sdk/function.h and deployed every way Eddy
// offers: embedded from a shared library (libeddy_example_functions.so), linked into a custom
// worker, or served remotely by eddy-function-server over HTTP, gRPC or a unix socket. The tests
// run the same input through each and compare the results.
//
//  example/counter  per id: `seen` (messages from ingresses), `sum` (of their long values),
//                   `echoes` (replies from example/echo), `timer` (the seen-count carried by the
//                   last delayed message that fired). On an ingress message it messages
//                   example/echo/<id> with the new seen count and re-arms a delayed message to
//                   itself (cancelling the previous one by token). After every echo reply or timer
//                   it writes "seen=S sum=X echoes=E timer=T" to the Kafka egress example/counts
//                   (topic "counts", key = id).
//  example/echo     replies to its caller with the message it got.
//  example/keyed-counter  the benchmark function: increments a long per id, nothing else.
//  example/thrower  throws std::runtime_error on a negative long, counts others.

#include "eddy/common/status.h"
#include "eddy/sdk/function.h"

namespace eddy::examples {

// Delay of the counter's re-armed timer message.
inline constexpr int64_t kCounterTimerMs = 300;

Status RegisterExampleFunctions(sdk::FunctionRegistry& registry);

}  // namespace eddy::examples
