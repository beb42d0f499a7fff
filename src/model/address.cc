#include "eddy/model/address.h"

namespace eddy {

std::optional<FunctionType> FunctionType::Parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) return std::nullopt;
  if (text.find('/', slash + 1) != std::string_view::npos) return std::nullopt;
  return FunctionType{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
}

}  // namespace eddy
