#include "app/gui/session.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <limits>

namespace tinyserve::app {

namespace {

constexpr size_t kEventLogCapacity = 16384;

double now_s() {
  using Clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

const std::array<CompareSetup, 5> kPresets = {{
    {"paged vs contiguous", "cache.allocator=paged", "cache.allocator=contiguous"},
    {"LRU vs LIFO", "cache.free_list=lru", "cache.free_list=lifo"},
    {"recompute vs swap", "scheduler.preemption=recompute", "scheduler.preemption=swap"},
    {"block size 16 vs 64", "cache.block_size=16", "cache.block_size=64"},
    {"prefix caching on vs off", "cache.prefix_caching=true", "cache.prefix_caching=false"},
}};

}  // namespace

Run::Run(const std::string& path, std::vector<std::string> overrides, const BackendFactory& backend)
    : scenario_(load_scenario(path, overrides)),
      overrides_(std::move(overrides)),
      events_(kEventLogCapacity) {
  scenario_.engine.keep_history = true;
  std::vector<RequestSpec> requests = load_requests(scenario_);
  engine_ = std::make_unique<Engine>(scenario_.engine, std::move(requests), backend(scenario_));
}

void Run::step() {
  if (done()) return;
  try {
    engine_->step();
  } catch (const std::exception& e) {
    error_ = e.what();
  }
  events_.add(engine_->step_events());
  stale_ = true;
}

const Snapshot& Run::snapshot() {
  if (stale_ || !snapshot_) {
    snapshot_ = make_snapshot(*engine_, events_.events());
    columns_.sync(snapshot_->history);
    ++version_;
    stale_ = false;
  }
  return *snapshot_;
}

const RunSummary& Run::summary() {
  snapshot();
  // Its latency distributions sort every finished request: twice a second at most while stepping.
  const double now = now_s();
  if (summary_version_ != version_ && (now - summary_time_ >= 0.5 || engine_->done())) {
    summary_ = engine_->summary();
    summary_version_ = version_;
    summary_time_ = now;
  }
  return summary_;
}

double Run::progress() const {
  const Engine& e = *engine_;
  if (e.done()) return 1.0;
  double p = static_cast<double>(e.num_done()) /
             static_cast<double>(std::max<int64_t>(e.num_requests(), 1));
  if (e.config().max_steps > 0) {
    p = std::max(p, static_cast<double>(e.steps()) / static_cast<double>(e.config().max_steps));
  }
  return std::clamp(p, 0.0, 1.0);
}

std::span<const CompareSetup> compare_presets() {
  return kPresets;
}

std::string slug(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == ' ') {
      out.push_back('-');
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

const CompareSetup* find_compare_preset(const std::string& name_or_slug) {
  for (const CompareSetup& p : kPresets) {
    if (p.name == name_or_slug || slug(p.name) == name_or_slug) return &p;
  }
  return nullptr;
}

std::string override_key(const std::string& key_value) {
  return key_value.substr(0, key_value.find('='));
}

void set_override(std::vector<std::string>& overrides, const std::string& key_value) {
  const std::string key = override_key(key_value);
  for (std::string& o : overrides) {
    if (override_key(o) == key) {
      o = key_value;
      return;
    }
  }
  overrides.push_back(key_value);
}

Session::Session(std::string executable_dir, BackendFactory backend)
    : executable_dir_(std::move(executable_dir)), backend_(std::move(backend)) {}

std::string Session::build(const std::string& path, const std::vector<std::string>& overrides,
                           const CompareSetup* setup) {
  std::vector<std::unique_ptr<Run>> runs;
  try {
    const std::string file = find_scenario(path, executable_dir_);
    if (setup == nullptr) {
      runs.push_back(std::make_unique<Run>(file, overrides, backend_));
    } else {
      for (const std::string& side : {setup->a, setup->b}) {
        std::vector<std::string> o = overrides;
        // One override, or several, one a line (two sweep rows differing in several keys).
        for (size_t start = 0; start < side.size();) {
          const size_t end = std::min(side.find('\n', start), side.size());
          set_override(o, side.substr(start, end - start));
          start = end + 1;
        }
        runs.push_back(std::make_unique<Run>(file, std::move(o), backend_));
      }
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  next_runs_ = std::move(runs);
  replace_runs_ = true;
  drop_second_ = false;
  path_ = path;
  overrides_ = overrides;
  compare_ = setup ? *setup : CompareSetup{};
  mode_ = PlayMode::kPaused;
  pending_steps_ = 0;
  owed_ = 0;
  return "";
}

std::string Session::load(const std::string& scenario, std::vector<std::string> overrides) {
  const bool was_comparing = !compare_.name.empty();
  const CompareSetup setup = compare_;
  return build(scenario, overrides, was_comparing ? &setup : nullptr);
}

std::string Session::compare(const CompareSetup& setup) {
  return build(path_, overrides_, &setup);
}

void Session::end_compare() {
  if (compare_.name.empty()) return;
  compare_ = {};
  if (replace_runs_) {
    next_runs_.resize(1);
  } else {
    drop_second_ = true;
  }
}

void Session::apply_commands() {
  if (replace_runs_) {
    runs_ = std::move(next_runs_);
    next_runs_.clear();
    replace_runs_ = false;
    ++generation_;
  }
  if (drop_second_ && runs_.size() > 1) runs_.resize(1);
  drop_second_ = false;
}

void Session::step(int64_t n) {
  pending_steps_ += n;
}

void Session::toggle_play() {
  mode_ = mode_ == PlayMode::kPlaying ? PlayMode::kPaused : PlayMode::kPlaying;
  owed_ = 0;
}

void Session::run_to_end() {
  mode_ = mode_ == PlayMode::kRunToEnd ? PlayMode::kPaused : PlayMode::kRunToEnd;
}

bool Session::done() const {
  return std::all_of(runs_.begin(), runs_.end(), [](const auto& r) { return r->done(); });
}

double Session::progress() const {
  double p = 1.0;
  for (const auto& r : runs_) p = std::min(p, r->progress());
  return p;
}

int64_t Session::step_all(int64_t n, double deadline_s) {
  int64_t taken = 0;
  while (taken < n && !done()) {
    for (auto& r : runs_) r->step();
    ++taken;
    if (now_s() > deadline_s) break;
  }
  return taken;
}

void Session::advance(double frame_dt_s, double budget_s) {
  apply_commands();
  const double start = now_s();
  const double deadline = start + budget_s;
  steps_taken_ = 0;
  if (pending_steps_ > 0) {
    const int64_t taken = step_all(pending_steps_, deadline);
    pending_steps_ = done() ? 0 : pending_steps_ - taken;
    steps_taken_ += taken;
  }
  if (mode_ == PlayMode::kPlaying) {
    owed_ += speed_ * frame_dt_s;
    const auto want = static_cast<int64_t>(std::floor(owed_));
    const int64_t taken = step_all(want, deadline);
    owed_ = taken < want ? 0.0 : owed_ - static_cast<double>(want);  // cannot keep up: drop
    steps_taken_ += taken;
  } else if (mode_ == PlayMode::kRunToEnd) {
    steps_taken_ += step_all(std::numeric_limits<int64_t>::max(), deadline);
  }
  if (done()) mode_ = PlayMode::kPaused;
  engine_ms_ = (now_s() - start) * 1e3;
}

void Session::advance_exact(int64_t n) {
  apply_commands();
  const double start = now_s();
  steps_taken_ = step_all(n, std::numeric_limits<double>::infinity());
  engine_ms_ = (now_s() - start) * 1e3;
}

}  // namespace tinyserve::app
