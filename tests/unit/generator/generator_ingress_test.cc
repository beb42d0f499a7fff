// GeneratorIngress against a recording Router: ids and values, count, pacing, backpressure,
// progress epochs, StopFetching and the lifecycle. No sockets; the longest test waits ~1 s
// (the rate test) and every wait is bounded.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eddy/io/generator.h"
#include "eddy/metrics/metrics.h"
#include "eddy/model/typed_value.h"
#include "eddy/runtime/flow_control.h"
#include "eddy/runtime/progress_tracker.h"
#include "eddy/runtime/router.h"

namespace eddy {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

const FunctionType kCounter{"bench", "counter"};
const FunctionType kEcho{"bench", "echo"};

// Records every envelope (optionally only counts them, for unbounded runs) and runs an optional
// hook on the generator's thread after each one.
class RecordingRouter : public Router {
 public:
  explicit RecordingRouter(bool keep = true) : keep_(keep) {}
  void Route(Envelope envelope) override {
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (keep_) envelopes_.push_back(std::move(envelope));
      n = ++count_;
    }
    if (hook_) hook_(n);
  }
  std::vector<Envelope> Envelopes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return envelopes_;
  }
  size_t Count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  // Set before the generator starts.
  void SetHook(std::function<void(size_t)> hook) { hook_ = std::move(hook); }

 private:
  const bool keep_;
  mutable std::mutex mu_;
  std::vector<Envelope> envelopes_;
  size_t count_ = 0;
  std::function<void(size_t)> hook_;
};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

GeneratorIngressSpec Spec(std::vector<FunctionType> targets, int64_t keys, int64_t count) {
  GeneratorIngressSpec spec;
  spec.id = "bench/gen";
  spec.targets = std::move(targets);
  spec.keys = keys;
  spec.count = count;
  return spec;
}

struct Harness {
  explicit Harness(GeneratorIngressSpec s, uint64_t max_buffered = 1'000'000, bool keep = true)
      : spec(std::move(s)), flow(max_buffered), router(keep) {}

  GeneratorIngress& Create() {
    auto created = GeneratorIngress::Create(spec, {&router, &flow, &progress, &metrics, nullptr});
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    ingress = std::move(created).value();
    return *ingress;
  }
  GeneratorIngress& Start() {
    Create();
    Status st = ingress->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *ingress;
  }
  uint64_t Records() { return metrics.GetCounter("eddy_ingress_records_total", Tags()).Value(); }
  int64_t Paused() { return metrics.GetGauge("eddy_ingress_paused", Tags()).Value(); }
  Labels Tags() const { return {{"ingress", spec.id}}; }

  GeneratorIngressSpec spec;
  FlowControl flow;
  ProgressTracker progress;
  MetricsRegistry metrics;
  RecordingRouter router;
  GeneratorIngressPtr ingress;  // last: stopped before the parts it uses are destroyed
};

TEST(GeneratorIngress, RoundRobinIdsAndLongValuesToEveryTarget) {
  Harness h(Spec({kCounter, kEcho}, 3, 7));
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.ingress->Generated() == 7; }));
  std::this_thread::sleep_for(50ms);  // count is a hard stop: nothing more may follow
  std::vector<Envelope> got = h.router.Envelopes();
  ASSERT_EQ(got.size(), 14u);
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(i);
    const int64_t seq = static_cast<int64_t>(i / 2);
    EXPECT_EQ(got[i].target.type, i % 2 == 0 ? kCounter : kEcho);
    EXPECT_EQ(got[i].target.id, std::to_string(seq % 3));
    EXPECT_EQ(got[i].argument, types::Long(seq));
    EXPECT_EQ(types::AsLong(got[i].argument), seq);
    EXPECT_FALSE(got[i].caller.has_value());
  }
  EXPECT_EQ(h.ingress->Generated(), 7u);
  EXPECT_EQ(h.Records(), 7u);  // records, not envelopes
  EXPECT_EQ(h.flow.Buffered(), 14);
}

TEST(GeneratorIngress, CountStopsExactlyAcrossBatches) {
  // 1000 records are four batches (256 envelopes each), the last one cut short by the count.
  Harness h(Spec({kCounter}, 10, 1000));
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.ingress->Generated() == 1000; }));
  std::this_thread::sleep_for(50ms);
  std::vector<Envelope> got = h.router.Envelopes();
  ASSERT_EQ(got.size(), 1000u);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(types::AsLong(got[i].argument), static_cast<int64_t>(i));
    ASSERT_EQ(got[i].target.id, std::to_string(i % 10));
  }
  EXPECT_EQ(h.ingress->Generated(), 1000u);
  EXPECT_EQ(h.Records(), 1000u);
  EXPECT_THAT(h.metrics.RenderPrometheus(),
              HasSubstr("eddy_ingress_records_total{ingress=\"bench/gen\"} 1000"));
  h.ingress->StopFetching();  // returns at once: the thread is already gone
  h.ingress->Stop();
  EXPECT_EQ(h.router.Count(), 1000u);
}

TEST(GeneratorIngress, OtherValueTypesCarryDecimalBytes) {
  GeneratorIngressSpec spec = Spec({kCounter}, 1, 12);
  spec.value_type = "bench.types/seq";
  Harness h(spec);
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.ingress->Generated() == 12; }));
  std::vector<Envelope> got = h.router.Envelopes();
  ASSERT_EQ(got.size(), 12u);
  EXPECT_EQ(got[0].argument, (TypedValue{"bench.types/seq", true, "0"}));
  EXPECT_EQ(got[11].argument, (TypedValue{"bench.types/seq", true, "11"}));
  for (const Envelope& e : got) EXPECT_EQ(e.target.id, "0");  // keys: 1
}

std::vector<std::string> RandomIds(uint64_t seed, int64_t keys, int64_t count) {
  GeneratorIngressSpec spec = Spec({kCounter}, keys, count);
  spec.key_order = "random";
  spec.seed = seed;
  Harness h(spec);
  h.Start();
  EXPECT_TRUE(WaitFor([&] { return h.ingress->Generated() == static_cast<uint64_t>(count); }));
  h.ingress->Stop();
  std::vector<std::string> ids;
  for (const Envelope& e : h.router.Envelopes()) ids.push_back(e.target.id);
  return ids;
}

TEST(GeneratorIngress, RandomKeyOrderIsSeededAndInRange) {
  std::vector<std::string> a = RandomIds(1, 10, 500);
  std::vector<std::string> b = RandomIds(1, 10, 500);
  std::vector<std::string> c = RandomIds(2, 10, 500);
  ASSERT_EQ(a.size(), 500u);
  EXPECT_EQ(a, b);  // same seed, same sequence
  EXPECT_NE(a, c);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), 10u);  // 500 draws hit every one of 10 keys
  for (const std::string& id : distinct) {
    int n = std::stoi(id);
    EXPECT_GE(n, 0);
    EXPECT_LT(n, 10);
  }
  std::vector<std::string> round_robin;
  for (int i = 0; i < 500; ++i) round_robin.push_back(std::to_string(i % 10));
  EXPECT_NE(a, round_robin);
}

TEST(GeneratorIngress, RateIsRoughlyRespected) {
  GeneratorIngressSpec spec = Spec({kCounter}, 5, 0);
  spec.rate = 200;
  Harness h(spec);
  h.Start();
  std::this_thread::sleep_for(1s);
  const uint64_t generated = h.ingress->Generated();
  h.ingress->StopFetching();
  // Loose bounds: this checks pacing happens, not timing precision on a busy machine.
  EXPECT_GE(generated, 100u);
  EXPECT_LE(generated, 300u);
}

TEST(GeneratorIngress, BackpressureHoldsUntilTheLowWaterMark) {
  // The router never finishes anything, so FlowControl only drops when the test says so.
  Harness h(Spec({kCounter}, 10, 0), /*max_buffered=*/100);
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.Paused() == 1; }));
  // Batches are cut to the room left: the bound is met exactly, not overshot by a batch.
  EXPECT_EQ(h.flow.Buffered(), 100);
  EXPECT_EQ(h.router.Count(), 100u);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(h.router.Count(), 100u);

  h.flow.Add(-40);  // 60: below the bound, above the low-water mark (50): still holding
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(h.router.Count(), 100u);
  EXPECT_EQ(h.Paused(), 1);

  h.flow.Add(-10);  // 50: resume, and fill up to the bound again
  ASSERT_TRUE(WaitFor([&] { return h.router.Count() == 150u && h.Paused() == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(h.router.Count(), 150u);
  EXPECT_EQ(h.flow.Buffered(), 100);
  EXPECT_EQ(h.ingress->Generated(), 150u);
  h.ingress->Stop();
  EXPECT_EQ(h.Paused(), 0);
}

TEST(GeneratorIngress, BackpressureNeverSplitsARecordsTargets) {
  // Three targets and a bound of 100: 33 records (99), then one more record (102), then hold.
  Harness h(Spec({kCounter, kEcho, FunctionType{"bench", "third"}}, 10, 0), 100);
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.Paused() == 1; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(h.flow.Buffered(), 102);
  EXPECT_EQ(h.router.Count(), 102u);
  EXPECT_EQ(h.ingress->Generated(), 34u);
}

TEST(GeneratorIngress, EveryEnvelopeCountsOnThePinnedEpoch) {
  Harness h(Spec({kCounter, kEcho}, 7, 1500));
  // Close an epoch every 100 envelopes, from inside routing, so batches straddle epoch changes.
  h.router.SetHook([&h](size_t n) {
    if (n % 100 == 0) h.progress.CloseEpoch();
  });
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.ingress->Generated() == 1500; }));
  h.ingress->Stop();
  h.progress.CloseEpoch();
  std::vector<Envelope> got = h.router.Envelopes();
  ASSERT_EQ(got.size(), 3000u);
  std::set<uint64_t> epochs;
  for (const Envelope& e : got) epochs.insert(e.epoch);
  EXPECT_GT(epochs.size(), 3u) << "the test should spread envelopes over several epochs";
  const uint64_t last = *epochs.rbegin();
  ASSERT_LT(last, h.progress.CurrentEpoch());  // every envelope's epoch is closed

  // Nothing is complete while any envelope of the first epoch is outstanding.
  EXPECT_LT(h.progress.CompletedThrough(), static_cast<int64_t>(*epochs.begin()));
  // Release all but one envelope of the last epoch: completion stops just before it.
  size_t held = got.size();
  for (size_t i = 0; i < got.size(); ++i) {
    if (held == got.size() && got[i].epoch == last) {
      held = i;
      continue;
    }
    h.progress.Release(got[i].epoch);
  }
  EXPECT_EQ(h.progress.CompletedThrough(), static_cast<int64_t>(last) - 1);
  // The last release completes everything: each epoch was pinned exactly once per envelope
  // (too few pins would leave a negative slot, too many a positive one).
  h.progress.Release(got[held].epoch);
  EXPECT_EQ(h.progress.CompletedThrough(), static_cast<int64_t>(h.progress.CurrentEpoch()) - 1);
}

TEST(GeneratorIngress, StopFetchingIsQuickAndFinal) {
  // Unbounded and unpaced, with a counting-only router and a bound high enough not to hold.
  Harness h(Spec({kCounter}, 1000, 0), /*max_buffered=*/1'000'000'000, /*keep=*/false);
  h.Start();
  ASSERT_TRUE(WaitFor([&] { return h.ingress->Generated() > 1000; }));
  auto begin = std::chrono::steady_clock::now();
  h.ingress->StopFetching();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 500ms);
  const size_t routed = h.router.Count();
  EXPECT_EQ(routed, h.ingress->Generated());  // every batch routed completely
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(h.router.Count(), routed);  // and nothing after StopFetching returned
  EXPECT_EQ(h.flow.Buffered(), static_cast<int64_t>(routed));
  EXPECT_EQ(h.Paused(), 1);  // shutdown counts as paused, as for the Kafka ingress
  h.ingress->Stop();
}

TEST(GeneratorIngress, StopFetchingIsQuickWhilePacedOrHolding) {
  GeneratorIngressSpec slow = Spec({kCounter}, 10, 0);
  slow.rate = 1;  // the next token is a second away
  Harness paced(slow);
  paced.Start();
  ASSERT_TRUE(WaitFor([&] { return paced.ingress->Generated() == 1; }));
  auto begin = std::chrono::steady_clock::now();
  paced.ingress->StopFetching();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 200ms);

  Harness held(Spec({kCounter}, 10, 0), 10);
  held.Start();
  ASSERT_TRUE(WaitFor([&] { return held.Paused() == 1; }));
  begin = std::chrono::steady_clock::now();
  held.ingress->StopFetching();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 200ms);
  held.flow.Add(-10);  // room again, but fetching has stopped
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(held.router.Count(), 10u);
}

TEST(GeneratorIngress, StopFetchingRightAfterStartRoutesNothingLater) {
  for (int i = 0; i < 20; ++i) {
    Harness h(Spec({kCounter}, 10, 0), 1'000'000'000, /*keep=*/false);
    h.Start();
    h.ingress->StopFetching();
    const size_t routed = h.router.Count();
    std::this_thread::sleep_for(2ms);
    ASSERT_EQ(h.router.Count(), routed);
  }
}

TEST(GeneratorIngress, LifecycleErrors) {
  Harness h(Spec({kCounter}, 10, 5));
  GeneratorIngress& g = h.Create();
  g.StopFetching();  // before Start: returns at once
  ASSERT_TRUE(g.Start().ok());
  Status twice = g.Start();
  EXPECT_EQ(twice.code(), StatusCode::kFailedPrecondition);
  g.Stop();
  g.Stop();  // idempotent
  EXPECT_EQ(g.Start().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(h.router.Count(), 0u);  // StopFetching before Start holds for the whole run

  Harness never(Spec({kCounter}, 10, 0));
  never.Create();  // destroyed without Start: nothing to join
}

TEST(GeneratorIngress, CreateRejectsBadSpecsAndContexts) {
  FlowControl flow(10);
  ProgressTracker progress;
  RecordingRouter router;
  IngressContext ctx{&router, &flow, &progress, nullptr, nullptr};
  auto expect_invalid = [&](GeneratorIngressSpec spec, IngressContext c, const std::string& what) {
    SCOPED_TRACE(what);
    auto created = GeneratorIngress::Create(spec, c);
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(created.status().message(), HasSubstr(what));
  };
  const GeneratorIngressSpec good = Spec({kCounter}, 10, 0);
  EXPECT_TRUE(GeneratorIngress::Create(good, ctx).ok());  // metrics may be null

  expect_invalid(good, {nullptr, &flow, &progress, nullptr, nullptr}, "are required");
  expect_invalid(good, {&router, nullptr, &progress, nullptr, nullptr}, "are required");
  expect_invalid(good, {&router, &flow, nullptr, nullptr, nullptr}, "are required");
  GeneratorIngressSpec s = good;
  s.targets.clear();
  expect_invalid(s, ctx, "generator ingress bench/gen: no targets");
  s = good;
  s.keys = 0;
  expect_invalid(s, ctx, "keys must be at least 1");
  s = good;
  s.rate = -1;
  expect_invalid(s, ctx, "rate must not be negative");
  s = good;
  s.count = -5;
  expect_invalid(s, ctx, "count must not be negative");
  s = good;
  s.key_order = "shuffled";
  expect_invalid(s, ctx, "keyOrder must be round-robin or random, got 'shuffled'");
  s = good;
  s.value_type.clear();
  expect_invalid(s, ctx, "valueType is required");
  s = good;
  s.id.clear();
  expect_invalid(s, ctx, "id is required");
}

}  // namespace
}  // namespace eddy
