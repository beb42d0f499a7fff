#pragma once
// A StateBackend for dispatch tests: forwards to a real backend (RocksDB) and fails every Commit
// while `fail_commits` is set (a full disk, say). Counters and the flag are atomic: a shard's
// thread uses the backend while the test's thread flips the flag and reads the counts.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/state/state_backend.h"

namespace eddy::testing {

class FlakyBackend final : public StateBackend {
 public:
  explicit FlakyBackend(StateBackend* inner) : inner_(inner) {}

  Result<std::vector<std::optional<StoredValue>>> ReadValues(
      KeyGroup kg, const Address& a, const std::vector<std::string>& names, int64_t now) override {
    ++reads;
    return inner_->ReadValues(kg, a, names, now);
  }
  Result<std::optional<DelayedRecord>> FindDelayedByToken(KeyGroup kg, const Address& s,
                                                          std::string_view t) override {
    return inner_->FindDelayedByToken(kg, s, t);
  }
  Status ScanDelayed(KeyGroup f, KeyGroup l,
                     const std::function<Status(KeyGroup, DelayedRecord)>& v) override {
    return inner_->ScanDelayed(f, l, v);
  }
  std::unique_ptr<StateWriteBatch> NewWriteBatch() override { return inner_->NewWriteBatch(); }
  Status Commit(StateWriteBatch& b) override {
    if (fail_commits) return Unavailable("injected: disk full");
    ++commits;
    return inner_->Commit(b);
  }
  // The inner backend belongs to the test.
  Status Close() override { return Status::Ok(); }

  std::atomic<bool> fail_commits{false};
  std::atomic<int> reads{0};
  std::atomic<int> commits{0};

 private:
  StateBackend* inner_;
};

}  // namespace eddy::testing
