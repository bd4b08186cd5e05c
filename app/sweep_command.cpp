// `tinyserve sweep`: the cartesian product of --grid values, each configuration one
// `tinyserve run` child process (a failing or crashing run is a row of sweep.csv, not the end of
// the sweep), resumable, or written out as shell commands for other runners (--emit-jobs) and
// merged back (--collect).
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>

#include "app/capacity_commands.h"
#include "app/commands.h"
#include "app/process_pool.h"
#include "app/progress_line.h"
#include "app/sweep_plan.h"
#include "app/sweep_report.h"
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

void append_line(const std::string& path, const std::string& line) {
  if (std::FILE* f = std::fopen(path.c_str(), "ab")) {
    std::fprintf(f, "%s\n", line.c_str());
    std::fclose(f);
  }
}

int finish(const SweepPlan& plan, double wall_s, int64_t ran, bool print) {
  const SweepTable table = read_sweep(plan);
  write_sweep_csv(plan, table, plan.dir + "/sweep.csv");
  sweep_report(plan, table).write(plan.dir + "/report.html");
  int64_t ok = 0, failed = 0, other = 0;
  for (const SweepRow& r : table.rows) {
    if (r.status.state == RunState::kComplete) {
      ++ok;
    } else if (r.status.state == RunState::kFailed) {
      ++failed;
    } else {
      ++other;
    }
  }
  if (print) {
    std::printf("sweep        %zu configurations: %lld ok, %lld failed, %lld not complete",
                table.rows.size(), static_cast<long long>(ok), static_cast<long long>(failed),
                static_cast<long long>(other));
    if (ran >= 0) std::printf(" (%lld run now, %.1f s wall)", static_cast<long long>(ran), wall_s);
    std::printf("\n");
    if (ran > 0) {
      const CpuTimes cpu = cpu_times();
      std::printf("%-12s %.1f s in the runs (%.2f s each), %.2f s in the sweep itself\n", "CPU",
                  cpu.children_s, cpu.children_s / static_cast<double>(ran), cpu.self_s);
    }
    std::printf("outputs      %s/{sweep.csv, report.html, runs/}\n", plan.dir.c_str());
    int shown = 0;
    for (const SweepRow& r : table.rows) {
      if (r.status.state == RunState::kComplete || shown >= 5) continue;
      std::fprintf(stderr, "tinyserve sweep: %s %s: %s\n", r.run->name.c_str(),
                   to_string(r.status.state), r.status.error.c_str());
      ++shown;
    }
  }
  return failed + other > 0 ? kExitFailure : kExitOk;
}

std::string self_executable(const std::string& executable_dir) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) return self.string();
  return (fs::path(executable_dir) / "tinyserve").string();
}

}  // namespace

int sweep(const SweepOptions& o, const std::string& executable_dir) {
  if (!o.collect.empty()) {
    if (!o.scenario.empty() || !o.grid.empty() || !o.emit_jobs.empty()) {
      throw InputError("--collect", 0,
                       "expected only the sweep folder (its sweep.json holds the plan)");
    }
    return finish(read_plan(o.collect), 0, -1, true);
  }
  if (o.scenario.empty()) throw InputError("sweep", 0, "expected a scenario, or --collect DIR");
  if (o.grid.empty()) throw InputError("sweep", 0, "expected at least one --grid key=v1,v2,...");

  SweepPlan plan;
  plan.scenario =
      fs::absolute(find_scenario(o.scenario, executable_dir)).lexically_normal().string();
  const Scenario base = load_scenario(plan.scenario, o.sets);  // bad base input: exit 2, no run
  plan.sets = o.sets;
  std::set<std::string> keys;
  for (const std::string& g : o.grid) {
    plan.axes.push_back(parse_grid(g));
    if (!keys.insert(plan.axes.back().key).second) {
      throw InputError("--grid " + g, 0, "this key has a --grid already");
    }
  }
  plan.outputs = o.outputs.empty() ? std::vector<std::string>{"summary", "report"} : o.outputs;
  plan.backend = o.backend;
  plan.tinyserve = self_executable(executable_dir);
  plan.dir = fs::absolute(o.out_dir.empty() ? "out/sweep-" + base.name : o.out_dir)
                 .lexically_normal()
                 .string();
  while (plan.dir.size() > 1 && plan.dir.back() == '/') plan.dir.pop_back();
  expand_runs(plan);
  write_plan(plan);

  if (!o.emit_jobs.empty()) {
    std::string text;
    for (const SweepRun& run : plan.runs) text += shell_command(plan, run) + "\n";
    std::FILE* f = std::fopen(o.emit_jobs.c_str(), "wb");
    if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
      throw InputError(o.emit_jobs, 0, "cannot write the jobs file");
    }
    std::printf(
        "sweep        %zu commands in %s (one a line, POSIX sh); then: tinyserve sweep --collect "
        "%s\n",
        plan.runs.size(), o.emit_jobs.c_str(), plan.dir.c_str());
    return kExitOk;
  }

  std::vector<const SweepRun*> todo;
  for (const SweepRun& run : plan.runs) {
    if (run_status(plan, run).state != RunState::kComplete) todo.push_back(&run);
  }
  const int32_t jobs = o.jobs > 0 ? o.jobs : available_cores();
  if (o.progress) {
    std::fprintf(
        stderr,
        "sweep: %zu configurations of %s, %zu to run (%zu complete already) on %d processes\n",
        plan.runs.size(), base.name.c_str(), todo.size(), plan.runs.size() - todo.size(), jobs);
  }
  ProgressLine progress(o.progress, static_cast<int64_t>(todo.size()));
  ProcessPool pool(jobs);
  g_stop = 0;
  auto* previous = std::signal(SIGINT, on_interrupt);
  size_t next = 0;
  int64_t done = 0, failed = 0;
  while ((next < todo.size() && !g_stop) || pool.running() > 0) {
    while (!g_stop && next < todo.size() && pool.has_free_slot()) {
      const SweepRun& run = *todo[next];
      std::error_code ec;
      fs::remove(plan.run_dir(run) + "/summary.json",
                 ec);  // a stale one must not pass for this run
      prepare_run_dir(plan, run);
      pool.start({run_argv(plan, run), plan.run_dir(run) + "/run.log", next});
      ++next;
    }
    ProcessResult r;
    if (pool.wait(0.1, r)) {
      ++done;
      if (!r.ok()) {
        ++failed;
        append_line(plan.run_dir(*todo[r.tag]) + "/run.log", "tinyserve sweep: " + r.describe());
      }
    }
    progress.update(done, failed > 0 ? cat(failed, " failed") : "");
  }
  std::signal(SIGINT, previous);
  progress.update(done, failed > 0 ? cat(failed, " failed") : "", true);
  const int code = finish(plan, progress.elapsed_s(), done, true);
  if (g_stop) {
    std::fprintf(stderr, "tinyserve sweep: interrupted; run the same command again to resume\n");
    return 130;
  }
  return code;
}

}  // namespace tinyserve::app
