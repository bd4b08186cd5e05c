#include "app/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

// Where a chart holds the keys it does not show: their middle value.
const std::string& middle(const GridAxis& a) {
  return a.values[a.values.size() / 2];
}

double metric(const SweepRow& row, const std::string& path) {
  const auto it = row.metrics.find(path);
  double v = NAN;
  if (it == row.metrics.end() || !parse_number(it->second, v)) return NAN;
  return v;
}

}  // namespace

const std::vector<MetricInfo>& report_metrics() {
  static const std::vector<MetricInfo> metrics = {
      {"throughput_tok_s", "Throughput", "output tokens/s", false},
      {"throughput_req_s", "Request throughput", "requests/s", false},
      {"ttft_s.p99", "TTFT p99", "s", false},
      {"ttft_s.p50", "TTFT p50", "s", false},
      {"tpot_s.p99", "TPOT p99", "s", false},
      {"latency_s.p99", "Latency p99", "s", false},
      {"kv_cache_usage.time_mean", "KV cache usage, mean over time", "", true},
      {"kv_cache_usage.peak", "KV cache usage, peak", "", true},
      {"token_utilization.time_mean", "Token utilization, mean over time", "", true},
      {"peak_running_seqs", "Peak running sequences", "sequences", false},
      {"preemptions", "Preemptions", "", false},
      {"prefix_hit_rate", "Prefix cache hit rate", "", true},
      {"requests.rejected", "Rejected requests", "requests", false},
      {"simulated_s", "Simulated time", "s", false},
  };
  return metrics;
}

double grid_number(const std::string& value) {
  double v = NAN;
  return parse_number(value, v) ? v : NAN;
}

HtmlReport sweep_report(const SweepPlan& plan, const SweepTable& table) {
  std::string name = std::filesystem::path(plan.scenario).stem().string();
  int64_t ok = 0, failed = 0;
  for (const SweepRow& r : table.rows) {
    if (r.status.state == RunState::kComplete) {
      ++ok;
      if (const auto it = r.metrics.find("scenario.name"); it != r.metrics.end()) name = it->second;
    } else if (r.status.state == RunState::kFailed) {
      ++failed;
    }
  }
  HtmlReport page("TinyServe sweep: " + name);
  std::vector<std::pair<std::string, std::string>> facts = {{"scenario", plan.scenario}};
  std::string sets;
  for (const std::string& s : plan.sets) sets += (sets.empty() ? "" : ", ") + s;
  if (!sets.empty()) facts.emplace_back("every run", sets);
  for (const GridAxis& a : plan.axes) {
    std::string values;
    for (const std::string& v : a.values) values += (values.empty() ? "" : ", ") + grid_display(v);
    facts.emplace_back("grid " + a.key, values);
  }
  facts.emplace_back("configurations",
                     cat(table.rows.size(), ": ", ok, " ok, ", failed, " failed, ",
                         static_cast<int64_t>(table.rows.size()) - ok - failed, " not complete"));
  page.facts(facts);

  // Rows by their grid values.
  std::map<std::vector<std::string>, const SweepRow*> by_values;
  for (const SweepRow& r : table.rows) by_values[r.run->values] = &r;

  std::vector<const MetricInfo*> shown;
  std::string constant;
  for (const MetricInfo& m : report_metrics()) {
    double lo = INFINITY, hi = -INFINITY;
    for (const SweepRow& r : table.rows) {
      const double v = metric(r, m.path);
      if (std::isnan(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (!(lo <= hi)) continue;
    if (lo == hi) {
      constant += cat(constant.empty() ? "" : ", ", m.title, " ",
                      m.percent ? format_number(100 * lo) + "%" : format_number(lo));
      continue;
    }
    shown.push_back(&m);
  }

  page.heading("Metrics against the swept keys");
  if (!constant.empty()) page.note("The same in every configuration: " + constant + ".");
  for (size_t xi = 0; xi < plan.axes.size(); ++xi) {
    const GridAxis& xa = plan.axes[xi];
    // The line key: the other axis with the fewest values.
    size_t li = plan.axes.size();
    for (size_t a = 0; a < plan.axes.size(); ++a) {
      if (a == xi) continue;
      if (li == plan.axes.size() || plan.axes[a].values.size() < plan.axes[li].values.size())
        li = a;
    }
    bool numeric = true;
    for (const std::string& v : xa.values) numeric = numeric && !std::isnan(grid_number(v));
    std::string fixed;
    for (size_t a = 0; a < plan.axes.size(); ++a) {
      if (a == xi || a == li || plan.axes[a].values.size() < 2) continue;
      fixed += cat(fixed.empty() ? "" : ", ", plan.axes[a].key, " = ",
                   grid_display(middle(plan.axes[a])));
    }
    page.note(cat("Against ", xa.key,
                  li < plan.axes.size() ? ", one line per " + plan.axes[li].key : "",
                  fixed.empty() ? "" : "; other keys at " + fixed, "."));
    page.begin_charts();
    for (const MetricInfo* m : shown) {
      LineChart c;
      c.title = m->title;
      c.subtitle = "against " + xa.key;
      c.x.label = xa.key;
      if (!numeric) {
        for (const std::string& v : xa.values) c.x.categories.push_back(grid_display(v));
      } else {
        for (const std::string& v : xa.values) c.x.ticks.push_back(grid_number(v));
        const auto [lo, hi] = std::minmax_element(c.x.ticks.begin(), c.x.ticks.end());
        c.x.log = *lo > 0 && *hi / *lo >= 8;  // e.g. 16, 64, 256: evenly spaced
        if (xa.values.size() > 12) c.x.ticks.clear();
      }
      c.y = make_axis(m->title, m->unit, m->percent);
      c.y.include_zero = true;
      c.markers = true;
      c.width = 600;
      c.height = 300;
      const size_t lines = li < plan.axes.size() ? plan.axes[li].values.size() : 1;
      for (size_t l = 0; l < lines; ++l) {
        ChartSeries s;
        if (li < plan.axes.size())
          s.name = short_key(plan.axes[li].key) + " = " + grid_display(plan.axes[li].values[l]);
        for (size_t k = 0; k < xa.values.size(); ++k) {
          std::vector<std::string> values(plan.axes.size());
          for (size_t a = 0; a < plan.axes.size(); ++a) values[a] = middle(plan.axes[a]);
          values[xi] = xa.values[k];
          if (li < plan.axes.size()) values[li] = plan.axes[li].values[l];
          const auto it = by_values.find(values);
          s.x.push_back(numeric ? grid_number(xa.values[k]) : static_cast<double>(k));
          s.y.push_back(it == by_values.end() ? NAN : metric(*it->second, m->path));
        }
        if (numeric) {  // ascending x for the line
          std::vector<size_t> order(s.x.size());
          for (size_t i = 0; i < order.size(); ++i) order[i] = i;
          std::sort(order.begin(), order.end(),
                    [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
          ChartSeries sorted{s.name, {}, {}};
          for (size_t i : order) {
            sorted.x.push_back(s.x[i]);
            sorted.y.push_back(s.y[i]);
          }
          s = std::move(sorted);
        }
        c.series.push_back(std::move(s));
      }
      page.chart(c);
    }
    page.end_charts();
  }

  page.heading("Every configuration");
  std::vector<std::string> header;
  for (const GridAxis& a : plan.axes) header.push_back(a.key);
  header.push_back("status");
  for (const MetricInfo& m : report_metrics()) {
    if (m.path == std::string("simulated_s")) continue;
    header.push_back(std::string(m.title) + (m.percent   ? " (%)"
                                             : m.unit[0] ? cat(" (", m.unit, ")")
                                                         : ""));
  }
  header.push_back("error");
  std::vector<std::vector<std::string>> rows;
  for (const SweepRow& r : table.rows) {
    std::vector<std::string> row;
    for (const std::string& v : r.run->values) row.push_back(grid_display(v));
    row.push_back(to_string(r.status.state));
    for (const MetricInfo& m : report_metrics()) {
      if (m.path == std::string("simulated_s")) continue;
      const double v = metric(r, m.path);
      row.push_back(std::isnan(v) ? "" : format_number(m.percent ? 100 * v : v));
    }
    row.push_back(r.status.error);
    rows.push_back(std::move(row));
  }
  page.table(header, rows);
  page.note(
      "Every summary.json field of every run is in sweep.csv; each run's own outputs are in "
      "runs/.");
  return page;
}

}  // namespace tinyserve::app
