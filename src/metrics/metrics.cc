#include "eddy/metrics/metrics.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <system_error>

namespace eddy {
namespace {

constexpr const char* kCounter = "counter";
constexpr const char* kGauge = "gauge";
constexpr const char* kHistogram = "histogram";

// Sums are kept in integer microseconds so Observe() is one relaxed fetch_add; clamp so a
// runaway value cannot overflow the conversion (1e12 ms is about 31 years).
constexpr double kMaxObservableMs = 1e12;

bool ValidNameChar(char c, bool first, bool allow_colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (allow_colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

// Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*. Names come
// from code, not input, but an invalid one would make the whole page unparseable for the
// scraper, so it is repaired (invalid characters become '_') instead of rendered as is.
std::string SanitizeName(const std::string& name, bool allow_colon) {
  if (name.empty()) return "_";
  std::string out = name;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!ValidNameChar(out[i], i == 0, allow_colon)) out[i] = '_';
  }
  return out;
}

Labels SanitizeLabels(const Labels& labels) {
  bool clean = true;
  for (const auto& [k, v] : labels) clean = clean && SanitizeName(k, false) == k;
  if (clean) return labels;
  Labels out;
  for (const auto& [k, v] : labels) out[SanitizeName(k, false)] = v;
  return out;
}

void AppendEscaped(std::string_view in, bool escape_quote, std::string* out) {
  for (char c : in) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '"':
        if (escape_quote) {
          out->append("\\\"");
        } else {
          out->push_back(c);
        }
        break;
      default: out->push_back(c);
    }
  }
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    out->append(buf, ec == std::errc() ? end : buf);
  }
}

// `{a="x",b="y"}` (nothing for no labels); `extra` is appended last (used for `le`).
void AppendLabels(const Labels& labels, std::string_view extra_name, std::string_view extra_value,
                  std::string* out) {
  if (labels.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  auto append_one = [&](std::string_view k, std::string_view v) {
    if (!first) out->push_back(',');
    first = false;
    out->append(k);
    out->append("=\"");
    AppendEscaped(v, /*escape_quote=*/true, out);
    out->push_back('"');
  };
  for (const auto& [k, v] : labels) append_one(k, v);
  if (!extra_name.empty()) append_one(extra_name, extra_value);
  out->push_back('}');
}

}  // namespace

double Histogram::UpperBound(int i) {
  if (i >= kBuckets - 1) return std::numeric_limits<double>::infinity();
  return std::ldexp(0.5, i);  // 0.5 * 2^i
}

void Histogram::Observe(double ms) {
  if (std::isnan(ms)) return;
  if (ms < 0) ms = 0;
  if (ms > kMaxObservableMs) ms = kMaxObservableMs;
  int i = 0;
  while (i < kBuckets - 1 && ms > UpperBound(i)) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(ms * 1000.0)),
                        std::memory_order_relaxed);
}

double Histogram::Sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1000.0;
}

// One metric name. All three maps exist so that a registration with the wrong type still gets
// a stable object (same name + labels + type -> same object); only the map matching `type`
// is rendered, the others hold the detached objects of conflicting registrations.
struct MetricsRegistry::Family {
  std::string type;
  std::string help;
  bool warned_conflict = false;
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<Histogram>> histograms;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name,
                                                    const std::string& type,
                                                    const std::string& help) {
  auto& slot = families_[name];
  if (!slot) {
    slot = std::make_unique<Family>();
    slot->type = type;
    slot->help = help;
  } else if (slot->type != type) {
    ++type_conflicts_;
    if (!slot->warned_conflict) {
      slot->warned_conflict = true;
      spdlog::warn("metric '{}' is registered as a {} and again as a {}; the {} is not exported",
                   name, slot->type, type, type);
    }
  }
  return *slot;
}

namespace {
template <typename T>
T& SeriesFor(std::map<Labels, std::unique_ptr<T>>& series, const Labels& labels) {
  auto& slot = series[labels];
  if (!slot) slot = std::make_unique<T>();
  return *slot;
}
}  // namespace

Counter& MetricsRegistry::GetCounter(const std::string& name, const Labels& labels,
                                     const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  return SeriesFor(FamilyFor(SanitizeName(name, true), kCounter, help).counters,
                   SanitizeLabels(labels));
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const Labels& labels,
                                 const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  return SeriesFor(FamilyFor(SanitizeName(name, true), kGauge, help).gauges,
                   SanitizeLabels(labels));
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const Labels& labels,
                                         const std::string& help) {
  std::lock_guard<std::mutex> lock(mu_);
  return SeriesFor(FamilyFor(SanitizeName(name, true), kHistogram, help).histograms,
                   SanitizeLabels(labels));
}

uint64_t MetricsRegistry::TypeConflicts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return type_conflicts_;
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  // std::map keeps families sorted by name and series sorted by their label sets.
  for (const auto& [name, family] : families_) {
    if (!family->help.empty()) {
      out.append("# HELP ").append(name).push_back(' ');
      AppendEscaped(family->help, /*escape_quote=*/false, &out);
      out.push_back('\n');
    }
    out.append("# TYPE ").append(name).append(" ").append(family->type).push_back('\n');
    if (family->type == kCounter) {
      for (const auto& [labels, c] : family->counters) {
        out.append(name);
        AppendLabels(labels, "", "", &out);
        out.append(" ").append(std::to_string(c->Value())).push_back('\n');
      }
    } else if (family->type == kGauge) {
      for (const auto& [labels, g] : family->gauges) {
        out.append(name);
        AppendLabels(labels, "", "", &out);
        out.append(" ").append(std::to_string(g->Value())).push_back('\n');
      }
    } else {
      for (const auto& [labels, h] : family->histograms) {
        // Buckets are stored per range and rendered cumulative. _count is the sum of the
        // buckets read here (not count_) so that it always equals the +Inf bucket, even while
        // other threads observe concurrently.
        uint64_t cumulative = 0;
        std::string le;
        for (int i = 0; i < Histogram::kBuckets; ++i) {
          cumulative += h->BucketCount(i);
          le.clear();
          AppendDouble(Histogram::UpperBound(i), &le);
          out.append(name).append("_bucket");
          AppendLabels(labels, "le", le, &out);
          out.append(" ").append(std::to_string(cumulative)).push_back('\n');
        }
        out.append(name).append("_sum");
        AppendLabels(labels, "", "", &out);
        out.push_back(' ');
        AppendDouble(h->Sum(), &out);
        out.push_back('\n');
        out.append(name).append("_count");
        AppendLabels(labels, "", "", &out);
        out.append(" ").append(std::to_string(cumulative)).push_back('\n');
      }
    }
  }
  return out;
}

FunctionTypeMetrics FunctionTypeMetrics::Register(MetricsRegistry& registry, const std::string& ns,
                                                  const std::string& name) {
  const Labels labels{{"namespace", ns}, {"type", name}};
  return FunctionTypeMetrics{
      .in = registry.GetCounter("eddy_function_in_total", labels,
                                "Messages received by the function type (StateFun: in)."),
      .out_local = registry.GetCounter(
          "eddy_function_out_local_total", labels,
          "Messages sent to functions on this worker (StateFun: outLocal)."),
      .out_remote = registry.GetCounter(
          "eddy_function_out_remote_total", labels,
          "Messages sent to functions on another worker (StateFun: outRemote)."),
      .out_egress = registry.GetCounter("eddy_function_out_egress_total", labels,
                                        "Records sent to egresses (StateFun: outEgress)."),
      .remote_invocation_failures = registry.GetCounter(
          "eddy_function_remote_invocation_failures_total", labels,
          "Remote invocations that failed after retries (StateFun: remoteInvocationFailures)."),
      .num_backlog = registry.GetGauge(
          "eddy_function_num_backlog", labels,
          "Messages buffered behind an in-flight request (StateFun: numBacklog)."),
      .num_blocked_address = registry.GetGauge(
          "eddy_function_num_blocked_address", labels,
          "Addresses blocked at maxNumBatchRequests or backing off (StateFun: "
          "numBlockedAddress)."),
      .inflight_async_ops = registry.GetGauge(
          "eddy_function_inflight_async_ops", labels,
          "Remote requests in flight (StateFun: inflightAsyncOps)."),
      .remote_invocation_latency = registry.GetHistogram(
          "eddy_function_remote_invocation_latency_ms", labels,
          "Remote invocation latency in milliseconds (StateFun: remoteInvocationLatency)."),
  };
}

}  // namespace eddy
