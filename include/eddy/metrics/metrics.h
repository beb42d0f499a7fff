#pragma once
// Metrics: counters, gauges and histograms with lock-free updates (relaxed atomics) and a
// Prometheus text renderer. Registration takes a lock and happens at setup, never per message;
// callers keep the returned reference (stable for the registry's lifetime).

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace eddy {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }
 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t n) { value_.store(n, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }
 private:
  std::atomic<int64_t> value_{0};
};

// Fixed exponential buckets in milliseconds: 0.5, 1, 2, 4 ... 32768, +Inf (17 finite bounds,
// 0.5 * 2^i for i = 0..16, plus +Inf). Negative observations count as 0; NaN is ignored.
class Histogram {
 public:
  static constexpr int kBuckets = 18;
  static double UpperBound(int i);  // +Inf for the last
  void Observe(double ms);
  uint64_t BucketCount(int i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const;
 private:
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();  // out of line: Family is only defined in metrics.cc
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Same name + labels -> same object. `help` is kept from the first registration.
  Counter& GetCounter(const std::string& name, const Labels& labels, const std::string& help = "");
  Gauge& GetGauge(const std::string& name, const Labels& labels, const std::string& help = "");
  Histogram& GetHistogram(const std::string& name, const Labels& labels,
                          const std::string& help = "");

  // Prometheus text exposition format 0.0.4, families sorted by name.
  std::string RenderPrometheus() const;

  // Registrations that reused a name with a different type. Such a call still returns a usable
  // object, but it is detached: never exported. A warning is logged once per name.
  uint64_t TypeConflicts() const;

 private:
  struct Family;
  Family& FamilyFor(const std::string& name, const std::string& type, const std::string& help);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  uint64_t type_conflicts_ = 0;
};

// StateFun's per-function-type metrics (group functions.<namespace>.<name>), exported as
// eddy_function_<metric>{namespace="..",type=".."}.
struct FunctionTypeMetrics {
  Counter& in;                        // messages received
  Counter& out_local;                 // messages sent to functions
  Counter& out_remote;                // messages sent to another worker (always 0 until multi-worker)
  Counter& out_egress;                // records sent to egresses
  Counter& remote_invocation_failures;
  Gauge& num_backlog;                 // messages buffered behind an in-flight request
  Gauge& num_blocked_address;         // addresses at maxNumBatchRequests or backing off
  Gauge& inflight_async_ops;          // requests in flight
  Histogram& remote_invocation_latency;  // ms

  static FunctionTypeMetrics Register(MetricsRegistry& registry, const std::string& ns,
                                      const std::string& name);
};

}  // namespace eddy
