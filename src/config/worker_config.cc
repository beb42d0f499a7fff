// The worker's own config file and its command-line overrides. Both go through one table of
// keys (kKeys) so the YAML file and `key=value` overrides accept exactly the same names and
// values. Unknown keys are errors: a typo in an operational setting must not pass silently.

#include "eddy/config/worker_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "config/yaml_field.h"

namespace eddy {
namespace {

using config_internal::DocumentContext;
using config_internal::Field;
using config_internal::FormatError;

constexpr uint64_t kMaxParallelism = 32768;
constexpr uint64_t kMaxShards = 4096;

// Value errors carry a bare message; callers add the file/line or the override text.
Status Bad(std::string message) { return InvalidArgument(std::move(message)); }

Result<uint64_t> ParseUnsigned(const std::string& text, uint64_t min, uint64_t max) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < min ||
      value > max) {
    return Bad("expected an integer between " + std::to_string(min) + " and " +
               std::to_string(max) + ", got '" + text + "'");
  }
  return value;
}

Result<Millis> ParsePositiveDuration(const std::string& text) {
  Result<Millis> d = ParseDuration(text);
  if (!d.ok()) return d;
  if (d->count() <= 0) return Bad("must be larger than 0, got '" + text + "'");
  return d;
}

Status CheckOneOf(const std::string& text, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (text == a) return Status::Ok();
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return Bad("expected one of [" + list + "], got '" + text + "'");
}

Status CheckNonEmpty(const std::string& text) {
  return text.empty() ? Bad("must not be empty") : Status::Ok();
}

Result<bool> ParseBool(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return Bad("expected true or false, got '" + text + "'");
}

// Worker ids become object-key segments and gRPC registrations: same alphabet as the
// coordinator's ([A-Za-z0-9._~-], 1..128 characters, not "." or "..").
Status CheckWorkerId(const std::string& text) {
  if (text.empty()) return Status::Ok();  // the host name is used
  if (text.size() > 128) return Bad("must be at most 128 characters");
  if (text == "." || text == "..") return Bad("must not be '" + text + "'");
  for (char ch : text) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '~' || ch == '-';
    if (!ok) return Bad("may only contain [A-Za-z0-9._~-], got '" + text + "'");
  }
  return Status::Ok();
}

Status CheckHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Bad("expected host:port, got '" + text + "'");
  }
  uint64_t port = 0;
  std::string p = text.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
  if (ec != std::errc() || ptr != p.data() + p.size() || port == 0 || port > 65535) {
    return Bad("expected host:port with a port between 1 and 65535, got '" + text + "'");
  }
  return Status::Ok();
}

Status CheckStorageUri(const std::string& text) {
  if (text.empty()) return Status::Ok();
  if (text.rfind("file:///", 0) == 0 || text.rfind("s3://", 0) == 0) return Status::Ok();
  return Bad("expected file:///absolute/path or s3://bucket[/prefix], got '" + text + "'");
}

template <typename T>
Status SetUnsigned(const std::string& text, uint64_t min, uint64_t max, T& out) {
  Result<uint64_t> v = ParseUnsigned(text, min, max);
  if (!v.ok()) return v.status();
  out = static_cast<T>(*v);
  return Status::Ok();
}

Status SetDuration(const std::string& text, Millis& out) {
  Result<Millis> d = ParsePositiveDuration(text);
  if (!d.ok()) return d.status();
  out = *d;
  return Status::Ok();
}

Status SetString(const std::string& text, bool required, std::string& out) {
  if (required) EDDY_RETURN_IF_ERROR(CheckNonEmpty(text));
  out = text;
  return Status::Ok();
}

Status SetChoice(const std::string& text, std::initializer_list<const char*> allowed,
                 std::string& out) {
  EDDY_RETURN_IF_ERROR(CheckOneOf(text, allowed));
  out = text;
  return Status::Ok();
}

struct Key {
  const char* name;
  Status (*set)(WorkerConfig&, const std::string&);
};

// Keys are the WorkerConfig field names; docs/configuration.md documents each one.
constexpr Key kKeys[] = {
    {"state_dir",
     [](WorkerConfig& c, const std::string& v) { return SetString(v, true, c.state_dir); }},
    {"max_parallelism",
     [](WorkerConfig& c, const std::string& v) {
       return SetUnsigned(v, 1, kMaxParallelism, c.max_parallelism);
     }},
    {"shards",
     [](WorkerConfig& c, const std::string& v) { return SetUnsigned(v, 0, kMaxShards, c.shards); }},
    {"admin_address",
     [](WorkerConfig& c, const std::string& v) { return SetString(v, true, c.admin_address); }},
    {"admin_port",
     [](WorkerConfig& c, const std::string& v) { return SetUnsigned(v, 0, 65535, c.admin_port); }},
    {"max_buffered_messages",
     [](WorkerConfig& c, const std::string& v) {
       return SetUnsigned(v, 1, std::numeric_limits<uint64_t>::max(), c.max_buffered_messages);
     }},
    {"max_inflight_per_shard",
     [](WorkerConfig& c, const std::string& v) {
       return SetUnsigned(v, 1, std::numeric_limits<uint64_t>::max(), c.max_inflight_per_shard);
     }},
    {"state_cache_bytes",
     [](WorkerConfig& c, const std::string& v) {
       if (v == "auto") {
         c.state_cache_bytes.reset();
         return Status::Ok();
       }
       Result<uint64_t> bytes = ParseUnsigned(v, 0, std::numeric_limits<uint64_t>::max());
       if (!bytes.ok()) return Bad(bytes.status().message() + " (or auto)");
       c.state_cache_bytes = *bytes;
       return Status::Ok();
     }},
    {"state_flush_interval",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.state_flush_interval); }},
    {"failure_policy",
     [](WorkerConfig& c, const std::string& v) {
       return SetChoice(v, {"retry", "dead-letter"}, c.failure_policy);
     }},
    {"retry_backoff_max",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.retry_backoff_max); }},
    {"dead_letter_topic",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.dead_letter_topic);
     }},
    {"dead_letter_address",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.dead_letter_address);
     }},
    {"commit_interval",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.commit_interval); }},
    {"drain_timeout",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.drain_timeout); }},
    {"checkpoint.coordinator",
     [](WorkerConfig& c, const std::string& v) {
       if (!v.empty()) EDDY_RETURN_IF_ERROR(CheckHostPort(v));
       c.checkpoint.coordinator = v;
       return Status::Ok();
     }},
    {"checkpoint.embedded",
     [](WorkerConfig& c, const std::string& v) {
       Result<bool> b = ParseBool(v);
       if (!b.ok()) return b.status();
       c.checkpoint.embedded = *b;
       return Status::Ok();
     }},
    {"checkpoint.interval",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.checkpoint.interval); }},
    {"checkpoint.timeout",
     [](WorkerConfig& c, const std::string& v) { return SetDuration(v, c.checkpoint.timeout); }},
    {"checkpoint.retain",
     [](WorkerConfig& c, const std::string& v) {
       return SetUnsigned(v, 1, 1000000, c.checkpoint.retain);
     }},
    {"checkpoint.storage.uri",
     [](WorkerConfig& c, const std::string& v) {
       EDDY_RETURN_IF_ERROR(CheckStorageUri(v));
       c.checkpoint.storage_uri = v;
       return Status::Ok();
     }},
    {"checkpoint.storage.endpoint",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.checkpoint.storage_endpoint);
     }},
    {"checkpoint.storage.region",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.checkpoint.storage_region);
     }},
    {"checkpoint.storage.access_key_id",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.checkpoint.storage_access_key_id);
     }},
    {"checkpoint.storage.secret_access_key",
     [](WorkerConfig& c, const std::string& v) {
       return SetString(v, false, c.checkpoint.storage_secret_access_key);
     }},
    {"checkpoint.worker_id",
     [](WorkerConfig& c, const std::string& v) {
       EDDY_RETURN_IF_ERROR(CheckWorkerId(v));
       c.checkpoint.worker_id = v;
       return Status::Ok();
     }},
    {"checkpoint.job",
     [](WorkerConfig& c, const std::string& v) {
       EDDY_RETURN_IF_ERROR(CheckNonEmpty(v));
       EDDY_RETURN_IF_ERROR(CheckWorkerId(v));
       c.checkpoint.job = v;
       return Status::Ok();
     }},
    {"log_level",
     [](WorkerConfig& c, const std::string& v) {
       return SetChoice(v, {"trace", "debug", "info", "warn", "error"}, c.log_level);
     }},
    {"log_format",
     [](WorkerConfig& c, const std::string& v) {
       return SetChoice(v, {"text", "json"}, c.log_format);
     }},
};

const Key* FindKey(const std::string& name) {
  for (const Key& key : kKeys) {
    if (name == key.name) return &key;
  }
  return nullptr;
}

// "checkpoint" and "checkpoint.storage": prefixes of dotted keys, written as nested maps in YAML.
bool IsSection(const std::string& name) {
  const std::string prefix = name + ".";
  for (const Key& key : kKeys) {
    if (std::string_view(key.name).substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

std::string KnownKeys() {
  std::string list;
  for (const Key& key : kKeys) list += (list.empty() ? "" : ", ") + std::string(key.name);
  return list;
}

// The key to blame plus the message, so the file loader can point at a line.
struct Violation {
  std::string key;
  std::string message;
};

std::optional<Violation> FindViolation(const WorkerConfig& c) {
  auto check = [](const char* key, const Status& s) -> std::optional<Violation> {
    if (s.ok()) return std::nullopt;
    return Violation{key, s.message()};
  };
  auto in_range = [](uint64_t v, uint64_t min, uint64_t max) {
    return v >= min && v <= max ? Status::Ok()
                                : Bad("must be between " + std::to_string(min) + " and " +
                                      std::to_string(max) + ", got " + std::to_string(v));
  };
  auto positive = [](Millis d) {
    return d.count() > 0 ? Status::Ok() : Bad("must be larger than 0");
  };
  std::optional<Violation> v;
  if ((v = check("state_dir", CheckNonEmpty(c.state_dir)))) return v;
  if ((v = check("max_parallelism", in_range(c.max_parallelism, 1, kMaxParallelism)))) return v;
  if ((v = check("shards", in_range(c.shards, 0, kMaxShards)))) return v;
  if ((v = check("admin_address", CheckNonEmpty(c.admin_address)))) return v;
  if ((v = check("max_buffered_messages", in_range(c.max_buffered_messages, 1, UINT64_MAX)))) {
    return v;
  }
  if ((v = check("max_inflight_per_shard", in_range(c.max_inflight_per_shard, 1, UINT64_MAX)))) {
    return v;
  }
  if ((v = check("failure_policy", CheckOneOf(c.failure_policy, {"retry", "dead-letter"})))) {
    return v;
  }
  if ((v = check("retry_backoff_max", positive(c.retry_backoff_max)))) return v;
  if ((v = check("state_flush_interval", positive(c.state_flush_interval)))) return v;
  if ((v = check("commit_interval", positive(c.commit_interval)))) return v;
  if ((v = check("log_level",
                 CheckOneOf(c.log_level, {"trace", "debug", "info", "warn", "error"})))) {
    return v;
  }
  if ((v = check("log_format", CheckOneOf(c.log_format, {"text", "json"})))) return v;
  if (c.failure_policy == "dead-letter" && c.dead_letter_topic.empty()) {
    return Violation{"failure_policy", "'dead-letter' requires dead_letter_topic to be set"};
  }
  const WorkerCheckpointConfig& k = c.checkpoint;
  if (!k.coordinator.empty()) {
    if ((v = check("checkpoint.coordinator", CheckHostPort(k.coordinator)))) return v;
  }
  if (k.embedded && !k.coordinator.empty()) {
    return Violation{"checkpoint.embedded",
                     "checkpoint.embedded: true and checkpoint.coordinator are exclusive: run "
                     "the coordinator inside this worker or use an external one, not both"};
  }
  if ((v = check("checkpoint.interval", positive(k.interval)))) return v;
  if ((v = check("checkpoint.timeout", positive(k.timeout)))) return v;
  if ((v = check("checkpoint.retain", in_range(k.retain, 1, 1000000)))) return v;
  if ((v = check("checkpoint.storage.uri", CheckStorageUri(k.storage_uri)))) return v;
  if ((v = check("checkpoint.worker_id", CheckWorkerId(k.worker_id)))) return v;
  if (k.enabled() && k.storage_uri.empty()) {
    return Violation{k.embedded ? "checkpoint.embedded" : "checkpoint.coordinator",
                     "checkpointing needs checkpoint.storage.uri (file:///path or "
                     "s3://bucket/prefix): the worker uploads its own checkpoint files"};
  }
  if (!k.enabled() && !k.storage_uri.empty()) {
    return Violation{"checkpoint.storage.uri",
                     "is set but checkpointing is off: set checkpoint.embedded: true or "
                     "checkpoint.coordinator"};
  }
  return std::nullopt;
}

std::string Trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  size_t end = s.find_last_not_of(" \t");
  return s.substr(begin, end - begin + 1);
}

Result<WorkerConfig> LoadWorkerConfig(const std::string& yaml, const std::string& file) {
  std::vector<YAML::Node> docs = YAML::LoadAll(yaml);
  DocumentContext context{file, 0};
  WorkerConfig config;
  std::vector<YAML::Node> non_empty;
  for (const YAML::Node& d : docs) {
    if (d.IsDefined() && !d.IsNull()) non_empty.push_back(d);
  }
  if (non_empty.size() > 1) {
    return InvalidArgument(file + ": expected one YAML document, found " +
                           std::to_string(non_empty.size()));
  }
  std::map<std::string, int> key_lines;
  if (!non_empty.empty()) {
    Field root = Field::Root(&context, non_empty.front());
    EDDY_RETURN_IF_ERROR(root.RequireMap());
    // Sections (checkpoint:, checkpoint.storage:) are flattened into dotted key names.
    std::vector<std::pair<std::string, Field>> entries;
    std::function<Status(const std::string&, const Field&)> flatten =
        [&](const std::string& prefix, const Field& map) -> Status {
      for (auto& [name, value] : map.Entries()) {
        std::string full = prefix.empty() ? name : prefix + "." + name;
        if (value.IsMap() && IsSection(full)) {
          EDDY_RETURN_IF_ERROR(flatten(full, value));
        } else {
          entries.emplace_back(full, value);
        }
      }
      return Status::Ok();
    };
    EDDY_RETURN_IF_ERROR(flatten("", root));
    for (const auto& [name, value] : entries) {
      if (IsSection(name)) {
        if (!value.present()) continue;  // an empty section
        return value.Error("expected a map of " + name + ".* settings, got " + value.Describe());
      }
      if (key_lines.count(name)) return value.Error("duplicate key '" + name + "'");
      const Key* key = FindKey(name);
      if (key == nullptr) {
        return value.Error("unknown key '" + name + "' (known keys: " + KnownKeys() + ")");
      }
      key_lines[name] = value.line();
      if (value.present() && !value.IsScalar()) {
        return value.Error("expected a single value, got " + value.Describe());
      }
      std::string text = value.present() ? value.node().Scalar() : "";
      Status s = key->set(config, text);
      if (!s.ok()) return value.Error(s.message());
    }
  }
  if (std::optional<Violation> v = FindViolation(config)) {
    auto line = key_lines.find(v->key);
    return InvalidArgument(
        FormatError(context, line == key_lines.end() ? 0 : line->second, v->key, v->message));
  }
  return config;
}

}  // namespace

Status ValidateWorkerConfig(const WorkerConfig& config) {
  if (std::optional<Violation> v = FindViolation(config)) {
    return InvalidArgument(v->key + ": " + v->message);
  }
  return Status::Ok();
}

Status ApplyWorkerOverride(WorkerConfig& config, const std::string& key_equals_value) {
  size_t eq = key_equals_value.find('=');
  if (eq == std::string::npos) {
    return InvalidArgument("override '" + key_equals_value + "': expected key=value");
  }
  std::string name = Trim(key_equals_value.substr(0, eq));
  std::string value = Trim(key_equals_value.substr(eq + 1));
  const Key* key = FindKey(name);
  if (key == nullptr) {
    return InvalidArgument("override '" + key_equals_value + "': unknown key '" + name +
                           "' (known keys: " + KnownKeys() + ")");
  }
  // Apply to a copy so a rejected value leaves the config untouched.
  WorkerConfig updated = config;
  Status s = key->set(updated, value);
  if (!s.ok()) {
    return InvalidArgument("override '" + key_equals_value + "': " + name + ": " + s.message());
  }
  config = std::move(updated);
  return Status::Ok();
}

uint64_t StateCacheBytesFor(uint64_t available_memory) {
  return std::max<uint64_t>(available_memory / 4, uint64_t{64} << 20);
}

Result<WorkerConfig> LoadWorkerConfigString(const std::string& yaml, const std::string& file_name) {
  try {
    return LoadWorkerConfig(yaml, file_name);
  } catch (const YAML::Exception& e) {
    std::string where = file_name;
    if (!e.mark.is_null()) {
      where += ": line " + std::to_string(e.mark.line + 1) + ", column " +
               std::to_string(e.mark.column + 1);
    }
    return InvalidArgument(where + ": invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(file_name + ": cannot load worker config: " + e.what());
  }
}

Result<WorkerConfig> LoadWorkerConfigFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound("worker config file not found: " + path);
  if (!std::filesystem::is_regular_file(path, ec)) {
    return InvalidArgument("worker config is not a regular file: " + path);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("cannot open worker config file: " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return InvalidArgument("cannot read worker config file: " + path);
  return LoadWorkerConfigString(contents.str(), path);
}

}  // namespace eddy
