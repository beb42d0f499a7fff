// Bodies recorded by EDDY_LINKED_MODULE in static initializers, run at worker startup.

#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/sdk/embedded.h"

namespace eddy::sdk {
namespace {

struct LinkedModules {
  std::mutex mu;
  std::vector<ModuleBody> bodies;
  bool loaded = false;
  Status result = Status::Ok();
};

// Function-local static: safe to use from other translation units' static initializers.
LinkedModules& Modules() {
  static LinkedModules modules;
  return modules;
}

}  // namespace

bool AddLinkedModule(ModuleBody body) {
  LinkedModules& m = Modules();
  std::lock_guard lock(m.mu);
  m.bodies.push_back(body);
  return true;
}

Status LoadLinkedModules() {
  LinkedModules& m = Modules();
  std::lock_guard lock(m.mu);
  if (m.loaded) return m.result;
  m.loaded = true;
  for (ModuleBody body : m.bodies) {
    FunctionRegistry registry;
    Status st = Status::Ok();
    try {
      st = body(registry);
    } catch (const std::exception& e) {
      st = Internal(std::string("linked module threw: ") + e.what());
    } catch (...) {
      st = Internal("linked module threw a non-std exception");
    }
    if (st.ok()) st = LinkedFunctions().Merge(std::move(registry));
    if (!st.ok()) {
      m.result = InvalidArgument("functions linked into the worker binary: " + st.message());
      break;
    }
  }
  return m.result;
}

}  // namespace eddy::sdk
