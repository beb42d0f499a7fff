#pragma once
// Small helpers shared by the storage tests.

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "eddy/storage/object_store.h"
#include "fakes/process.h"

namespace eddy::storage::testing {

// A temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() : path_(eddy::testing::MakeTempDir("eddy-storage")) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline StorageConfig FileConfig(const std::string& uri) {
  StorageConfig c;
  c.uri = uri;
  return c;
}

inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Number of files anywhere under `dir` whose name contains `needle`.
inline int CountFilesContaining(const std::string& dir, const std::string& needle) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename().string().find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace eddy::storage::testing
