// eddy-example-worker: a custom worker binary with the example functions compiled in. main()
// comes from eddy_worker_main; module.yaml binds the functions with an
// io.eddy.embedded.v1/module document that has no `library`.
#include "eddy/sdk/embedded.h"
#include "example_functions.h"

EDDY_LINKED_MODULE(registry) { return eddy::examples::RegisterExampleFunctions(registry); }
