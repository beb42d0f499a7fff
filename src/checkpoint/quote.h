#pragma once
// Private to src/checkpoint: untrusted text (keys, names from storage) made safe for messages.

#include <string>
#include <string_view>

namespace eddy::checkpoint {

// 'text' with non-printable bytes as \xNN, cut after 200 bytes.
inline std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[(static_cast<unsigned char>(c) >> 4) & 15]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

}  // namespace eddy::checkpoint
