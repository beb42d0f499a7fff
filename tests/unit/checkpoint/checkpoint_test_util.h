#pragma once
// Helpers shared by the checkpoint tests.

#include <filesystem>
#include <string>
#include <system_error>

#include "eddy/model/address.h"
#include "fakes/process.h"

namespace eddy::checkpoint::testing {

// A temporary folder removed at the end of the test.
class TempDir {
 public:
  TempDir() : path_(eddy::testing::MakeTempDir("eddy-checkpoint")) {}
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline Address Addr(std::string ns, std::string name, std::string id) {
  return Address{FunctionType{std::move(ns), std::move(name)}, std::move(id)};
}

}  // namespace eddy::checkpoint::testing
