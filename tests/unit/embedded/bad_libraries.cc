// Deliberately broken function libraries for the loader tests; one is compiled per
// EDDY_BAD_LIBRARY_KIND value.
#include <stdexcept>

#include "eddy/sdk/embedded.h"

#if EDDY_BAD_LIBRARY_KIND == 1
// No entry point at all.
extern "C" int some_unrelated_function() { return 1; }
#elif EDDY_BAD_LIBRARY_KIND == 2
// The entry point reports an error.
EDDY_EMBEDDED_MODULE(registry) { return eddy::InvalidArgument("bad library configuration"); }
#elif EDDY_BAD_LIBRARY_KIND == 3
// Built for another ABI version.
extern "C" int eddy_embedded_abi_version() { return 999; }
extern "C" void eddy_embedded_module_v1(eddy::sdk::FunctionRegistry*, eddy::Status*) {}
#elif EDDY_BAD_LIBRARY_KIND == 4
// Provides example/echo, which the example library provides too.
EDDY_EMBEDDED_MODULE(registry) {
  return registry.Register({{"example", "echo"}, {}, [](eddy::sdk::Context&,
                                                        const eddy::sdk::Message&) {}});
}
#elif EDDY_BAD_LIBRARY_KIND == 5
// The entry point throws.
EDDY_EMBEDDED_MODULE(registry) { throw std::runtime_error("boom at load"); }
#endif
