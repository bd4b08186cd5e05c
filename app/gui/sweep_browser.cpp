#include "app/gui/sweep_browser.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>

#include "app/sweep_report.h"
#include "core/base/strings.h"

namespace tinyserve::app {

std::string SweepBrowser::open(const std::string& dir) {
  SweepPlan plan;
  SweepTable table;
  try {
    plan = read_plan(dir);
    table = read_sweep(plan);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (plan.runs.empty()) return dir + ": the sweep has no configuration";
  plan_ = std::move(plan);
  table_ = std::move(table);
  // read_sweep's rows point into the plan it read: point them at ours.
  for (size_t i = 0; i < table_.rows.size(); ++i) table_.rows[i].run = &plan_.runs[i];
  headers_.clear();
  metric_paths_.clear();
  metric_percent_.clear();
  for (const GridAxis& a : plan_.axes) headers_.push_back(short_key(a.key));
  headers_.push_back("status");
  for (const MetricInfo& m : report_metrics()) {
    const bool present = std::any_of(table_.rows.begin(), table_.rows.end(),
                                     [&](const SweepRow& r) { return r.metrics.contains(m.path); });
    if (!present) continue;
    headers_.push_back(std::string(m.title) + (m.percent ? " %" : ""));
    metric_paths_.push_back(m.path);
    metric_percent_.push_back(m.percent);
  }
  order_.resize(table_.rows.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  selected = second = -1;
  visible = true;
  return "";
}

std::string SweepBrowser::cell(size_t row, size_t column) const {
  const SweepRow& r = table_.rows[row];
  const size_t axes = plan_.axes.size();
  if (column < axes) return grid_display(r.run->values[column]);
  if (column == axes) return to_string(r.status.state);
  const size_t m = column - axes - 1;
  const auto it = r.metrics.find(metric_paths_[m]);
  double v = NAN;
  if (it == r.metrics.end() || !parse_number(it->second, v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", metric_percent_[m] ? 100 * v : v);
  return buf;
}

void SweepBrowser::sort(size_t column, bool ascending) {
  const auto key = [&](size_t row) {
    const std::string text = cell(row, column);
    double v = NAN;
    const bool number = parse_number(text, v);
    return std::make_tuple(text.empty(), !number, number ? v : 0.0, text);
  };
  std::stable_sort(order_.begin(), order_.end(), [&](size_t a, size_t b) {
    const auto ka = key(a), kb = key(b);
    if (std::get<0>(ka) != std::get<0>(kb)) return !std::get<0>(ka);  // empty cells last
    return ascending ? ka < kb : kb < ka;
  });
}

std::vector<std::string> SweepBrowser::overrides(size_t row) const {
  return run_overrides(plan_, plan_.runs[row]);
}

CompareSetup SweepBrowser::compare_setup(size_t a, size_t b, std::vector<std::string>& base) const {
  base = plan_.sets;
  CompareSetup setup;
  setup.name = row_name(a) + " vs " + row_name(b);
  const SweepRun& ra = plan_.runs[a];
  const SweepRun& rb = plan_.runs[b];
  for (size_t i = 0; i < plan_.axes.size(); ++i) {
    const std::string key = plan_.axes[i].key + "=";
    if (ra.values[i] == rb.values[i]) {
      base.push_back(key + ra.values[i]);
      continue;
    }
    setup.a += (setup.a.empty() ? "" : "\n") + key + ra.values[i];
    setup.b += (setup.b.empty() ? "" : "\n") + key + rb.values[i];
  }
  return setup;
}

std::string SweepBrowser::row_name(size_t row) const {
  std::string name;
  for (size_t i = 0; i < plan_.axes.size(); ++i) {
    name += cat(name.empty() ? "" : ", ", short_key(plan_.axes[i].key), "=",
                grid_display(plan_.runs[row].values[i]));
  }
  return name;
}

}  // namespace tinyserve::app
