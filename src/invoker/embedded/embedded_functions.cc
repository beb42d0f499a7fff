// Loading embedded function sources: dlopen()ed libraries and the functions linked into the
// binary. Every check that can fail runs here, at startup, so a broken deployment never starts.

#include <dlfcn.h>

#include <filesystem>

#include <string>

#include "eddy/invoker/embedded_invoker.h"
#include "eddy/sdk/embedded.h"
#include "eddy/sdk/function.h"

namespace eddy {

struct EmbeddedFunctions::Source {
  std::string library;  // "" = linked
  void* handle = nullptr;
  sdk::FunctionRegistry own;                    // a library's functions
  const sdk::FunctionRegistry* registry = nullptr;  // &own, or the linked registry

  ~Source() {
    // The registry holds std::function objects whose code lives in the library: destroy them
    // before unloading it.
    own = sdk::FunctionRegistry();
    if (handle != nullptr) dlclose(handle);
  }
};

namespace {

std::string Where(const EndpointSpec& e) {
  return e.location.file + ": document " + std::to_string(e.location.document) + " (line " +
         std::to_string(e.location.line) + ")";
}

// Sources are keyed by the library's canonical path, so one .so written two ways
// ("./lib/x.so", "/opt/lib/x.so") is one source, loaded and registered once.
std::string LibraryKey(const std::string& library) {
  if (library.empty()) return library;
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(library, ec);
  return ec ? library : canonical.string();
}

using AbiFn = int (*)();
using EntryFn = void (*)(sdk::FunctionRegistry*, Status*);

Status OpenLibrary(const std::string& path, void*& handle, sdk::FunctionRegistry& registry) {
  // RTLD_LOCAL keeps one library's symbols from satisfying another's; RTLD_NOW reports missing
  // symbols here instead of at the first call.
  dlerror();
  handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* err = dlerror();
    return InvalidArgument("cannot load library " + path + ": " + (err ? err : "unknown error"));
  }
  auto abi = reinterpret_cast<AbiFn>(dlsym(handle, EDDY_EMBEDDED_ABI_SYMBOL));
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, EDDY_EMBEDDED_ENTRY_SYMBOL));
  if (abi == nullptr || entry == nullptr) {
    return InvalidArgument("library " + path + " is not an Eddy function library (no " +
                           EDDY_EMBEDDED_ENTRY_SYMBOL + "; define it with EDDY_EMBEDDED_MODULE)");
  }
  if (int v = abi(); v != sdk::kEmbeddedAbiVersion) {
    return InvalidArgument("library " + path + " was built for embedded ABI version " +
                           std::to_string(v) + ", this worker has version " +
                           std::to_string(sdk::kEmbeddedAbiVersion) + "; rebuild it");
  }
  Status st = Status::Ok();
  entry(&registry, &st);
  if (!st.ok()) return InvalidArgument("library " + path + ": " + st.message());
  if (registry.Types().empty()) {
    return InvalidArgument("library " + path + " registered no functions");
  }
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<const EmbeddedFunctions>> EmbeddedFunctions::Load(
    const ModuleSpec& module, const sdk::FunctionRegistry& linked) {
  std::shared_ptr<EmbeddedFunctions> out(new EmbeddedFunctions());
  std::map<std::string, std::string> provider;  // "ns/name" -> library ("" = linked)
  for (const EndpointSpec& endpoint : module.endpoints) {
    if (endpoint.protocol != EndpointProtocol::kEmbedded) continue;
    const std::string lib = LibraryKey(endpoint.embedded.library);
    auto it = out->sources_.find(lib);
    if (it == out->sources_.end()) {
      auto src = std::make_unique<Source>();
      src->library = lib;
      if (lib.empty()) {
        src->registry = &linked;
      } else {
        Status st = OpenLibrary(lib, src->handle, src->own);
        if (!st.ok()) return InvalidArgument(Where(endpoint) + ": " + st.message());
        src->registry = &src->own;
      }
      for (const FunctionType& t : src->registry->Types()) {
        auto [p, inserted] = provider.emplace(t.ToString(), lib);
        if (!inserted) {
          auto name = [](const std::string& l) {
            return l.empty() ? std::string("the worker binary") : "library " + l;
          };
          return InvalidArgument(Where(endpoint) + ": function type " + t.ToString() +
                                 " is provided twice: by " + name(p->second) + " and by " +
                                 name(lib));
        }
      }
      it = out->sources_.emplace(lib, std::move(src)).first;
    }
    // The binding must name something the source provides.
    const sdk::FunctionRegistry& reg = *it->second->registry;
    const FunctionTypePattern& f = endpoint.functions;
    bool found = false;
    for (const FunctionType& t : reg.Types()) found = found || f.Matches(t);
    if (!found) {
      std::string what = f.wildcard ? "no function in namespace " + f.ns
                                    : "no function " + f.ns + "/" + f.name;
      std::string provided;
      for (const FunctionType& t : reg.Types()) provided += (provided.empty() ? "" : ", ") + t.ToString();
      return InvalidArgument(Where(endpoint) + ": " +
                             (lib.empty() ? std::string("the worker binary") : "library " + lib) +
                             " provides " + what + " (it provides: " +
                             (provided.empty() ? "nothing" : provided) + ")");
    }
  }
  return std::shared_ptr<const EmbeddedFunctions>(std::move(out));
}

EmbeddedFunctions::~EmbeddedFunctions() = default;

const sdk::FunctionSpec* EmbeddedFunctions::Find(const EndpointSpec& endpoint,
                                                 const FunctionType& type) const {
  if (!endpoint.functions.Matches(type)) return nullptr;
  auto it = sources_.find(LibraryKey(endpoint.embedded.library));
  if (it == sources_.end()) return nullptr;
  return it->second->registry->Find(type);
}

std::vector<std::string> EmbeddedFunctions::Libraries() const {
  std::vector<std::string> libs;
  for (const auto& [lib, src] : sources_) {
    if (!lib.empty()) libs.push_back(lib);
  }
  return libs;
}

}  // namespace eddy
