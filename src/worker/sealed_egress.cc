#include "worker/sealed_egress.h"

#include <cstdint>

namespace eddy {
namespace {

void PutFixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetFixed(std::string_view& in, int bytes, uint64_t& v) {
  if (in.size() < static_cast<size_t>(bytes)) return false;
  v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  in.remove_prefix(bytes);
  return true;
}

}  // namespace

std::string EncodeSealedEgress(const std::map<std::string, std::string>& sealed) {
  std::string out;
  for (const auto& [id, data] : sealed) {
    PutFixed(out, id.size(), 4);
    out += id;
    PutFixed(out, data.size(), 8);
    out += data;
  }
  return out;
}

Result<std::map<std::string, std::string>> DecodeSealedEgress(std::string_view bytes) {
  std::map<std::string, std::string> out;
  while (!bytes.empty()) {
    uint64_t id_len = 0;
    uint64_t data_len = 0;
    if (!GetFixed(bytes, 4, id_len) || id_len == 0 || id_len > bytes.size()) {
      return DataLoss("sealed egress: truncated or empty egress id");
    }
    std::string id(bytes.substr(0, id_len));
    bytes.remove_prefix(id_len);
    if (!GetFixed(bytes, 8, data_len) || data_len > bytes.size()) {
      return DataLoss("sealed egress: truncated data of egress " + id);
    }
    if (!out.emplace(id, std::string(bytes.substr(0, data_len))).second) {
      return DataLoss("sealed egress: egress " + id + " appears twice");
    }
    bytes.remove_prefix(data_len);
  }
  return out;
}

}  // namespace eddy
