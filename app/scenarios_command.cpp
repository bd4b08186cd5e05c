// `tinyserve scenarios` and `tinyserve bench engine`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "app/commands.h"
#include "app/outputs.h"
#include "app/run_command.h"
#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/config/scenario_keys.h"

namespace tinyserve::app {

int list_scenario_descriptions(const std::string& executable_dir, bool keys) {
  if (keys) {  // the reference of every key: what docs/scenarios.md's tables hold
    std::fputs(scenario_keys_markdown().c_str(), stdout);
    return kExitOk;
  }
  const std::vector<std::string> files = list_scenarios(executable_dir);
  if (files.empty()) {
    std::fprintf(stderr, "tinyserve: no scenarios/ directory found\n");
    return kExitBadInput;
  }
  size_t width = 0;
  std::vector<std::pair<std::string, std::string>> rows;
  for (const std::string& f : files) {
    try {
      const Scenario sc = load_scenario(f);
      rows.emplace_back(sc.name, sc.description);
    } catch (const InputError& e) {
      rows.emplace_back(std::filesystem::path(f).stem().string(),
                        std::string("(invalid: ") + e.what() + ")");
    }
    width = std::max(width, rows.back().first.size());
  }
  for (const auto& [name, description] : rows) {
    std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(), description.c_str());
  }
  return kExitOk;
}

int bench_engine(const BenchEngineOptions& options, const std::string& executable_dir) {
  namespace fs = std::filesystem;
  // Without --out, a folder of this invocation's own, removed at the end.
  const std::string out =
      options.out_dir.empty() ? private_temp_dir("tinyserve-bench-engine") : options.out_dir;
  struct RemoveTemporary {
    std::string dir;
    ~RemoveTemporary() {
      std::error_code ec;
      if (!dir.empty()) fs::remove_all(dir, ec);
    }
  } remove_temporary{options.out_dir.empty() ? out : ""};
  std::printf(
      "tinyserve bench engine: scenario %s with the accounting backend, outputs in %s, "
      "%d runs\n",
      options.scenario.c_str(), out.c_str(), options.repetitions);
  std::vector<double> walls;
  RunResult last;
  for (int32_t i = 0; i < options.repetitions; ++i) {
    RunOptions run;
    run.scenario = options.scenario;
    run.backend = "accounting";
    run.out_dir = out;
    run.progress = false;
    run.print_summary = false;
    last = run_scenario(run, executable_dir);
    if (last.exit_code != 0) {
      remove_temporary.dir.clear();  // stopped by a signal: keep the rows it names
      return last.exit_code;
    }
    walls.push_back(last.wall_s);
    std::printf("run %d: %.3f s wall (%lld requests, %lld steps)\n", i + 1, last.wall_s,
                static_cast<long long>(last.requests), static_cast<long long>(last.steps));
  }
  std::sort(walls.begin(), walls.end());
  const double median = walls[walls.size() / 2];
  std::printf(
      "median %.3f s for %lld requests and %lld steps: %.2f us per step, outputs included\n",
      median, static_cast<long long>(last.requests), static_cast<long long>(last.steps),
      1e6 * median / static_cast<double>(std::max<int64_t>(last.steps, 1)));
  return kExitOk;
}

}  // namespace tinyserve::app
