#pragma once
// Embedded functions: C++ functions (eddy/sdk/function.h) running inside the worker process.
//
// EmbeddedFunctions is loaded once at startup from the module's io.eddy.embedded.v1/module
// documents: each named shared library is dlopen()ed, its ABI version checked and its entry point
// called into a registry of its own; documents without `library` bind to the functions linked
// into the worker binary (eddy/sdk/embedded.h). Startup fails, naming the document and library,
// when a library cannot be loaded, has the wrong ABI version, its entry point fails, two sources
// provide the same function type, or a bound type (or namespace wildcard) has no function.
//
// The invoker runs a batch on the shard thread that calls it (a posted handler, never inline):
// no socket, no protobuf. A handler that throws makes the call fail with Internal; a batch that
// ran longer than the module's `timeouts.call` fails with DeadlineExceeded and its effects are
// dropped. Both count as failed calls (retried or dead-lettered by the shard, like a remote
// failure) and in eddy_embedded_failures_total{function, reason}.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/invoker/invoker.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace eddy {

class MetricsRegistry;

namespace sdk {
class FunctionRegistry;
struct FunctionSpec;
}  // namespace sdk

class EmbeddedFunctions {
 public:
  // `linked` holds the functions compiled into this binary (sdk::LinkedFunctions() in the
  // worker; tests pass their own).
  static Result<std::shared_ptr<const EmbeddedFunctions>> Load(
      const ModuleSpec& module, const sdk::FunctionRegistry& linked);
  ~EmbeddedFunctions();

  // The function for `type` from the source that `endpoint` names; nullptr when none.
  const sdk::FunctionSpec* Find(const EndpointSpec& endpoint, const FunctionType& type) const;
  // Libraries loaded (for logs and tests).
  std::vector<std::string> Libraries() const;

 private:
  struct Source;
  EmbeddedFunctions() = default;
  std::map<std::string, std::unique_ptr<Source>> sources_;  // by library path, "" = linked
};

Result<InvokerPtr> MakeEmbeddedInvoker(boost::asio::io_context& io, const EndpointSpec& endpoint,
                                       std::shared_ptr<const EmbeddedFunctions> functions,
                                       MetricsRegistry* metrics);

}  // namespace eddy
