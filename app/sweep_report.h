// A sweep's report.html: each metric against each swept key (one line per value of a second
// key, the other keys at their middle value), and a table of every configuration.
#pragma once

#include <string>
#include <vector>

#include "app/html_report.h"
#include "app/sweep_plan.h"

namespace tinyserve::app {

// A summary.json metric worth a chart: its flattened path, a title and a unit.
struct MetricInfo {
  const char* path;   // "ttft_s.p99"
  const char* title;  // "TTFT p99"
  const char* unit;   // "s"
  bool percent;       // a fraction, shown in %
};
const std::vector<MetricInfo>& report_metrics();

// The x value of a grid value: its number, or NaN when not numeric.
double grid_number(const std::string& value);

HtmlReport sweep_report(const SweepPlan& plan, const SweepTable& table);

}  // namespace tinyserve::app
