// A run's report.html: its summary, and KV usage, utilization, queues, preemptions and
// throughput over simulated time. The series are recorded step by step (a few numbers each) and
// decimated to the charts' width when the page is written.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/html_report.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "core/engine/step_metrics.h"

namespace tinyserve::app {

class RunSeries {
 public:
  void add(const StepMetrics& m);
  size_t size() const { return time_s.size(); }

  std::vector<double> time_s, kv_cache_usage, token_utilization;
  std::vector<double> running, waiting, swapped, preemptions_total, generated;
};

// The whole page.
HtmlReport run_report(const Scenario& scenario, const RunSummary& summary,
                      const std::string& backend, const RunSeries& series);
// Writes dir/report.html (through report.html.partial).
void write_run_report(const std::string& dir, const Scenario& scenario, const Engine& engine,
                      const RunSeries& series);

}  // namespace tinyserve::app
