// `tinyserve run`: one scenario headless, writing metrics.csv, summary.json and events.jsonl.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config/scenario.h"

namespace tinyserve::app {

struct RunOptions {
  std::string scenario;                // name or path
  int64_t steps = 0;                   // > 0: stop after this many steps
  std::vector<std::string> overrides;  // --set key=value
  std::string out_dir;                 // "" : out/<scenario name>
  std::string backend;                 // "" : the scenario's
  std::string kernel;                  // "" : the scenario's
  std::string decisions;               // "": none; else the per-step decision record (JSONL)
  bool progress = true;
  bool print_summary = true;
  // Files written besides summary.json (always written, last): any of "metrics", "events",
  // "requests", "report" (report.html). Empty: all of them.
  std::vector<std::string> outputs;
};

struct RunResult {
  int exit_code = 0;
  double wall_s = 0;
  int64_t steps = 0;
  int64_t requests = 0;
  std::string out_dir;
};

RunResult run_scenario(const RunOptions& options, const std::string& executable_dir);

}  // namespace tinyserve::app
