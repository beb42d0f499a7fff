// The small pieces of logic that belong to the parsed module itself (no YAML here).

#include "eddy/config/module_spec.h"

namespace eddy {

std::string EndpointSpec::UrlFor(const FunctionType& type) const {
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

std::string EndpointSpec::Describe() const {
  switch (protocol) {
    case EndpointProtocol::kHttp:
      return url_path_template;
    case EndpointProtocol::kGrpc:
      return "grpc:" + grpc.target;
    case EndpointProtocol::kEmbedded:
      return "embedded:" + (embedded.library.empty() ? std::string("<linked>") : embedded.library);
  }
  return url_path_template;
}

const EndpointSpec* ModuleSpec::FindEndpoint(const FunctionType& type) const {
  // An exact binding wins over a namespace wildcard, whatever the document order
  // (StateFun's PredefinedFunctionLoader looks up the specific type first).
  const EndpointSpec* wildcard = nullptr;
  for (const EndpointSpec& endpoint : endpoints) {
    if (!endpoint.functions.Matches(type)) continue;
    if (!endpoint.functions.wildcard) return &endpoint;
    if (wildcard == nullptr) wildcard = &endpoint;
  }
  return wildcard;
}

}  // namespace eddy
