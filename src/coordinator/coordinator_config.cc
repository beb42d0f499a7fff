// The coordinator's YAML file and --set overrides. The YAML is flattened into dotted keys
// ("checkpoint.interval") with their lines, then every value goes through the same key table as
// an override, so the file and the command line accept exactly the same names and values.
#include "eddy/coordinator/coordinator_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "eddy/config/module_spec.h"

namespace eddy::coordinator {
namespace {

Result<uint64_t> ParseUnsigned(const std::string& text, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < min || v > max) {
    return InvalidArgument("expected an integer between " + std::to_string(min) + " and " +
                           std::to_string(max) + ", got '" + text + "'");
  }
  return v;
}

template <typename T>
Status SetUnsigned(const std::string& text, uint64_t min, uint64_t max, T& out) {
  auto v = ParseUnsigned(text, min, max);
  if (!v.ok()) return v.status();
  out = static_cast<T>(*v);
  return Status::Ok();
}

Status SetDuration(const std::string& text, std::chrono::milliseconds& out) {
  auto d = ParseDuration(text);
  if (!d.ok()) {
    return InvalidArgument("expected a duration such as 10s, 500ms or 2min, got '" + text + "'");
  }
  if (d->count() <= 0) return InvalidArgument("must be larger than 0, got '" + text + "'");
  out = *d;
  return Status::Ok();
}

Status SetBool(const std::string& text, bool& out) {
  if (text == "true") {
    out = true;
  } else if (text == "false") {
    out = false;
  } else {
    return InvalidArgument("expected true or false, got '" + text + "'");
  }
  return Status::Ok();
}

Status SetChoice(const std::string& text, std::initializer_list<const char*> allowed,
                 std::string& out) {
  std::string list;
  for (const char* a : allowed) {
    if (text == a) {
      out = text;
      return Status::Ok();
    }
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return InvalidArgument("expected one of [" + list + "], got '" + text + "'");
}

Status SetNonEmpty(const std::string& text, std::string& out) {
  if (text.empty()) return InvalidArgument("must not be empty");
  out = text;
  return Status::Ok();
}

Status SetAny(const std::string& text, std::string& out) {
  out = text;
  return Status::Ok();
}

struct Key {
  const char* name;
  Status (*set)(CoordinatorConfig&, const std::string&);
};

using C = CoordinatorConfig;
using S = std::string;

// docs/coordinator.md documents each key.
constexpr Key kKeys[] = {
    {"listen_address", [](C& c, const S& v) { return SetNonEmpty(v, c.listen_address); }},
    {"expected_workers",
     [](C& c, const S& v) { return SetUnsigned(v, 1, 32768, c.checkpoint.expected_workers); }},
    {"max_parallelism",
     [](C& c, const S& v) { return SetUnsigned(v, 1, 32768, c.checkpoint.max_parallelism); }},
    {"heartbeat_timeout",
     [](C& c, const S& v) { return SetDuration(v, c.checkpoint.heartbeat_timeout); }},
    {"log_level",
     [](C& c, const S& v) {
       return SetChoice(v, {"trace", "debug", "info", "warn", "error"}, c.log_level);
     }},
    {"log_format", [](C& c, const S& v) { return SetChoice(v, {"text", "json"}, c.log_format); }},
    {"checkpoint.interval",
     [](C& c, const S& v) { return SetDuration(v, c.checkpoint.checkpoint_interval); }},
    {"checkpoint.timeout",
     [](C& c, const S& v) { return SetDuration(v, c.checkpoint.checkpoint_timeout); }},
    {"checkpoint.retain",
     [](C& c, const S& v) { return SetUnsigned(v, 1, 1000, c.checkpoint.retain); }},
    {"checkpoint.verify_restore_checksums",
     [](C& c, const S& v) { return SetBool(v, c.checkpoint.verify_restore_checksums); }},
    {"storage.uri", [](C& c, const S& v) { return SetNonEmpty(v, c.storage.uri); }},
    {"storage.endpoint", [](C& c, const S& v) { return SetAny(v, c.storage.endpoint); }},
    {"storage.region", [](C& c, const S& v) { return SetAny(v, c.storage.region); }},
    {"storage.access_key_id", [](C& c, const S& v) { return SetAny(v, c.storage.access_key_id); }},
    {"storage.secret_access_key",
     [](C& c, const S& v) { return SetAny(v, c.storage.secret_access_key); }},
    {"storage.session_token", [](C& c, const S& v) { return SetAny(v, c.storage.session_token); }},
    {"storage.path_style", [](C& c, const S& v) { return SetBool(v, c.storage.path_style); }},
    {"storage.max_attempts",
     [](C& c, const S& v) { return SetUnsigned(v, 1, 100, c.storage.max_attempts); }},
    {"storage.request_timeout",
     [](C& c, const S& v) { return SetDuration(v, c.storage.request_timeout); }},
};

const Key* FindKey(const std::string& name) {
  for (const Key& k : kKeys) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string KnownKeys() {
  std::string list;
  for (const Key& k : kKeys) list += (list.empty() ? "" : ", ") + std::string(k.name);
  return list;
}

// The sections that hold nested keys.
bool IsSection(const std::string& name) { return name == "checkpoint" || name == "storage"; }

std::string Where(const std::string& file, const YAML::Node& node) {
  int line = node.Mark().line;
  return file + ":" + (line >= 0 ? std::to_string(line + 1) : std::string("?"));
}

Status ApplyMap(CoordinatorConfig& config, const std::string& file, const YAML::Node& map,
                const std::string& prefix, std::set<std::string>& seen) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    // Copies: *it is a temporary, references into it would dangle.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      return InvalidArgument(Where(file, key_node) + ": keys must be plain words");
    }
    std::string key = prefix + key_node.Scalar();
    if (!seen.insert(key).second) {
      return InvalidArgument(Where(file, key_node) + ": " + key + ": duplicate key");
    }
    if (prefix.empty() && IsSection(key)) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) {
        return InvalidArgument(Where(file, key_node) + ": " + key +
                               ": expected a map of settings");
      }
      EDDY_RETURN_IF_ERROR(ApplyMap(config, file, value, key + ".", seen));
      continue;
    }
    const Key* k = FindKey(key);
    if (!k) {
      return InvalidArgument(Where(file, key_node) + ": unknown key '" + key + "' (known: " +
                             KnownKeys() + ")");
    }
    if (!value.IsScalar() && !value.IsNull()) {
      return InvalidArgument(Where(file, key_node) + ": " + key + ": expected a single value");
    }
    std::string text = value.IsNull() ? std::string() : value.Scalar();
    if (Status st = k->set(config, text); !st.ok()) {
      return InvalidArgument(Where(file, value.IsNull() ? key_node : value) + ": " + key + ": " +
                             st.message());
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CoordinatorConfig> LoadCoordinatorConfigString(const std::string& yaml,
                                                      const std::string& file_name) {
  CoordinatorConfig config;
  try {
    YAML::Node root = YAML::Load(yaml);
    if (root.IsNull()) return config;  // an empty file: all defaults
    if (!root.IsMap()) {
      return InvalidArgument(Where(file_name, root) + ": expected a map of settings");
    }
    std::set<std::string> seen;
    EDDY_RETURN_IF_ERROR(ApplyMap(config, file_name, root, "", seen));
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    return InvalidArgument(file_name + ":" + (line > 0 ? std::to_string(line) : "?") +
                           ": invalid YAML: " + e.msg);
  }
  return config;
}

Result<CoordinatorConfig> LoadCoordinatorConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(path + ": cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  return LoadCoordinatorConfigString(text.str(), path);
}

Status ApplyCoordinatorOverride(CoordinatorConfig& config, const std::string& kv) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgument("--set '" + kv + "': expected KEY=VALUE");
  }
  std::string key = kv.substr(0, eq);
  const Key* k = FindKey(key);
  if (!k) {
    return InvalidArgument("--set '" + kv + "': unknown key '" + key + "' (known: " +
                           KnownKeys() + ")");
  }
  if (Status st = k->set(config, kv.substr(eq + 1)); !st.ok()) {
    return InvalidArgument("--set '" + kv + "': " + key + ": " + st.message());
  }
  return Status::Ok();
}

Status ValidateCoordinatorConfig(const CoordinatorConfig& config) {
  if (config.storage.uri.empty()) {
    return InvalidArgument("storage.uri: missing (file:///path or s3://bucket/prefix)");
  }
  size_t colon = config.listen_address.rfind(':');
  if (colon == std::string::npos || colon == 0 ||
      !ParseUnsigned(config.listen_address.substr(colon + 1), 0, 65535).ok()) {
    return InvalidArgument("listen_address: expected host:port, got '" + config.listen_address +
                           "'");
  }
  if (Status st = ValidateCoordinatorOptions(config.checkpoint); !st.ok()) return st;
  return Status::Ok();
}

}  // namespace eddy::coordinator
