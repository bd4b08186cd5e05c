// The state and the outputs of `tinyserve search`: search.csv (one row per configuration),
// probes.csv (one row per run), sweep.json (so that `sweep --collect` reads every probe's whole
// summary) and report.html (the load-SLO frontier).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "app/search_plan.h"
#include "app/sweep_plan.h"

namespace tinyserve::app {

struct ProbeResult {
  bool pass = false;
  std::string why;                             // the SLO missed, when !pass
  std::map<std::string, std::string> metrics;  // flattened summary.json
};

struct SearchConfig {
  std::vector<std::string> values;  // one per grid axis
  std::string name;                 // "block_size=16, max_num_seqs=64" ("scenario" with no grid)
  Bisection bisection{0.1, 10, 0.01};
  std::vector<double> pending;  // values to probe next
  int32_t in_flight = 0;
  std::string error;  // a probe that failed to run, or a bad configuration
  int32_t num_gpus = 1;
  double rate_per_unit = NAN;  // requests/s at knob = 1 (NaN: the knob is not a rate)
  std::map<double, ProbeResult> probes;

  bool done(bool scan) const {
    if (!error.empty()) return true;
    return scan ? pending.empty() && in_flight == 0
                : bisection.status() != Bisection::Status::kSearching;
  }
  Bisection::Status status(bool scan) const;
  double answer(bool scan) const;  // the largest passing knob value (NaN: none)
  double load(double knob) const { return std::isnan(rate_per_unit) ? knob : knob * rate_per_unit; }
};

struct SearchSetup {
  SweepPlan plan;  // its last axis is the knob; runs: every probe
  std::string knob;
  std::string scenario_name;
  std::vector<SloTarget> slo;
  double lo = 0, hi = 0, precision = 0.01, scan_step = 0;
  std::vector<SearchConfig> configs;
  double wall_s = 0;
  int64_t runs_launched = 0, runs_reused = 0;

  bool scan() const { return scan_step > 0; }
  // The configuration serving the most load per GPU (answers that are lower bounds count as
  // they are); configs.size() when none passed.
  size_t best_config() const;
};

// "block_size=16, max_num_seqs=64"
std::string plan_display_name(const std::vector<GridAxis>& axes,
                              const std::vector<std::string>& values);

void write_search_outputs(SearchSetup& setup);
void print_search(const SearchSetup& setup, std::FILE* out);

}  // namespace tinyserve::app
