// The small pieces of logic that belong to the parsed module itself (no YAML here).

#include "eddy/config/module_spec.h"

namespace eddy {

std::string HttpEndpointSpec::UrlFor(const FunctionType& type) const {
  static constexpr std::string_view kPlaceholder = "{function.name}";
  std::string url;
  url.reserve(url_path_template.size() + type.name.size());
  size_t pos = 0;
  while (true) {
    size_t hit = url_path_template.find(kPlaceholder, pos);
    if (hit == std::string::npos) break;
    url.append(url_path_template, pos, hit - pos);
    url += type.name;
    pos = hit + kPlaceholder.size();
  }
  url.append(url_path_template, pos, std::string::npos);
  return url;
}

const HttpEndpointSpec* ModuleSpec::FindEndpoint(const FunctionType& type) const {
  // An exact binding wins over a namespace wildcard, whatever the document order
  // (StateFun's PredefinedFunctionLoader looks up the specific type first).
  const HttpEndpointSpec* wildcard = nullptr;
  for (const HttpEndpointSpec& endpoint : http_endpoints) {
    if (!endpoint.functions.Matches(type)) continue;
    if (!endpoint.functions.wildcard) return &endpoint;
    if (wildcard == nullptr) wildcard = &endpoint;
  }
  return wildcard;
}

}  // namespace eddy
