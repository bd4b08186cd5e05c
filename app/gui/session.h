// The app's engines and the commands that drive them. A Run is one engine built from a scenario
// plus --set-style overrides, with what the views read from it (the latest Snapshot, the recent
// events, the metric columns). The Session holds one run, or two stepping in lockstep when
// comparing (by simulated time or by steps), and turns user commands (step, step N, play/pause at
// a speed, run to end, reset with other parameters) into engine steps on the main thread, bounded
// per frame by a time budget.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "app/gui/run_columns.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "core/engine/snapshot.h"

namespace tinyserve::app {

using BackendFactory = std::function<std::unique_ptr<Backend>(const Scenario&)>;

class Run {
 public:
  // Throws InputError for a bad scenario or override.
  Run(const std::string& path, std::vector<std::string> overrides, const BackendFactory& backend);

  const Scenario& scenario() const { return scenario_; }
  const Engine& engine() const { return *engine_; }
  bool done() const { return engine_->done() || !error_.empty(); }
  double now() const { return engine_->now(); }  // simulated seconds
  // One engine step; a backend failure is kept in error() and stops the run.
  void step();
  const std::string& error() const { return error_; }

  // The latest snapshot, rebuilt when the engine stepped since the last call.
  const Snapshot& snapshot();
  // Changes whenever snapshot() returns a new snapshot.
  uint64_t version() const { return version_; }
  const RunColumns& columns() const { return columns_; }
  double progress() const;  // requests done / requests, in [0, 1]

  // Totals after each step, beside the engine's history (index i: after step i + 1).
  struct Totals {
    int64_t first_tokens = 0;  // requests that produced their first token
    double ttft_sum_s = 0;     // their times to first token, summed
    int64_t generated = 0;     // output tokens
  };
  const std::vector<Totals>& totals() const { return totals_; }

 private:
  void count_step();

  Scenario scenario_;
  std::unique_ptr<Engine> engine_;
  EventRing events_;
  std::shared_ptr<const Snapshot> snapshot_;
  bool stale_ = true;
  uint64_t version_ = 0;
  RunColumns columns_;
  std::vector<Totals> totals_;
  size_t results_seen_ = 0;  // of the engine's request results (those that left)
  std::string error_;
};

// Two configurations of one workload: the scenario's overrides plus one differing override each.
struct CompareSetup {
  std::string name;  // "paged vs contiguous"
  // "cache.allocator=paged", "cache.allocator=contiguous;...": several keys separated by ';' or
  // a new line.
  std::string a, b;
};
std::span<const CompareSetup> compare_presets();
const CompareSetup* find_compare_preset(const std::string& name_or_slug);
std::string slug(const std::string& name);  // "paged vs contiguous" -> "paged-vs-contiguous"

enum class PlayMode : uint8_t { kPaused, kPlaying, kRunToEnd };

// How two compared runs advance together. By time: each tick steps the run furthest behind in
// simulated time, then any other run now behind it, so both show (about) the same moment. By
// steps: each tick steps every run once, whatever time each step covers.
enum class Lockstep : uint8_t { kTime, kSteps };

class Session {
 public:
  // base_overrides: applied to every run before the user's overrides and never listed among
  // them (the app's choice of backend, say).
  Session(std::string executable_dir, BackendFactory backend,
          std::vector<std::string> base_overrides = {});

  // Commands take effect at the next advance(), so that the runs and snapshots the views hold
  // stay valid for the whole frame.
  //
  // Loads a scenario (name or path) with overrides, replacing the runs (keeping the comparison).
  // Returns "" or the error, in which case the current runs stay.
  std::string load(const std::string& scenario, std::vector<std::string> overrides);
  std::string reset() { return load(path_, overrides_); }
  std::string compare(const CompareSetup& setup);
  void end_compare();
  bool comparing() const { return runs_.size() == 2; }
  const CompareSetup& compare_setup() const { return compare_; }
  void set_lockstep(Lockstep lockstep) { lockstep_ = lockstep; }
  Lockstep lockstep() const { return lockstep_; }

  void step(int64_t n = 1);
  void toggle_play();
  void pause() { mode_ = PlayMode::kPaused; }
  void run_to_end();
  void set_speed(double steps_per_s) { speed_ = steps_per_s; }
  double speed() const { return speed_; }
  PlayMode mode() const { return mode_; }
  // Something to do at the next advance(): playing, running, or a command waiting.
  bool busy() const {
    return mode_ != PlayMode::kPaused || pending_steps_ > 0 || replace_runs_ || drop_second_;
  }

  // Once per frame, before the views: applies the commands, then advances the runs as the mode
  // asks for at most budget_s of wall time.
  void advance(double frame_dt_s, double budget_s);
  // Scripted mode: exactly n ticks (a step of the one run, or a lockstep tick), no budget.
  void advance_exact(int64_t n);
  // Last advance(): wall time spent stepping and ticks taken.
  double engine_ms() const { return engine_ms_; }
  int64_t steps_taken() const { return steps_taken_; }

  bool has_run() const { return !runs_.empty(); }
  // Changes whenever the runs are replaced (load, reset, compare).
  uint64_t generation() const { return generation_; }
  Run& run(size_t i = 0) { return *runs_[i]; }
  size_t num_runs() const { return runs_.size(); }
  bool done() const;
  double progress() const;  // of the slowest run
  const std::string& path() const { return path_; }
  // The user's overrides (the parameters panel's and --set's), without the base ones.
  const std::vector<std::string>& overrides() const { return overrides_; }
  const std::string& executable_dir() const { return executable_dir_; }

 private:
  std::string build(const std::string& path, const std::vector<std::string>& overrides,
                    const CompareSetup* setup);
  void apply_commands();
  void tick(double deadline_s);
  int64_t step_all(int64_t n, double deadline_s);

  std::string executable_dir_;
  BackendFactory backend_;
  std::vector<std::string> base_overrides_;
  std::string path_;
  std::vector<std::string> overrides_;
  std::vector<std::unique_ptr<Run>> runs_;
  std::vector<std::unique_ptr<Run>> next_runs_;  // built by a command, swapped in by advance()
  bool replace_runs_ = false;
  bool drop_second_ = false;
  int64_t pending_steps_ = 0;
  CompareSetup compare_;
  Lockstep lockstep_ = Lockstep::kTime;
  PlayMode mode_ = PlayMode::kPaused;
  double speed_ = 30.0;  // steps per second while playing
  double owed_ = 0.0;    // fractional steps carried between frames
  double engine_ms_ = 0.0;
  int64_t steps_taken_ = 0;
  uint64_t generation_ = 0;
};

// Replaces the override of the same key, or appends.
void set_override(std::vector<std::string>& overrides, const std::string& key_value);
std::string override_key(const std::string& key_value);

}  // namespace tinyserve::app
