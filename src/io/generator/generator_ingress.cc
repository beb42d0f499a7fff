// GeneratorIngress: synthetic records on one thread. See generator.h for the contract and
// README.md for the design (batching, backpressure, pacing).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "eddy/io/generator.h"
#include "eddy/metrics/metrics.h"
#include "eddy/model/typed_value.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/pause_gate.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/runtime/router.h"

namespace eddy {

namespace {

using Clock = std::chrono::steady_clock;

// Envelopes per ProgressTracker::Pin / FlowControl::Add: amortizes the shared atomics while
// keeping the overshoot past a pause and the wait for StopFetching small.
constexpr int64_t kBatchEnvelopes = 256;
// How often a holding (backpressured) generator looks at FlowControl again.
constexpr std::chrono::milliseconds kHoldSleep{1};
// Longest sleep while waiting for rate tokens, so StopFetching is seen quickly at low rates.
constexpr std::chrono::milliseconds kMaxPaceSleep{5};
constexpr std::chrono::seconds kStopFetchingTimeout{5};
// The token bucket holds at most this fraction of a second's records (and at most one batch),
// so a stall (backpressure, a slow scheduler) is not followed by a large burst.
constexpr double kBurstSeconds = 0.1;

// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and the same sequence on every platform,
// unlike std::uniform_int_distribution, so a seed names one key sequence everywhere.
uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
constexpr uint64_t kSplitMixGamma = 0x9e3779b97f4a7c15ULL;

}  // namespace

class GeneratorIngress::Impl {
 public:
  Impl(const GeneratorIngressSpec& spec, IngressContext ctx, uint64_t start_sequence = 0)
      : spec_(spec),
        ctx_(ctx),
        long_values_(spec.value_type == types::kLong),
        random_keys_(spec.key_order == "random"),
        targets_(static_cast<int64_t>(spec.targets.size())),
        next_seq_(start_sequence),
        // SplitMix64 adds the gamma once per record, so the state at record n is seed + n*gamma.
        rng_state_(spec.seed + start_sequence * kSplitMixGamma) {}

  ~Impl() { Stop(); }

  Status Init();
  Status Start();
  void StopFetching();
  void Stop();
  uint64_t Generated() const { return generated_.load(); }
  Result<uint64_t> PauseAtBoundary(std::chrono::milliseconds timeout) {
    if (!gate_.Pause(timeout)) {
      return DeadlineExceeded("generator ingress " + spec_.id + ": no batch boundary within " +
                              std::to_string(timeout.count()) + " ms");
    }
    return next_seq_;  // stable: the thread is outside Emit, and the gate's mutex orders it
  }
  void Resume() { gate_.Resume(); }

 private:
  void Run();
  // Backpressure: true while the generator must hold (FlowControl above its bound, until it is
  // back at the low-water mark).
  bool Holding();
  // Records the next batch may hold (>= 1), or 0 when the rate allows none yet.
  int64_t NextBatch();
  void RefillTokens();
  void Emit(int64_t records);
  std::string IdOf(uint64_t seq);
  TypedValue ValueOf(uint64_t seq) const;

  const GeneratorIngressSpec spec_;
  const IngressContext ctx_;
  const bool long_values_;
  const bool random_keys_;
  const int64_t targets_;

  std::mutex lifecycle_mu_;
  bool started_ = false;  // guarded by lifecycle_mu_
  bool stopped_ = false;  // guarded by lifecycle_mu_
  std::thread thread_;
  std::atomic<bool> stop_fetching_{false};
  std::atomic<bool> running_{false};  // set by Start, cleared when Run returns
  std::atomic<uint64_t> generated_{0};

  PauseGate gate_;  // the checkpoint cut's record/batch boundary
  // Generating-thread state (next_seq_ is also read by PauseAtBoundary, under the gate).
  uint64_t next_seq_ = 0;
  uint64_t rng_state_;
  bool holding_ = false;
  std::vector<Envelope> batch_;  // Emit's envelopes; capacity reused
  double tokens_ = 0;
  double burst_ = 1;
  Clock::time_point last_refill_;

  Counter fallback_counter_;
  Gauge fallback_gauge_;
  Counter* records_ = &fallback_counter_;
  Gauge* paused_gauge_ = &fallback_gauge_;
};

Status GeneratorIngress::Impl::Init() {
  const std::string what = "generator ingress " + spec_.id;
  if (ctx_.router == nullptr || ctx_.flow == nullptr || ctx_.progress == nullptr) {
    return InvalidArgument(what + ": router, flow control and progress tracker are required");
  }
  // The config loader checks all of this; the runtime re-checks because specs can be built in
  // code (tests, embedding) and a bad value would otherwise loop, divide by zero or never stop.
  if (spec_.id.empty()) return InvalidArgument("generator ingress: id is required");
  if (spec_.targets.empty()) return InvalidArgument(what + ": no targets");
  if (spec_.keys < 1) return InvalidArgument(what + ": keys must be at least 1");
  if (spec_.rate < 0) return InvalidArgument(what + ": rate must not be negative");
  if (spec_.count < 0) return InvalidArgument(what + ": count must not be negative");
  if (spec_.value_type.empty()) return InvalidArgument(what + ": valueType is required");
  if (spec_.key_order != "round-robin" && spec_.key_order != "random") {
    return InvalidArgument(what + ": keyOrder must be round-robin or random, got '" +
                           spec_.key_order + "'");
  }
  if (spec_.rate > 0) {
    burst_ = std::clamp(static_cast<double>(spec_.rate) * kBurstSeconds, 1.0,
                        static_cast<double>(std::max<int64_t>(1, kBatchEnvelopes / targets_)));
  }
  if (ctx_.metrics != nullptr) {
    // The same families as the Kafka ingress, so dashboards treat both alike.
    Labels labels{{"ingress", spec_.id}};
    records_ = &ctx_.metrics->GetCounter("eddy_ingress_records_total", labels,
                                         "Records consumed by the ingress.");
    paused_gauge_ = &ctx_.metrics->GetGauge(
        "eddy_ingress_paused", labels,
        "1 while the ingress is paused by backpressure or shutdown.");
  }
  return Status::Ok();
}

Status GeneratorIngress::Impl::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (started_ || stopped_) {
    return FailedPrecondition("generator ingress " + spec_.id + ": started twice");
  }
  started_ = true;
  // Set before the thread exists, so a StopFetching right after Start waits for it.
  running_.store(true);
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::system_error& e) {
    running_.store(false);
    return Internal("generator ingress " + spec_.id + ": cannot start thread: " + e.what());
  }
  spdlog::info("generator ingress {}: {} keys, rate {}, count {}", spec_.id, spec_.keys,
               spec_.rate == 0 ? std::string("unlimited") : std::to_string(spec_.rate) + "/s",
               spec_.count == 0 ? std::string("unbounded") : std::to_string(spec_.count));
  return Status::Ok();
}

void GeneratorIngress::Impl::StopFetching() {
  stop_fetching_.store(true);
  // The thread checks the flag between batches and exits, so this waits at most one batch (or
  // one short sleep). The deadline is only a guard against a Router that blocks.
  auto deadline = Clock::now() + kStopFetchingTimeout;
  while (running_.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (running_.load()) {
    spdlog::warn("generator ingress {}: still routing {} s after StopFetching", spec_.id,
                 kStopFetchingTimeout.count());
  }
}

void GeneratorIngress::Impl::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  stop_fetching_.store(true);
  gate_.Wake();
  if (thread_.joinable()) thread_.join();
  paused_gauge_->Set(0);
}

void GeneratorIngress::Impl::Run() {
  last_refill_ = Clock::now();
  tokens_ = 1;  // the first record goes out at once, then the rate applies
  while (!stop_fetching_.load()) {
    if (spec_.count > 0 && next_seq_ >= static_cast<uint64_t>(spec_.count)) {
      spdlog::info("generator ingress {}: generated all {} records", spec_.id, spec_.count);
      break;
    }
    if (Holding()) {
      std::this_thread::sleep_for(kHoldSleep);
      continue;
    }
    int64_t records = NextBatch();
    if (records == 0) {
      // Sleep until the next token (capped, so a StopFetching is seen quickly).
      auto wait = std::chrono::duration<double>((1.0 - tokens_) / static_cast<double>(spec_.rate));
      std::this_thread::sleep_for(
          std::min<Clock::duration>(std::chrono::duration_cast<Clock::duration>(wait),
                                    kMaxPaceSleep));
      continue;
    }
    if (!gate_.Enter(&stop_fetching_)) break;
    Emit(records);
    gate_.Exit();
  }
  if (stop_fetching_.load()) paused_gauge_->Set(1);  // shutdown, as the Kafka ingress reports it
  running_.store(false);
}

bool GeneratorIngress::Impl::Holding() {
  if (holding_) {
    if (!ctx_.flow->ShouldResume()) return true;
    holding_ = false;
    paused_gauge_->Set(0);
    return false;
  }
  if (ctx_.flow->ShouldPause()) {
    holding_ = true;
    paused_gauge_->Set(1);
    return true;
  }
  return false;
}

int64_t GeneratorIngress::Impl::NextBatch() {
  int64_t records = std::max<int64_t>(1, kBatchEnvelopes / targets_);
  if (spec_.count > 0) {
    records = std::min(records, spec_.count - static_cast<int64_t>(next_seq_));
  }
  // Stay within FlowControl's bound: the batch fills at most the room left (but a record is
  // never split across batches, so one record's targets may overshoot).
  int64_t room = static_cast<int64_t>(ctx_.flow->Max()) - ctx_.flow->Buffered();
  records = std::min(records, std::max<int64_t>(1, room / targets_));
  if (spec_.rate > 0) {
    RefillTokens();
    records = std::min(records, static_cast<int64_t>(tokens_));
    if (records <= 0) return 0;
    tokens_ -= static_cast<double>(records);
  }
  return records;
}

void GeneratorIngress::Impl::RefillTokens() {
  Clock::time_point now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  last_refill_ = now;
  tokens_ = std::min(burst_, tokens_ + elapsed * static_cast<double>(spec_.rate));
}

void GeneratorIngress::Impl::Emit(int64_t records) {
  const int64_t envelopes = records * targets_;
  // One count per envelope on the current epoch; each envelope carries the epoch and the shard
  // releases it when done. Added to FlowControl before routing: the shard subtracts when done,
  // possibly before Route returns.
  const uint64_t epoch = ctx_.progress->Pin(envelopes);
  ctx_.flow->Add(envelopes);
  batch_.reserve(static_cast<size_t>(envelopes));  // RouteBatch may have taken the buffer
  for (int64_t r = 0; r < records; ++r) {
    const uint64_t seq = next_seq_++;
    std::string id = IdOf(seq);
    TypedValue value = ValueOf(seq);
    for (int64_t t = 0; t < targets_; ++t) {
      const bool last = t + 1 == targets_;
      Envelope& env = batch_.emplace_back();
      env.target = Address{spec_.targets[t], last ? std::move(id) : id};
      env.argument = last ? std::move(value) : value;
      env.epoch = epoch;
    }
  }
  // One hand-over per batch: each shard is woken at most once for its share, instead of
  // racing the generator envelope by envelope (futex wake-ups were ~15% of a shard's time).
  ctx_.router->RouteBatch(batch_);
  generated_.fetch_add(static_cast<uint64_t>(records));
  records_->Inc(static_cast<uint64_t>(records));
}

std::string GeneratorIngress::Impl::IdOf(uint64_t seq) {
  const uint64_t keys = static_cast<uint64_t>(spec_.keys);
  return std::to_string(random_keys_ ? SplitMix64(rng_state_) % keys : seq % keys);
}

TypedValue GeneratorIngress::Impl::ValueOf(uint64_t seq) const {
  if (long_values_) return types::Long(static_cast<int64_t>(seq));
  return TypedValue{spec_.value_type, true, std::to_string(seq)};
}

Result<std::unique_ptr<GeneratorIngress>> GeneratorIngress::Create(
    const GeneratorIngressSpec& spec, IngressContext context) {
  return Create(spec, context, 0);
}

Result<std::unique_ptr<GeneratorIngress>> GeneratorIngress::Create(
    const GeneratorIngressSpec& spec, IngressContext context, uint64_t start_sequence) {
  auto impl = std::make_unique<Impl>(spec, context, start_sequence);
  EDDY_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<GeneratorIngress>(new GeneratorIngress(std::move(impl)));
}

GeneratorIngress::GeneratorIngress(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GeneratorIngress::~GeneratorIngress() = default;
Status GeneratorIngress::Start() { return impl_->Start(); }
void GeneratorIngress::StopFetching() { impl_->StopFetching(); }
void GeneratorIngress::Stop() { impl_->Stop(); }
uint64_t GeneratorIngress::Generated() const { return impl_->Generated(); }
Result<uint64_t> GeneratorIngress::PauseAtBoundary(std::chrono::milliseconds timeout) {
  return impl_->PauseAtBoundary(timeout);
}
void GeneratorIngress::Resume() { impl_->Resume(); }

}  // namespace eddy
