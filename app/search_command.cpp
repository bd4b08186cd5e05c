// `tinyserve search`: for each configuration of an optional grid, the largest value of a load knob
// (workload.rate_scale by default) whose run still meets the SLOs, by bisection (or a linear
// scan), each probe a `tinyserve run` child process kept in DIR/runs/ (a rerun reuses them).
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "app/capacity_commands.h"
#include "app/commands.h"
#include "app/process_pool.h"
#include "app/progress_line.h"
#include "app/search_plan.h"
#include "app/search_report.h"
#include "app/sweep_plan.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/scenario.h"

namespace tinyserve::app {

namespace fs = std::filesystem;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_interrupt(int) {
  g_stop = 1;
}

std::string knob_text(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.8g", v);
  return buf;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int search(const SearchOptions& o, const std::string& executable_dir) {
  if (o.scenario.empty()) throw InputError("search", 0, "expected a scenario");
  if (o.slo.empty())
    throw InputError("search", 0, "expected --slo, e.g. --slo ttft_p99=2s,tpot_p99=100ms");
  const std::vector<SloTarget> slo = parse_slo(o.slo);
  double lo = 0.1, hi = 10;
  if (!o.range.empty()) {
    if (o.range.size() != 2 || !(o.range[0] > 0) || !(o.range[1] > o.range[0])) {
      throw InputError("--range", 0, "expected LO,HI with 0 < LO < HI");
    }
    lo = o.range[0];
    hi = o.range[1];
  }
  if (!(o.precision > 0 && o.precision <= 1))
    throw InputError("--precision", 0, "expected a fraction in (0, 1]");

  SearchSetup s;
  s.plan.scenario =
      fs::absolute(find_scenario(o.scenario, executable_dir)).lexically_normal().string();
  s.plan.sets = o.sets;
  const Scenario base = load_scenario(s.plan.scenario, o.sets);
  {
    std::vector<std::string> probe = o.sets;
    probe.push_back(o.over + "=" + knob_text(lo));
    load_scenario(s.plan.scenario, probe);  // an unknown or unusable knob: exit 2 before any run
  }
  std::set<std::string> keys = {o.over};
  for (const std::string& g : o.grid) {
    s.plan.axes.push_back(parse_grid(g));
    if (!keys.insert(s.plan.axes.back().key).second) {
      throw InputError("--grid " + g, 0, "this key is searched (--over) or has a --grid already");
    }
  }
  s.knob = o.over;
  s.slo = slo;
  s.lo = lo;
  s.hi = hi;
  s.precision = o.precision;
  s.scan_step = o.scan_step;
  s.scenario_name = base.name;
  s.plan.outputs = {"summary"};
  s.plan.backend = o.backend;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  s.plan.tinyserve = ec ? (fs::path(executable_dir) / "tinyserve").string() : self.string();
  s.plan.dir = fs::absolute(o.out_dir.empty() ? "out/search-" + base.name : o.out_dir)
                   .lexically_normal()
                   .string();
  while (s.plan.dir.size() > 1 && s.plan.dir.back() == '/') s.plan.dir.pop_back();

  // The configurations: the grid's cartesian product (one when there is no grid).
  SweepPlan grid = s.plan;
  expand_runs(grid);
  const bool rate_knob = o.over == "workload.rate_scale";
  for (const SweepRun& run : grid.runs) {
    SearchConfig c;
    c.values = run.values;
    c.name = plan_display_name(s.plan.axes, run.values);
    c.bisection = Bisection(lo, hi, o.precision);
    if (o.scan_step > 0) {
      for (double v = lo; v <= hi * (1 + 1e-9); v += o.scan_step) c.pending.push_back(v);
    }
    try {
      const Scenario sc = load_scenario(s.plan.scenario, run_overrides(grid, run));
      c.num_gpus = sc.num_gpus;
      if (rate_knob) {
        const std::vector<RequestSpec> requests = load_requests(sc);
        if (requests.size() >= 2 && requests.back().arrival > requests.front().arrival) {
          c.rate_per_unit = static_cast<double>(requests.size() - 1) /
                            (requests.back().arrival - requests.front().arrival);
        }
      } else if (o.over == "workload.arrival.rate") {
        c.rate_per_unit = 1;
      }
    } catch (const InputError& e) {
      c.error = e.what();
    }
    s.configs.push_back(std::move(c));
  }
  // Probes live in DIR/runs/, named by the grid values and the knob's.
  s.plan.axes.push_back({o.over, {}});
  s.plan.runs.clear();

  const int32_t jobs = o.jobs > 0 ? o.jobs : available_cores();
  if (o.progress) {
    std::fprintf(stderr, "search: %zu configurations of %s, %s in [%g, %g] (%s), on %d processes\n",
                 s.configs.size(), base.name.c_str(), o.over.c_str(), lo, hi,
                 o.scan_step > 0 ? cat("linear scan, step ", o.scan_step).c_str()
                                 : cat("bisection to ", o.precision * 100, "%").c_str(),
                 jobs);
  }
  ProcessPool pool(jobs);
  ProgressLine progress(o.progress, 0);
  struct InFlight {
    size_t config;
    double value;
    size_t run;
  };
  std::vector<InFlight> flights;
  int64_t launched = 0, finished = 0, reused = 0;

  const auto finish_probe = [&](size_t ci, double value, const SweepRun& run) {
    SearchConfig& c = s.configs[ci];
    const RunStatus st = run_status(s.plan, run);
    if (st.state != RunState::kComplete) {
      c.error = cat(o.over, " = ", knob_text(value), ": ", st.error);
      return;
    }
    std::map<std::string, std::string> m;
    try {
      for (auto& [k, v] : flatten_summary(read_all(s.plan.run_dir(run) + "/summary.json"))) {
        m[k] = std::move(v);
      }
    } catch (const std::exception& e) {
      c.error = cat(o.over, " = ", knob_text(value), ": unreadable summary.json: ", e.what());
      return;
    }
    const SloCheck check = check_slo(slo, m);
    c.bisection.record(value, check.pass);
    c.probes[value] = {check.pass, check.why, std::move(m)};
  };

  g_stop = 0;
  auto* previous = std::signal(SIGINT, on_interrupt);
  while (!g_stop) {
    size_t active = 0;
    for (const SearchConfig& c : s.configs) active += c.error.empty() && !c.done(o.scan_step > 0);
    const int32_t k =
        std::max<int32_t>(1, jobs / static_cast<int32_t>(std::max<size_t>(active, 1)));
    bool progressed = true;
    while (progressed && pool.has_free_slot()) {
      progressed = false;
      for (size_t ci = 0; ci < s.configs.size() && pool.has_free_slot(); ++ci) {
        SearchConfig& c = s.configs[ci];
        if (!c.error.empty()) continue;
        if (c.pending.empty() && c.in_flight == 0 && o.scan_step <= 0) {
          for (double v : c.bisection.next(k)) c.pending.push_back(v);
        }
        if (c.pending.empty()) continue;
        const double value = c.pending.front();
        c.pending.erase(c.pending.begin());
        SweepRun run;
        run.values = c.values;
        run.values.push_back(knob_text(value));
        run.name = run_name(s.plan.axes, run.values);
        s.plan.runs.push_back(run);
        progressed = true;
        if (run_status(s.plan, run).state == RunState::kComplete) {  // from an earlier search
          finish_probe(ci, value, run);
          ++reused;
          continue;
        }
        fs::remove(s.plan.run_dir(run) + "/summary.json", ec);
        prepare_run_dir(s.plan, run);
        flights.push_back({ci, value, s.plan.runs.size() - 1});
        pool.start({run_argv(s.plan, run), s.plan.run_dir(run) + "/run.log", flights.size() - 1});
        ++c.in_flight;
        ++launched;
      }
    }
    if (pool.running() == 0) {
      bool more = false;
      for (const SearchConfig& c : s.configs) {
        more = more || (c.error.empty() && (!c.pending.empty() || !c.done(o.scan_step > 0)));
      }
      if (!more) break;
      continue;
    }
    ProcessResult r;
    if (pool.wait(0.1, r)) {
      const InFlight f = flights[r.tag];
      const SweepRun run = s.plan.runs[f.run];
      if (!r.ok()) {
        if (std::FILE* log = std::fopen((s.plan.run_dir(run) + "/run.log").c_str(), "ab")) {
          std::fprintf(log, "tinyserve sweep: %s\n", r.describe().c_str());
          std::fclose(log);
        }
      }
      --s.configs[f.config].in_flight;
      finish_probe(f.config, f.value, run);
      ++finished;
    }
    progress.set_total(launched);
    progress.update(finished, cat(s.configs.size(), " configurations"));
  }
  std::signal(SIGINT, previous);
  progress.update(finished, cat(s.configs.size(), " configurations"), true);
  s.wall_s = progress.elapsed_s();
  s.runs_launched = launched;
  s.runs_reused = reused;
  write_search_outputs(s);
  print_search(s, stdout);
  if (g_stop) {
    std::fprintf(stderr, "tinyserve search: interrupted\n");
    return 130;
  }
  for (const SearchConfig& c : s.configs) {
    if (!c.error.empty()) return kExitFailure;
  }
  return kExitOk;
}

}  // namespace tinyserve::app
