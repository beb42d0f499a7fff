#pragma once
// Packaging C++ functions for the worker. Two ways:
//  1. A shared library named in module.yaml (io.eddy.embedded.v1/module, `library: path.so`).
//     Define its functions with EDDY_EMBEDDED_MODULE:
//
//       EDDY_EMBEDDED_MODULE(registry) {
//         return registry.Register({.type = {"example", "counter"}, ...});
//       }
//
//     The worker dlopen()s the library, checks kEmbeddedAbiVersion, and calls the entry point
//     once. The library must be built with the same compiler and Eddy headers as the worker
//     (the API passes C++ objects); a version mismatch fails startup with a clear message.
//  2. Linked into a custom worker binary: call RegisterLinkedFunctions before the worker starts
//     (or use EDDY_LINKED_MODULE, which does it from a static initializer); a module.yaml
//     io.eddy.embedded.v1/module document without `library` binds to these.

#include "eddy/common/status.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk {

// Bumped whenever function.h changes in a way that breaks already built libraries.
inline constexpr int kEmbeddedAbiVersion = 2;  // 2: Message is a view, not a copy

// The process-wide registry behind option 2. Register fails on duplicates like
// FunctionRegistry::Register. Not for use after the worker has started.
Status RegisterLinkedFunctions(FunctionSpec spec);
FunctionRegistry& LinkedFunctions();

// EDDY_LINKED_MODULE support (implemented with the embedded invoker, src/invoker/embedded):
// static initializers only record the module bodies; the worker runs them at startup with
// LoadLinkedModules, so a failing body is a clear startup error rather than a crash before main.
using ModuleBody = Status (*)(FunctionRegistry&);
bool AddLinkedModule(ModuleBody body);
// Runs every recorded body (once) into LinkedFunctions(). The first error is returned.
Status LoadLinkedModules();

}  // namespace eddy::sdk

#define EDDY_EMBEDDED_ENTRY_SYMBOL "eddy_embedded_module_v1"
#define EDDY_EMBEDDED_ABI_SYMBOL "eddy_embedded_abi_version"

// The entry point of a shared library of functions: a function body that fills `registry` and
// returns a Status (non-OK fails the worker's startup with that message).
#define EDDY_EMBEDDED_MODULE(registry)                                                   \
  static ::eddy::Status EddyEmbeddedModuleBody(::eddy::sdk::FunctionRegistry& registry); \
  extern "C" __attribute__((visibility("default"))) int eddy_embedded_abi_version() {    \
    return ::eddy::sdk::kEmbeddedAbiVersion;                                             \
  }                                                                                      \
  extern "C" __attribute__((visibility("default"))) void eddy_embedded_module_v1(        \
      ::eddy::sdk::FunctionRegistry* registry, ::eddy::Status* status) {                 \
    try {                                                                                \
      *status = EddyEmbeddedModuleBody(*registry);                                       \
    } catch (const std::exception& e) {                                                  \
      *status = ::eddy::Internal(std::string("module entry point threw: ") + e.what());  \
    } catch (...) {                                                                      \
      *status = ::eddy::Internal("module entry point threw a non-std exception");        \
    }                                                                                    \
  }                                                                                      \
  static ::eddy::Status EddyEmbeddedModuleBody(::eddy::sdk::FunctionRegistry& registry)

// Functions linked into a custom worker binary (link the target eddy_worker_main, which provides
// main()): the body runs at startup and fills `registry`, exactly like EDDY_EMBEDDED_MODULE.
#define EDDY_LINKED_MODULE(registry)                                                          \
  static ::eddy::Status EddyLinkedModuleBody(::eddy::sdk::FunctionRegistry& registry);        \
  [[maybe_unused]] static const bool eddy_linked_module_added =                               \
      ::eddy::sdk::AddLinkedModule(&EddyLinkedModuleBody);                                    \
  static ::eddy::Status EddyLinkedModuleBody(::eddy::sdk::FunctionRegistry& registry)
