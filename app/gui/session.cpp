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

// A side may set several keys, separated by ';' (the contiguous allocator has no prefix cache and
// cannot swap, so its side turns both off rather than be refused). Contiguous reservations and
// swapping are vllm-v0's (docs/fidelity.md): those presets run both sides under it.
const std::array<CompareSetup, 7> kPresets = {{
    {"vllm-v1 vs vllm-v0", "scheduler.semantics=vllm-v1", "scheduler.semantics=vllm-v0"},
    {"paged vs contiguous", "scheduler.semantics=vllm-v0;cache.allocator=paged",
     "scheduler.semantics=vllm-v0;cache.allocator=contiguous;cache.prefix_caching=false;"
     "scheduler.preemption=recompute"},
    {"LRU vs LIFO", "cache.free_list=lru", "cache.free_list=lifo"},
    {"recompute vs swap", "scheduler.semantics=vllm-v0;scheduler.preemption=recompute",
     "scheduler.semantics=vllm-v0;scheduler.preemption=swap"},
    {"block size 16 vs 64", "cache.block_size=16", "cache.block_size=64"},
    {"prefix caching on vs off", "cache.prefix_caching=true", "cache.prefix_caching=false"},
    {"KV fp16 vs fp8", "cache.kv_dtype=fp16", "cache.kv_dtype=fp8_e4m3"},
}};

}  // namespace

Run::Run(const std::string& path, std::vector<std::string> overrides, const BackendFactory& backend)
    : scenario_(load_scenario(path, overrides)), events_(kEventLogCapacity) {
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
  if (engine_->history().size() > totals_.size()) count_step();
}

// A request's first token comes at the end of one step, when it is running: it is then still
// running, or has left the engine in that very step (finished, say, after one token).
void Run::count_step() {
  Totals t = totals_.empty() ? Totals{} : totals_.back();
  const double end = engine_->now();
  auto count = [&](double first_token, double arrival) {
    if (first_token != end) return;  // none yet, or counted at an earlier step
    ++t.first_tokens;
    t.ttft_sum_s += first_token - arrival;
  };
  const GroupTable& groups = engine_->groups();
  for (GroupId g : engine_->scheduler().running())
    count(groups[g].first_token_time, groups[g].arrival);
  const std::vector<RequestResult>& left = engine_->request_results();
  for (size_t i = results_seen_; i < left.size(); ++i) count(left[i].first_token, left[i].arrival);
  results_seen_ = left.size();
  t.generated += engine_->last().generated_tokens;
  totals_.resize(engine_->history().size(), t);
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

Session::Session(std::string executable_dir, BackendFactory backend,
                 std::vector<std::string> base_overrides)
    : executable_dir_(std::move(executable_dir)),
      backend_(std::move(backend)),
      base_overrides_(std::move(base_overrides)) {}

std::string Session::build(const std::string& path, const std::vector<std::string>& overrides,
                           const CompareSetup* setup) {
  std::vector<std::unique_ptr<Run>> runs;
  try {
    const std::string file = find_scenario(path, executable_dir_);
    std::vector<std::string> all = base_overrides_;
    for (const std::string& o : overrides) set_override(all, o);
    if (setup == nullptr) {
      runs.push_back(std::make_unique<Run>(file, all, backend_));
    } else {
      for (const std::string& side : {setup->a, setup->b}) {
        std::vector<std::string> o = all;
        // One override, or several separated by ';' or a new line (a compare preset, two sweep
        // rows differing in several keys).
        for (size_t start = 0; start <= side.size();) {
          const size_t end = std::min(side.find_first_of(";\n", start), side.size());
          if (end > start) set_override(o, side.substr(start, end - start));
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

void Session::tick(double deadline_s) {
  if (runs_.size() == 1 || lockstep_ == Lockstep::kSteps) {
    for (auto& r : runs_) r->step();
    return;
  }
  // By time: the run furthest behind steps, then the others catch up to it (a run that jumped
  // far ahead, over an idle gap say, is caught up over later ticks when the deadline passes).
  Run* behind = nullptr;
  for (auto& r : runs_) {
    if (!r->done() && (behind == nullptr || r->now() < behind->now())) behind = r.get();
  }
  if (behind == nullptr) return;
  behind->step();
  for (auto& r : runs_) {
    while (r.get() != behind && !r->done() && r->now() < behind->now() && now_s() <= deadline_s)
      r->step();
  }
}

int64_t Session::step_all(int64_t n, double deadline_s) {
  int64_t taken = 0;
  while (taken < n && !done()) {
    tick(deadline_s);
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
