#include "config/yaml_field.h"

#include <charconv>
#include <map>

namespace eddy::config_internal {

std::string FormatError(const DocumentContext& doc, int line, const std::string& path,
                        const std::string& message) {
  std::string out = doc.file + ": ";
  if (doc.document > 0) {
    out += "document " + std::to_string(doc.document);
    if (line > 0) out += " (line " + std::to_string(line) + ")";
  } else if (line > 0) {
    out += "line " + std::to_string(line);
  }
  if (!path.empty()) out += ": " + path;
  return out + ": " + message;
}

std::string Quote(const std::string& text) {
  // Long values (a pasted certificate, a runaway line) would drown the message.
  constexpr size_t kMax = 80;
  if (text.size() <= kMax) return "'" + text + "'";
  return "'" + text.substr(0, kMax) + "...'";
}

int LineOf(const YAML::Node& node, int fallback) {
  // yaml-cpp marks an empty (null) value at the *next* token, which points at the wrong line.
  if (!node.IsDefined() || node.IsNull()) return fallback;
  YAML::Mark mark = node.Mark();
  if (mark.is_null() || mark.line < 0) return fallback;
  return mark.line + 1;
}

Field Field::Root(const DocumentContext* doc, const YAML::Node& node, std::string path) {
  return Field(doc, node, std::move(path), LineOf(node, 0));
}

bool Field::present() const { return node_.IsDefined() && !node_.IsNull(); }

Field Field::Get(const std::string& key) const {
  std::string child_path = path_.empty() ? key : path_ + "." + key;
  if (IsMap()) {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == key) {
        // The key's line: for a block map or list value yaml-cpp marks its first entry instead.
        return Field(doc_, it->second, std::move(child_path), LineOf(it->first, line_));
      }
    }
  }
  return Field(doc_, YAML::Node(YAML::NodeType::Undefined), std::move(child_path), line_);
}

std::vector<Field> Field::Items() const {
  std::vector<Field> items;
  if (!IsSequence()) return items;
  size_t i = 0;
  for (auto it = node_.begin(); it != node_.end(); ++it, ++i) {
    items.push_back(Field(doc_, *it, path_ + "[" + std::to_string(i) + "]", LineOf(*it, line_)));
  }
  return items;
}

std::vector<std::pair<std::string, Field>> Field::Entries() const {
  std::vector<std::pair<std::string, Field>> entries;
  if (!IsMap()) return entries;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    std::string child_path = path_.empty() ? key : path_ + "." + key;
    entries.emplace_back(key, Field(doc_, it->second, std::move(child_path),
                                    LineOf(it->first, line_)));
  }
  return entries;
}

Status Field::Error(const std::string& message) const {
  return InvalidArgument(FormatError(*doc_, line_, path_, message));
}

std::string Field::Describe() const {
  if (!node_.IsDefined()) return "nothing";
  switch (node_.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return Quote(node_.Scalar());
    default: return "nothing";
  }
}

Status Field::RequireMap() const {
  if (!present()) return MissingError();
  if (!node_.IsMap()) return Error("expected a map, got " + Describe());
  std::map<std::string, int> seen;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    if (!it->first.IsScalar()) {
      return Error("map keys must be plain strings (line " +
                   std::to_string(LineOf(it->first, line_)) + ")");
    }
    int key_line = LineOf(it->first, line_);
    auto [pos, inserted] = seen.emplace(it->first.Scalar(), key_line);
    if (!inserted) {
      std::string key_path = path_.empty() ? pos->first : path_ + "." + pos->first;
      return InvalidArgument(FormatError(*doc_, key_line, key_path,
                                         "duplicate key (first defined at line " +
                                             std::to_string(pos->second) + ")"));
    }
  }
  return Status::Ok();
}

Status Field::RequireSequence() const {
  if (!present()) return MissingError();
  if (!node_.IsSequence()) return Error("expected a list, got " + Describe());
  return Status::Ok();
}

Result<std::string> Field::AsString() const {
  if (!present()) return MissingError();
  if (!node_.IsScalar()) return Error("expected a string, got " + Describe());
  return node_.Scalar();
}

Result<std::string> Field::AsNonEmptyString() const {
  Result<std::string> s = AsString();
  if (!s.ok()) return s;
  if (s->empty()) return Error("must not be empty");
  return s;
}

Result<int64_t> Field::AsInt(int64_t min, int64_t max) const {
  if (!present()) return MissingError();
  if (!node_.IsScalar()) return Error("expected an integer, got " + Describe());
  const std::string& text = node_.Scalar();
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return Error("expected an integer, got " + Quote(text));
  }
  if (value < min || value > max) {
    return Error("must be between " + std::to_string(min) + " and " + std::to_string(max) +
                 ", got " + text);
  }
  return value;
}

Result<Millis> Field::AsDuration() const {
  if (!present()) return MissingError();
  if (!node_.IsScalar()) return Error("expected a duration such as '10s', got " + Describe());
  Result<Millis> d = ParseDuration(node_.Scalar());
  if (!d.ok()) return Error(d.status().message());
  return d;
}

Result<FunctionType> Field::AsFunctionType(const std::string& what) const {
  if (!present()) return MissingError();
  if (!node_.IsScalar()) return Error("expected " + what + " 'namespace/name', got " + Describe());
  std::optional<FunctionType> type = FunctionType::Parse(node_.Scalar());
  if (!type || type->ns.find('*') != std::string::npos ||
      type->name.find('*') != std::string::npos) {
    return Error("expected " + what + " 'namespace/name', got " + Quote(node_.Scalar()));
  }
  return *type;
}

Result<std::vector<FunctionType>> Field::AsFunctionTypeList() const {
  EDDY_RETURN_IF_ERROR(RequireSequence());
  if (node_.size() == 0) return Error("at least one target function is required");
  std::vector<FunctionType> out;
  for (const Field& item : Items()) {
    CONFIG_ASSIGN_OR_RETURN(FunctionType type, item.AsFunctionType());
    out.push_back(std::move(type));
  }
  return out;
}

Result<std::string> Field::AsOneOf(std::initializer_list<const char*> allowed) const {
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  if (!present()) return MissingError();
  if (!node_.IsScalar()) return Error("expected one of [" + list + "], got " + Describe());
  for (const char* a : allowed) {
    if (node_.Scalar() == a) return node_.Scalar();
  }
  return Error("expected one of [" + list + "], got " + Quote(node_.Scalar()));
}

}  // namespace eddy::config_internal
