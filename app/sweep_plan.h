// A sweep: one scenario, base --set overrides and a grid of keys whose cartesian product gives
// the configurations, each run by `tinyserve run` into its own folder DIR/runs/NAME. The plan is
// kept in DIR/sweep.json, so that the run folders can be produced anywhere (locally, or by the
// jobs --emit-jobs writes) and merged into DIR/sweep.csv by collect_sweep().
//
// A run folder is complete when its summary.json exists (run writes it last) and its config.txt
// names the same configuration.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tinyserve::app {

struct GridAxis {
  std::string key;                  // "cache.block_size"
  std::vector<std::string> values;  // TOML values as typed: "16", "\"lru\"", "lru", "[1, 2]"
};

// A grid value as shown (folder names, CSV, reports): TOML string quotes dropped.
std::string grid_display(const std::string& value);
// "cache.block_size" -> "block_size"
std::string short_key(const std::string& key);

// "key=v1,v2,..." (commas inside brackets or quotes do not split; "a:b:step" expands to the
// numbers a, a + step, ... <= b). InputError naming "--grid TEXT" when malformed.
GridAxis parse_grid(const std::string& text);

struct SweepRun {
  std::string name;                 // folder under DIR/runs/
  std::vector<std::string> values;  // one per axis
};

struct SweepPlan {
  std::string dir;                // absolute
  std::string tinyserve;          // absolute path of the binary the runs use
  std::string scenario;           // absolute path
  std::vector<std::string> sets;  // base overrides, key=value
  std::vector<GridAxis> axes;
  std::vector<std::string> outputs;  // run --outputs (empty: run's default)
  std::string backend;               // "" the scenario's
  std::vector<SweepRun> runs;        // the cartesian product, first axis slowest

  std::string run_dir(const SweepRun& run) const { return dir + "/runs/" + run.name; }
};

// Builds the plan's runs from its axes (names sanitised, unique).
void expand_runs(SweepPlan& plan);
// A folder name from grid values: "block_size-16_max_num_seqs-64" (characters outside
// [A-Za-z0-9._+-] become '_').
std::string run_name(const std::vector<GridAxis>& axes, const std::vector<std::string>& values);

// The overrides of one run: base sets, then its grid values.
std::vector<std::string> run_overrides(const SweepPlan& plan, const SweepRun& run);
// argv of `tinyserve run` for one run (argv[0] the binary).
std::vector<std::string> run_argv(const SweepPlan& plan, const SweepRun& run);
// What config.txt holds: the run's arguments without the binary and the output folder.
std::string run_identity(const SweepPlan& plan, const SweepRun& run);
// One POSIX shell command line: creates the folder, runs, logs to run.log, and appends
// "tinyserve sweep: exit status N" to run.log when the run fails.
std::string shell_command(const SweepPlan& plan, const SweepRun& run);
std::string shell_quote(const std::string& s);

// sweep.json
void write_plan(const SweepPlan& plan);
// InputError when dir holds no readable sweep.json.
SweepPlan read_plan(const std::string& dir);

enum class RunState : uint8_t { kComplete, kFailed, kIncomplete, kNotRun, kStale };
const char* to_string(RunState s);

struct RunStatus {
  RunState state = RunState::kNotRun;
  std::string error;  // for kFailed / kStale / kIncomplete
};
// Reads the folder of one run.
RunStatus run_status(const SweepPlan& plan, const SweepRun& run);
// Writes config.txt into the run's folder (creating it).
void prepare_run_dir(const SweepPlan& plan, const SweepRun& run);

// A summary.json flattened to "a.b.c" -> value as CSV text (strings unquoted).
std::vector<std::pair<std::string, std::string>> flatten_summary(const std::string& json_text);

struct SweepRow {
  const SweepRun* run = nullptr;
  RunStatus status;
  std::map<std::string, std::string> metrics;  // flattened summary.json (complete runs)
};

struct SweepTable {
  std::vector<std::string> columns;  // metric columns, in first-seen order
  std::vector<SweepRow> rows;        // in plan order
};

// Reads every run folder of the plan.
SweepTable read_sweep(const SweepPlan& plan);
// sweep.csv: the grid keys, run, status, error, then every summary metric. Written through
// sweep.csv.partial; the same folders give the same bytes.
void write_sweep_csv(const SweepPlan& plan, const SweepTable& table, const std::string& path);
std::string csv_field(const std::string& s);

}  // namespace tinyserve::app
