#include "state/ttl_compaction_filter.h"

#include <chrono>
#include <string>
#include <utility>

#include "state/key_codec.h"

namespace eddy::state {
namespace {

class TtlCompactionFilter final : public rocksdb::CompactionFilter {
 public:
  explicit TtlCompactionFilter(int64_t now_ms) : now_ms_(now_ms) {}

  bool Filter(int /*level*/, const rocksdb::Slice& key, const rocksdb::Slice& existing_value,
              std::string* /*new_value*/, bool* /*value_changed*/) const override {
    auto header = ParseKeyHeader(std::string_view(key.data(), key.size()));
    if (!header || header->tag != kValueTag) return false;
    auto expires_at = PeekExpiresAt(std::string_view(existing_value.data(), existing_value.size()));
    return expires_at && *expires_at != 0 && *expires_at <= now_ms_;
  }

  const char* Name() const override { return "eddy.TtlCompactionFilter"; }

 private:
  const int64_t now_ms_;
};

class TtlCompactionFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  explicit TtlCompactionFilterFactory(std::function<int64_t()> now_ms)
      : now_ms_(std::move(now_ms)) {}

  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<TtlCompactionFilter>(now_ms_());
  }

  const char* Name() const override { return "eddy.TtlCompactionFilterFactory"; }

 private:
  std::function<int64_t()> now_ms_;
};

}  // namespace

std::shared_ptr<rocksdb::CompactionFilterFactory> NewTtlCompactionFilterFactory(
    std::function<int64_t()> now_ms) {
  return std::make_shared<TtlCompactionFilterFactory>(std::move(now_ms));
}

int64_t WallClockNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace eddy::state
