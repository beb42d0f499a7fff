#pragma once
// Function types and addresses, as in StateFun: a function type is "namespace/name", an
// address is a function type plus an id. Plain value types, cheap to copy and hash.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace eddy {

struct FunctionType {
  std::string ns;
  std::string name;

  // "ns/name".
  std::string ToString() const { return ns + "/" + name; }
  // Parses "ns/name" (exactly one '/', both sides non-empty). nullopt otherwise.
  static std::optional<FunctionType> Parse(std::string_view text);

  friend bool operator==(const FunctionType&, const FunctionType&) = default;
};

struct Address {
  FunctionType type;
  std::string id;

  // "ns/name/id".
  std::string ToString() const { return type.ToString() + "/" + id; }
  friend bool operator==(const Address&, const Address&) = default;
};

struct FunctionTypeHash {
  size_t operator()(const FunctionType& t) const noexcept {
    return std::hash<std::string>{}(t.ns) * 31 ^ std::hash<std::string>{}(t.name);
  }
};

struct AddressHash {
  size_t operator()(const Address& a) const noexcept {
    return FunctionTypeHash{}(a.type) * 131 ^ std::hash<std::string>{}(a.id);
  }
};

}  // namespace eddy
