#include "eddy/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace eddy {
namespace {

TEST(MetricsRegistry, RendersExactTextSortedByNameAndLabels) {
  MetricsRegistry r;
  // Registered out of order on purpose: output must be sorted regardless.
  r.GetGauge("queue_depth", {{"shard", "1"}}, "Depth.").Set(-3);
  r.GetCounter("requests_total", {{"path", "/b"}}, "Requests served.").Inc(2);
  r.GetCounter("requests_total", {{"path", "/a"}}, "ignored: help is kept from the first").Inc();
  r.GetGauge("queue_depth", {{"shard", "0"}}).Set(7);
  r.GetCounter("bare_total", {}).Inc(5);

  EXPECT_EQ(r.RenderPrometheus(),
            "# TYPE bare_total counter\n"
            "bare_total 5\n"
            "# HELP queue_depth Depth.\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{shard=\"0\"} 7\n"
            "queue_depth{shard=\"1\"} -3\n"
            "# HELP requests_total Requests served.\n"
            "# TYPE requests_total counter\n"
            "requests_total{path=\"/a\"} 1\n"
            "requests_total{path=\"/b\"} 2\n");
}

TEST(MetricsRegistry, SameNameAndLabelsIsSameObject) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("c_total", {{"x", "1"}, {"y", "2"}});
  Counter& b = r.GetCounter("c_total", {{"y", "2"}, {"x", "1"}});
  Counter& other = r.GetCounter("c_total", {{"x", "1"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  EXPECT_EQ(&r.GetHistogram("h", {}), &r.GetHistogram("h", {}));
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.GetCounter("esc_total", {{"v", "a\\b\"c\nd"}}, "line1\nline2 \\ \"quoted\"").Inc();
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP esc_total line1\\nline2 \\\\ \"quoted\"\n"
            "# TYPE esc_total counter\n"
            "esc_total{v=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(MetricsRegistry, InvalidNamesAreRepaired) {
  MetricsRegistry r;
  r.GetCounter("9bad-name.total", {{"bad-label", "x"}}).Inc();
  EXPECT_EQ(r.RenderPrometheus(),
            "# TYPE _bad_name_total counter\n"
            "_bad_name_total{bad_label=\"x\"} 1\n");
}

TEST(Histogram, BucketBounds) {
  EXPECT_EQ(Histogram::UpperBound(0), 0.5);
  EXPECT_EQ(Histogram::UpperBound(1), 1.0);
  EXPECT_EQ(Histogram::UpperBound(16), 32768.0);
  EXPECT_TRUE(std::isinf(Histogram::UpperBound(Histogram::kBuckets - 1)));
  EXPECT_EQ(Histogram::kBuckets, 18);
}

TEST(Histogram, ObserveLandsInFirstBucketWithBoundAtLeastValue) {
  Histogram h;
  h.Observe(0.5);      // bucket 0 (le is inclusive)
  h.Observe(0.6);      // bucket 1 (le=1)
  h.Observe(3);        // bucket 3 (le=4)
  h.Observe(40000);    // +Inf
  h.Observe(-1);       // clamped to 0 -> bucket 0
  h.Observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  EXPECT_EQ(h.BucketCount(0), 2u);
  EXPECT_EQ(h.BucketCount(1), 1u);
  EXPECT_EQ(h.BucketCount(2), 0u);
  EXPECT_EQ(h.BucketCount(3), 1u);
  EXPECT_EQ(h.BucketCount(Histogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.Count(), 5u);
  EXPECT_DOUBLE_EQ(h.Sum(), 0.5 + 0.6 + 3 + 40000);
}

TEST(Histogram, RendersCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  Histogram& h = r.GetHistogram("lat_ms", {{"fn", "f"}}, "Latency.");
  h.Observe(0.25);
  h.Observe(1.5);
  h.Observe(1.75);
  h.Observe(100000);
  std::string expected = "# HELP lat_ms Latency.\n# TYPE lat_ms histogram\n";
  const char* les[] = {"0.5",  "1",    "2",    "4",    "8",     "16",    "32",
                       "64",   "128",  "256",  "512",  "1024",  "2048",  "4096",
                       "8192", "16384", "32768", "+Inf"};
  const int cumulative[] = {1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4};
  for (int i = 0; i < Histogram::kBuckets; ++i) {
    expected += std::string("lat_ms_bucket{fn=\"f\",le=\"") + les[i] + "\"} " +
                std::to_string(cumulative[i]) + "\n";
  }
  expected += "lat_ms_sum{fn=\"f\"} 100003.5\n";
  expected += "lat_ms_count{fn=\"f\"} 4\n";
  EXPECT_EQ(r.RenderPrometheus(), expected);
}

TEST(MetricsRegistry, TypeConflictReturnsUsableDetachedObject) {
  MetricsRegistry r;
  r.GetCounter("dup", {}, "A counter.").Inc(3);
  Gauge& g = r.GetGauge("dup", {});
  g.Set(42);  // usable...
  EXPECT_EQ(g.Value(), 42);
  EXPECT_EQ(&g, &r.GetGauge("dup", {}));  // ...and stable
  Histogram& h = r.GetHistogram("dup", {{"a", "b"}});
  h.Observe(1);
  EXPECT_EQ(r.TypeConflicts(), 3u);
  // ...but not exported: the page keeps the first type only and stays parseable.
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP dup A counter.\n"
            "# TYPE dup counter\n"
            "dup 3\n");
}

TEST(MetricsRegistry, ConcurrentIncrementsAndRegistrationAreExact) {
  MetricsRegistry r;
  constexpr int kThreads = 8;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, t] {
      // Each thread registers itself (taking the lock) and races on the same objects.
      Counter& c = r.GetCounter("shared_total", {{"k", "v"}});
      Gauge& g = r.GetGauge("shared_gauge", {});
      Histogram& h = r.GetHistogram("shared_ms", {});
      r.GetCounter("per_thread_total", {{"t", std::to_string(t)}}).Inc();
      for (int i = 0; i < kIters; ++i) {
        c.Inc();
        g.Add(1);
        h.Observe(i % 3);
        if (i % 5000 == 0) (void)r.RenderPrometheus();  // render while others write
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(r.GetCounter("shared_total", {{"k", "v"}}).Value(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(r.GetGauge("shared_gauge", {}).Value(), int64_t{kThreads} * kIters);
  EXPECT_EQ(r.GetHistogram("shared_ms", {}).Count(), uint64_t{kThreads} * kIters);
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("shared_ms_count " + std::to_string(kThreads * kIters) + "\n"),
            std::string::npos);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_NE(text.find("per_thread_total{t=\"" + std::to_string(t) + "\"} 1\n"),
              std::string::npos);
  }
}

TEST(FunctionTypeMetrics, RegistersStateFunNamesWithLabels) {
  MetricsRegistry r;
  FunctionTypeMetrics m = FunctionTypeMetrics::Register(r, "com.example", "greeter");
  m.in.Inc(4);
  m.out_local.Inc(1);
  m.out_egress.Inc(2);
  m.num_backlog.Set(3);
  m.remote_invocation_latency.Observe(5);
  // A second registration of the same type shares the objects.
  FunctionTypeMetrics again = FunctionTypeMetrics::Register(r, "com.example", "greeter");
  EXPECT_EQ(&again.in, &m.in);
  EXPECT_EQ(r.TypeConflicts(), 0u);

  std::string text = r.RenderPrometheus();
  const std::string l = "{namespace=\"com.example\",type=\"greeter\"}";
  for (const std::string& line : std::vector<std::string>{
           "eddy_function_in_total" + l + " 4\n",
           "eddy_function_out_local_total" + l + " 1\n",
           "eddy_function_out_remote_total" + l + " 0\n",
           "eddy_function_out_egress_total" + l + " 2\n",
           "eddy_function_remote_invocation_failures_total" + l + " 0\n",
           "eddy_function_num_backlog" + l + " 3\n",
           "eddy_function_num_blocked_address" + l + " 0\n",
           "eddy_function_inflight_async_ops" + l + " 0\n",
           "eddy_function_remote_invocation_latency_ms_count" + l + " 1\n",
           "# TYPE eddy_function_in_total counter\n",
           "# TYPE eddy_function_num_backlog gauge\n",
           "# TYPE eddy_function_remote_invocation_latency_ms histogram\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in\n" << text;
  }
}

}  // namespace
}  // namespace eddy
