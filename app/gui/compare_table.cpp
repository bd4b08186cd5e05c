#include "app/gui/compare_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tinyserve::app {

namespace {

// A run as it stood at time t: its last step ending at or before t (none: before its first).
struct RunAt {
  StepMetrics m;
  Run::Totals totals;
  int64_t steps = 0;
};

RunAt run_at(const Run& run, double t) {
  const std::vector<StepMetrics>& h = run.engine().history();
  const auto it = std::upper_bound(
      h.begin(), h.end(), t, [](double time, const StepMetrics& m) { return time < m.time_s; });
  RunAt r;
  if (it == h.begin()) return r;
  const auto i = static_cast<size_t>(it - h.begin()) - 1;
  r.m = h[i];
  r.steps = static_cast<int64_t>(i) + 1;
  if (i < run.totals().size()) r.totals = run.totals()[i];
  return r;
}

double mean_ttft(const Run::Totals& t) {
  return t.first_tokens > 0 ? t.ttft_sum_s / static_cast<double>(t.first_tokens) : 0.0;
}

}  // namespace

double common_time(const Run& a, const Run& b) {
  if (a.done() && b.done()) return std::max(a.now(), b.now());
  if (a.done()) return b.now();
  if (b.done()) return a.now();
  return std::min(a.now(), b.now());
}

CompareTable compare_at_equal_time(const Run& a, const Run& b) {
  CompareTable t;
  t.time_s = common_time(a, b);
  const RunAt ra = run_at(a, t.time_s);
  const RunAt rb = run_at(b, t.time_s);
  t.steps_a = ra.steps;
  t.steps_b = rb.steps;
  const PoolMetrics& pa = ra.m.pool;
  const PoolMetrics& pb = rb.m.pool;
  auto row = [&](const char* name, const char* help, Better better, double va, double vb,
                 const char* format, bool percent = false) {
    t.rows.push_back({name, help, better, va, vb, format, percent});
  };
  const double at = std::max(t.time_s, 1e-12);
  row("running requests",
      "Requests holding KV blocks. Not coloured: more running is more concurrency, but a "
      "configuration that finishes requests sooner also has fewer running.",
      Better::kNeither, ra.m.running, rb.m.running, "%.0f");
  row("waiting requests", "Arrived requests not admitted yet (the backlog). Lower is better.",
      Better::kLower, ra.m.waiting, rb.m.waiting, "%.0f");
  row("KV cache usage",
      "Used blocks over the pool. Not coloured: less memory for the same work is good (prefix "
      "caching shares blocks), more is good when it means more requests run; usage alone says "
      "neither.",
      Better::kNeither, pa.kv_cache_usage * 100, pb.kv_cache_usage * 100, "%.1f%%", true);
  row("token utilization",
      "Slots holding a computed token over the allocated slots. Higher is better: fewer "
      "allocated slots stand empty or wait.",
      Better::kHigher, pa.token_utilization * 100, pb.token_utilization * 100, "%.1f%%", true);
  row("reserved for later",
      "Allocated slots held for tokens still to come (a contiguous reservation's future output, "
      "prompt chunks not prefilled yet) over the allocated slots. Lower is better: no other "
      "request can use them meanwhile.",
      Better::kLower, pa.reserved_fraction * 100, pb.reserved_fraction * 100, "%.1f%%", true);
  row("internal frag.",
      "Allocated slots that will never hold a token over the allocated slots. Lower is better.",
      Better::kLower, pa.internal_fragmentation * 100, pb.internal_fragmentation * 100, "%.1f%%",
      true);
  row("external frag.",
      "1 - largest free run / free blocks. Not coloured: a paged pool needs no contiguous "
      "run, so there it measures scattering, not unusable memory; across allocators the numbers "
      "mean different things.",
      Better::kNeither, pa.external_fragmentation * 100, pb.external_fragmentation * 100, "%.1f%%",
      true);
  row("F_total",
      "The fragmentation formula's weighted total. Not coloured: its terms have no common scale "
      "and its spatial term counts scattering a paged pool does not suffer from; read its terms "
      "in the time series.",
      Better::kNeither, pa.f_total, pb.f_total, "%.3f");
  row("preemptions", "Preemptions so far. Lower is better.", Better::kLower,
      static_cast<double>(ra.m.preemptions_total), static_cast<double>(rb.m.preemptions_total),
      "%.0f");
  row("finished requests", "Requests finished so far. Higher is better.", Better::kHigher,
      static_cast<double>(ra.m.finished_total), static_cast<double>(rb.m.finished_total), "%.0f");
  row("throughput (tok/s)",
      "Output tokens generated so far over the simulated time. Higher is better.", Better::kHigher,
      static_cast<double>(ra.totals.generated) / at, static_cast<double>(rb.totals.generated) / at,
      "%.0f");
  row("mean TTFT (s)",
      "Mean time to first token of the requests that had one by then. Lower is better.",
      Better::kLower, mean_ttft(ra.totals), mean_ttft(rb.totals), "%.3f");
  row("prefix hit rate",
      "Prompt tokens found in the prefix cache over those looked up, so far. Higher is better.",
      Better::kHigher, ra.m.prefix_hit_rate * 100, rb.m.prefix_hit_rate * 100, "%.1f%%", true);
  return t;
}

std::string format_value(const CompareRow& row, double value) {
  char text[48];
  std::snprintf(text, sizeof text, row.format, value);
  return text;
}

Verdict verdict(const CompareRow& row) {
  if (format_value(row, row.a) == format_value(row, row.b)) return Verdict::kEqual;
  if (row.better == Better::kNeither) return Verdict::kNotColoured;
  return (row.b > row.a) == (row.better == Better::kHigher) ? Verdict::kBetter : Verdict::kWorse;
}

std::string difference(const CompareRow& row) {
  if (verdict(row) == Verdict::kEqual) return "=";
  const double d = row.b - row.a;
  char text[48];
  if (row.percent) {
    std::snprintf(text, sizeof text, "%+.1f pt", d);
  } else if (std::fabs(row.a) > 1e-12) {
    const double relative = 100 * d / std::fabs(row.a);
    std::snprintf(text, sizeof text, std::fabs(relative) < 10 ? "%+.1f%%" : "%+.0f%%", relative);
  } else {
    std::snprintf(text, sizeof text, "%+g", d);
  }
  return text;
}

const char* better_label(Better better) {
  switch (better) {
    case Better::kHigher:
      return "higher is better";
    case Better::kLower:
      return "lower is better";
    case Better::kNeither:
      return "neither is better: not coloured";
  }
  return "";
}

}  // namespace tinyserve::app
