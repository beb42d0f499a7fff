// libeddy_example_functions.so: the example functions as an embedded module library.
#include "eddy/sdk/embedded.h"
#include "example_functions.h"

EDDY_EMBEDDED_MODULE(registry) { return eddy::examples::RegisterExampleFunctions(registry); }
