#pragma once
// Private to src/config. A yaml-cpp node plus where it came from (file, document, line, field
// path), so that every parse error can say exactly what is wrong and where. All YAML access in
// the loaders goes through Field; nothing here throws for bad input (type checks come first),
// and the public entry points still catch yaml-cpp exceptions as a last line of defence.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "eddy/common/status.h"
#include "eddy/config/module_spec.h"
#include "eddy/model/address.h"

namespace eddy::config_internal {

// Identifies one YAML document for error messages.
struct DocumentContext {
  std::string file;
  int document = 0;  // 1-based; 0 for single-document files (no "document N" in messages)
};

// "file: document 2 (line 14): path: message" (or "file: line 14: ..." without a document).
std::string FormatError(const DocumentContext& doc, int line, const std::string& path,
                        const std::string& message);

class Field {
 public:
  // The root of a document. `line` is 1-based (0 = unknown).
  static Field Root(const DocumentContext* doc, const YAML::Node& node, std::string path = "");

  // Defined and not YAML null: "key:" with nothing after it counts as absent.
  bool present() const;
  bool IsMap() const { return present() && node_.IsMap(); }
  bool IsSequence() const { return present() && node_.IsSequence(); }
  bool IsScalar() const { return present() && node_.IsScalar(); }
  const std::string& path() const { return path_; }
  int line() const { return line_; }
  const YAML::Node& node() const { return node_; }

  // Map child. When the key is missing the result is not present() and carries this field's
  // line. Only valid on a map (call RequireMap() first); on anything else returns absent.
  Field Get(const std::string& key) const;
  // Sequence items / map entries (keys as strings). Empty when the node has another shape.
  std::vector<Field> Items() const;
  std::vector<std::pair<std::string, Field>> Entries() const;

  Status Error(const std::string& message) const;
  Status MissingError() const { return Error("missing required field"); }

  // Shape checks. RequireMap also rejects duplicate keys (yaml-cpp keeps both silently).
  Status RequireMap() const;
  Status RequireSequence() const;

  // Typed reads. All require present(); callers check present() for optional fields.
  Result<std::string> AsString() const;          // any scalar, as written
  Result<std::string> AsNonEmptyString() const;  // scalar, not ""
  Result<int64_t> AsInt(int64_t min, int64_t max) const;
  Result<Millis> AsDuration() const;
  // "ns/name" with no '*'. `what` names the expected thing in the error ("a function type").
  Result<FunctionType> AsFunctionType(const std::string& what = "a function type") const;
  // A non-empty sequence of function types (an ingress's `targets`).
  Result<std::vector<FunctionType>> AsFunctionTypeList() const;
  // One of a fixed set of words (exact match), e.g. {"earliest", "latest"}.
  Result<std::string> AsOneOf(std::initializer_list<const char*> allowed) const;

  // Describes what the node is, for "expected X, got Y" messages.
  std::string Describe() const;

 private:
  Field(const DocumentContext* doc, YAML::Node node, std::string path, int line)
      : doc_(doc), node_(std::move(node)), path_(std::move(path)), line_(line) {}

  const DocumentContext* doc_;
  YAML::Node node_;
  std::string path_;
  int line_;
};

// Result<T> unwrapping for the parsers: `CONFIG_ASSIGN_OR_RETURN(auto x, field.AsString());`
#define CONFIG_CONCAT_INNER(a, b) a##b
#define CONFIG_CONCAT(a, b) CONFIG_CONCAT_INNER(a, b)
#define CONFIG_ASSIGN_OR_RETURN(lhs, expr) \
  CONFIG_ASSIGN_OR_RETURN_IMPL(CONFIG_CONCAT(config_result_, __LINE__), lhs, expr)
#define CONFIG_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// 'text', cut to a readable length for error messages.
std::string Quote(const std::string& text);

// Line (1-based) of a node, or `fallback` when yaml-cpp has no mark for it.
int LineOf(const YAML::Node& node, int fallback);

}  // namespace eddy::config_internal
