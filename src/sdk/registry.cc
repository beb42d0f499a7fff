// FunctionRegistry and the process-wide registry of linked-in functions.

#include <set>
#include <string>
#include <utility>

#include "eddy/sdk/embedded.h"
#include "eddy/sdk/function.h"

namespace eddy::sdk {
namespace {

// A part of "ns/name" must be non-empty and must not contain the separator, so that
// FunctionType::Parse(type.ToString()) gives the type back.
bool ValidPart(const std::string& part) {
  return !part.empty() && part.find('/') == std::string::npos;
}

Status Validate(const FunctionSpec& spec) {
  if (!ValidPart(spec.type.ns) || !ValidPart(spec.type.name)) {
    return InvalidArgument("malformed function type '" + spec.type.ToString() +
                           "': namespace and name must be non-empty and contain no '/'");
  }
  const std::string type = spec.type.ToString();
  if (!spec.handler) return InvalidArgument("function " + type + ": empty handler");
  std::set<std::string> names;
  for (const StateSpec& state : spec.states) {
    if (state.name.empty()) return InvalidArgument("function " + type + ": empty state name");
    if (state.type_name.empty()) {
      return InvalidArgument("function " + type + ": state '" + state.name +
                             "' has an empty typename");
    }
    if (state.expire_after_ms < 0) {
      return InvalidArgument("function " + type + ": state '" + state.name +
                             "' has a negative expiration");
    }
    if (!names.insert(state.name).second) {
      return InvalidArgument("function " + type + ": state '" + state.name +
                             "' is declared twice");
    }
  }
  return Status::Ok();
}

}  // namespace

Status FunctionRegistry::Register(FunctionSpec spec) {
  EDDY_RETURN_IF_ERROR(Validate(spec));
  std::string key = spec.type.ToString();
  if (specs_.count(key)) return InvalidArgument("function type " + key + " is already registered");
  specs_.emplace(std::move(key), std::make_shared<const FunctionSpec>(std::move(spec)));
  return Status::Ok();
}

const FunctionSpec* FunctionRegistry::Find(const FunctionType& type) const {
  std::string key;
  key.reserve(type.ns.size() + 1 + type.name.size());
  key.append(type.ns).append(1, '/').append(type.name);
  auto it = specs_.find(key);
  return it == specs_.end() ? nullptr : it->second.get();
}

std::vector<FunctionType> FunctionRegistry::Types() const {
  std::vector<FunctionType> types;
  types.reserve(specs_.size());
  for (const auto& [key, spec] : specs_) types.push_back(spec->type);
  return types;
}

Status FunctionRegistry::Merge(FunctionRegistry&& other) {
  for (const auto& [key, spec] : other.specs_) {
    if (specs_.count(key)) return InvalidArgument("function type " + key + " is already registered");
  }
  specs_.merge(other.specs_);
  return Status::Ok();
}

FunctionRegistry& LinkedFunctions() {
  // Function-local: safe to use from other translation units' static initializers.
  static FunctionRegistry registry;
  return registry;
}

Status RegisterLinkedFunctions(FunctionSpec spec) { return LinkedFunctions().Register(std::move(spec)); }

}  // namespace eddy::sdk
