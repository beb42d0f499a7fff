#pragma once
// Shared helpers for the RocksDB backend tests: a per-test temporary directory and small
// wrappers that keep test bodies about behaviour rather than batch plumbing.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "eddy/state/state_backend.h"

namespace eddy::testing_state {

inline Address Addr(std::string ns, std::string name, std::string id) {
  return Address{FunctionType{std::move(ns), std::move(name)}, std::move(id)};
}

// A fresh directory per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("eddy_state_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" +
            info->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RocksDbOptions Options(const std::string& sub = "db") const {
    RocksDbOptions options;
    options.path = (dir_ / sub).string();
    options.block_cache_bytes = 1 << 20;
    return options;
  }

  std::filesystem::path dir_;
};

inline DelayedRecord Delayed(const Address& sender, int64_t fire_at_ms, uint64_t sequence,
                             std::string token = "") {
  DelayedRecord r;
  r.sender = sender;
  r.target = Addr("ns", "target", "t-" + std::to_string(sequence));
  r.argument = TypedValue{"io.statefun.types/long", true, std::to_string(fire_at_ms)};
  r.cancellation_token = std::move(token);
  r.fire_at_ms = fire_at_ms;
  r.sequence = sequence;
  return r;
}

}  // namespace eddy::testing_state
