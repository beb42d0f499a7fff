// LoadModuleFile / LoadModuleString: reads the YAML stream, tells the multi-document kind/spec
// format from the legacy single-root `version: "3.0"` format, dispatches every component to its
// parser (component_parsers.h) and runs the cross-document checks (one endpoint per function
// type or namespace wildcard, ingress ids unique across all ingress kinds, unique egress ids).
// yaml-cpp exceptions stop here.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "config/component_parsers.h"
#include "config/yaml_field.h"
#include "eddy/config/module_spec.h"

namespace eddy {
namespace {

using config_internal::DocumentContext;
using config_internal::Field;

std::string Describe(const SourceLocation& loc) {
  return "document " + std::to_string(loc.document) + " (line " + std::to_string(loc.line) + ")";
}

// Collects components and checks the rules that span documents as they arrive.
class ModuleBuilder {
 public:
  Status AddEndpoint(EndpointSpec endpoint, const Field& functions) {
    const FunctionTypePattern& f = endpoint.functions;
    std::string key = f.ns + "/" + (f.wildcard ? "*" : f.name);
    auto [it, inserted] = bindings_.emplace(key, endpoint.location);
    if (!inserted) {
      return functions.Error(std::string(f.wildcard ? "namespace wildcard '" : "function type '") +
                             key + "' is already bound by the endpoint in " +
                             Describe(it->second));
    }
    module_.endpoints.push_back(std::move(endpoint));
    return Status::Ok();
  }

  Status AddIngress(KafkaIngressSpec ingress, const Field& id) {
    EDDY_RETURN_IF_ERROR(ClaimIngressId(ingress.id, ingress.location, id));
    module_.kafka_ingresses.push_back(std::move(ingress));
    return Status::Ok();
  }

  Status AddIngress(GeneratorIngressSpec ingress, const Field& id) {
    EDDY_RETURN_IF_ERROR(ClaimIngressId(ingress.id, ingress.location, id));
    module_.generator_ingresses.push_back(std::move(ingress));
    return Status::Ok();
  }

  Status AddEgress(KafkaEgressSpec egress, const Field& id) {
    auto [it, inserted] = egress_ids_.emplace(egress.id, egress.location);
    if (!inserted) {
      return id.Error("egress id '" + egress.id + "' is already used by the egress in " +
                      Describe(it->second));
    }
    module_.kafka_egresses.push_back(std::move(egress));
    return Status::Ok();
  }

  ModuleSpec Take() { return std::move(module_); }

 private:
  // Ingress ids are unique across every ingress kind (Kafka and generator).
  Status ClaimIngressId(const std::string& ingress_id, const SourceLocation& location,
                        const Field& id) {
    auto [it, inserted] = ingress_ids_.emplace(ingress_id, location);
    if (!inserted) {
      return id.Error("ingress id '" + ingress_id + "' is already used by the ingress in " +
                      Describe(it->second));
    }
    return Status::Ok();
  }

  ModuleSpec module_;
  std::map<std::string, SourceLocation> bindings_;
  std::map<std::string, SourceLocation> ingress_ids_;
  std::map<std::string, SourceLocation> egress_ids_;
};

// One component, whatever format it came from. `id` is only used by ingresses and egresses.
Status AddComponent(const std::string& kind, const Field& kind_field, const Field& spec,
                    const Field& id, const SourceLocation& location, ModuleBuilder& builder) {
  using namespace config_internal;  // NOLINT: the kind constants
  if (kind == kHttpEndpointV2Kind || kind == kHttpEndpointV1Kind) {
    CONFIG_ASSIGN_OR_RETURN(EndpointSpec endpoint, ParseHttpEndpoint(kind, spec, location));
    return builder.AddEndpoint(std::move(endpoint), spec.Get("functions"));
  }
  if (kind == kGrpcEndpointKind) {
    CONFIG_ASSIGN_OR_RETURN(EndpointSpec endpoint, ParseGrpcEndpoint(spec, location));
    return builder.AddEndpoint(std::move(endpoint), spec.Get("functions"));
  }
  if (kind == kEmbeddedModuleKind) {
    std::vector<Field> bindings;
    CONFIG_ASSIGN_OR_RETURN(std::vector<EndpointSpec> endpoints,
                            ParseEmbeddedModule(spec, location, bindings));
    for (size_t i = 0; i < endpoints.size(); ++i) {
      EDDY_RETURN_IF_ERROR(builder.AddEndpoint(std::move(endpoints[i]), bindings[i]));
    }
    return Status::Ok();
  }
  if (kind == kKafkaIngressKind) {
    CONFIG_ASSIGN_OR_RETURN(KafkaIngressSpec ingress, ParseKafkaIngress(spec, id, location));
    return builder.AddIngress(std::move(ingress), id);
  }
  if (kind == kKafkaEgressKind) {
    CONFIG_ASSIGN_OR_RETURN(KafkaEgressSpec egress, ParseKafkaEgress(spec, id, location));
    return builder.AddEgress(std::move(egress), id);
  }
  if (kind == kGeneratorIngressKind) {
    CONFIG_ASSIGN_OR_RETURN(GeneratorIngressSpec ingress,
                            ParseGeneratorIngress(spec, id, location));
    return builder.AddIngress(std::move(ingress), id);
  }
  std::string hint = kind.rfind("io.statefun.kinesis", 0) == 0
                         ? "Eddy does not support Kinesis I/O; "
                         : "";
  return kind_field.Error("unsupported kind '" + kind + "' (" + hint + "supported kinds: " +
                          std::string(kHttpEndpointV2Kind) + ", " +
                          std::string(kHttpEndpointV1Kind) + ", " +
                          std::string(kGrpcEndpointKind) + ", " +
                          std::string(kEmbeddedModuleKind) + ", " +
                          std::string(kKafkaIngressKind) + ", " +
                          std::string(kKafkaEgressKind) + ", " +
                          std::string(kGeneratorIngressKind) + ")");
}

// The legacy format names kinds differently (StateFun's LegacyRemoteModuleV30 conversions).
std::string ConvertLegacyKind(const std::string& kind) {
  if (kind == "http") return "io.statefun.endpoints.v1/http";
  if (kind == "io.statefun.kafka/ingress") return "io.statefun.kafka.v1/ingress";
  if (kind == "io.statefun.kafka/egress") return "io.statefun.kafka.v1/egress";
  if (kind == "io.statefun.kinesis/ingress") return "io.statefun.kinesis.v1/ingress";
  if (kind == "io.statefun.kinesis/egress") return "io.statefun.kinesis.v1/egress";
  return kind;
}

// module.spec.{endpoints|ingresses|egresses}: a list of {<wrapper>: {meta: {...}, spec: {...}}}.
// Endpoints name their kind in meta.kind; ingresses and egresses in meta.type, with meta.id.
Status AddLegacyComponents(const Field& list, const char* wrapper, const char* kind_key,
                           bool has_id, const std::string& file, ModuleBuilder& builder) {
  if (!list.present()) return Status::Ok();
  EDDY_RETURN_IF_ERROR(list.RequireSequence());
  for (const Field& item : list.Items()) {
    EDDY_RETURN_IF_ERROR(item.RequireMap());
    Field component = item.Get(wrapper);
    EDDY_RETURN_IF_ERROR(component.RequireMap());
    Field meta = component.Get("meta");
    EDDY_RETURN_IF_ERROR(meta.RequireMap());
    Field kind_field = meta.Get(kind_key);
    CONFIG_ASSIGN_OR_RETURN(std::string kind, kind_field.AsNonEmptyString());
    Field spec = component.Get("spec");
    Field id = has_id ? meta.Get("id") : spec.Get("id");
    SourceLocation location{file, 1, item.line()};
    EDDY_RETURN_IF_ERROR(
        AddComponent(ConvertLegacyKind(kind), kind_field, spec, id, location, builder));
  }
  return Status::Ok();
}

Status LoadLegacy(const Field& root, const std::string& file, ModuleBuilder& builder) {
  Field version = root.Get("version");
  CONFIG_ASSIGN_OR_RETURN(std::string v, version.AsString());
  if (v == "1.0" || v == "2.0") {
    return version.Error("module format version '" + v +
                         "' is no longer supported; use the multi-document 'kind'/'spec' "
                         "format (or the legacy version \"3.0\")");
  }
  if (v != "3.0") return version.Error("unknown module format version '" + v + "' (expected 3.0)");

  Field module = root.Get("module");
  EDDY_RETURN_IF_ERROR(module.RequireMap());
  Field meta = module.Get("meta");
  EDDY_RETURN_IF_ERROR(meta.RequireMap());
  Field type = meta.Get("type");
  CONFIG_ASSIGN_OR_RETURN(std::string module_type, type.AsString());
  std::transform(module_type.begin(), module_type.end(), module_type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (module_type != "remote") {
    return type.Error("unsupported module type '" + type.node().Scalar() +
                      "' (only 'remote' is supported)");
  }
  Field spec = module.Get("spec");
  EDDY_RETURN_IF_ERROR(spec.RequireMap());
  EDDY_RETURN_IF_ERROR(
      AddLegacyComponents(spec.Get("endpoints"), "endpoint", "kind", false, file, builder));
  EDDY_RETURN_IF_ERROR(
      AddLegacyComponents(spec.Get("ingresses"), "ingress", "type", true, file, builder));
  EDDY_RETURN_IF_ERROR(
      AddLegacyComponents(spec.Get("egresses"), "egress", "type", true, file, builder));
  return Status::Ok();
}

bool IsEmptyDocument(const YAML::Node& doc) { return !doc.IsDefined() || doc.IsNull(); }

Result<ModuleSpec> LoadModule(const std::string& yaml, const std::string& file) {
  std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
  ModuleBuilder builder;

  // StateFun treats a stream whose only document has a `version` field as the legacy format.
  size_t non_empty = std::count_if(docs.begin(), docs.end(),
                                   [](const YAML::Node& d) { return !IsEmptyDocument(d); });
  for (size_t i = 0; i < docs.size(); ++i) {
    if (IsEmptyDocument(docs[i])) continue;
    DocumentContext context{file, static_cast<int>(i + 1)};
    Field root = Field::Root(&context, docs[i]);
    EDDY_RETURN_IF_ERROR(root.RequireMap());
    Field version = root.Get("version");
    if (version.present()) {
      if (non_empty != 1) {
        return version.Error("the legacy 'version' format must be the only document in the file");
      }
      EDDY_RETURN_IF_ERROR(LoadLegacy(root, file, builder));
      continue;
    }
    Field kind_field = root.Get("kind");
    CONFIG_ASSIGN_OR_RETURN(std::string kind, kind_field.AsNonEmptyString());
    Field spec = root.Get("spec");
    SourceLocation location{file, context.document, kind_field.line()};
    EDDY_RETURN_IF_ERROR(
        AddComponent(kind, kind_field, spec, spec.Get("id"), location, builder));
  }
  return builder.Take();
}

// Counts documents until the parser fails, so a syntax error can name its document.
class DocumentCounter : public YAML::EventHandler {
 public:
  int documents = 0;
  void OnDocumentStart(const YAML::Mark&) override { ++documents; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

int DocumentOfSyntaxError(const std::string& yaml) {
  std::istringstream in(yaml);
  DocumentCounter counter;
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const std::exception&) {
    // Expected: this pass exists only to stop where the first pass failed.
  }
  return std::max(counter.documents, 1);
}

}  // namespace

Result<ModuleSpec> LoadModuleString(const std::string& yaml, const std::string& file_name) {
  try {
    return LoadModule(yaml, file_name);
  } catch (const YAML::Exception& e) {
    // Syntax errors, and any yaml-cpp surprise that slipped past the type checks.
    std::string where = file_name;
    if (!e.mark.is_null()) {
      where += ": document " + std::to_string(DocumentOfSyntaxError(yaml)) + " (line " +
               std::to_string(e.mark.line + 1) + ", column " + std::to_string(e.mark.column + 1) +
               ")";
    }
    return InvalidArgument(where + ": invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(file_name + ": cannot load module: " + e.what());
  }
}

Result<ModuleSpec> LoadModuleFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("module file not found: " + path);
  if (!std::filesystem::is_regular_file(path, ec)) {
    return InvalidArgument("module file is not a regular file: " + path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot open module file: " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return InvalidArgument("cannot read module file: " + path);
  return LoadModuleString(contents.str(), path);
}

}  // namespace eddy
