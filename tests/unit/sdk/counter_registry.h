#pragma once
// The function the SDK server tests serve: example/counter counts messages in `seen` and throws
// std::runtime_error("handler blew up") on a string message (to test error mapping).

#include <stdexcept>

#include "eddy/common/status.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk::test {

inline const ValueSpec<int64_t> kSeen = ValueSpec<int64_t>::Of("seen", LongType());
inline const FunctionType kCounter{"example", "counter"};

inline FunctionRegistry CounterRegistry() {
  FunctionRegistry registry;
  EDDY_CHECK(registry
                 .Register({kCounter, {kSeen.Describe()},
                            [](Context& ctx, const Message& msg) {
                              if (msg.Is(StringType())) throw std::runtime_error("handler blew up");
                              ctx.Storage().Set(kSeen, ctx.Storage().Get(kSeen).value_or(0) + 1);
                            }})
                 .ok());
  return registry;
}

}  // namespace eddy::sdk::test
