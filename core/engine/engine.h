// The engine: one step admits arrivals, schedules, builds the backend's plan, executes it,
// advances the sequences, advances the simulated clock and records the step. What each part
// does lives beside it: the scheduler (core/scheduling), sampling and beam search
// (sampling.h), the cost model (core/execution/cost_model.h), the records (run_recorder.h).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/engine_config.h"
#include "core/engine/run_recorder.h"
#include "core/engine/sampling.h"
#include "core/execution/backend.h"
#include "core/memory/kv_allocator.h"
#include "core/scheduling/events.h"
#include "core/scheduling/scheduler.h"
#include "core/workload/request.h"

namespace tinyserve {

// The allocator the configuration names, over its geometry.
std::unique_ptr<KvAllocator> make_allocator(const EngineConfig& config);

class Engine {
 public:
  // requests: sorted by arrival.
  Engine(const EngineConfig& config, std::vector<RequestSpec> requests,
         std::unique_ptr<Backend> backend);

  bool done() const;
  // One step; precondition !done(). Throws BackendError if the backend fails, after which the
  // engine refuses further steps (failed()).
  void step();
  bool failed() const { return failed_; }

  const EngineConfig& config() const { return config_; }
  int64_t steps() const { return step_; }
  double now() const { return now_; }
  int64_t num_requests() const { return static_cast<int64_t>(requests_.size()); }
  int64_t num_done() const { return finished_ + rejected_; }
  const StepMetrics& last() const { return recorder_.last(); }
  std::span<const Event> step_events() const { return events_; }
  const std::vector<StepMetrics>& history() const { return recorder_.history(); }
  // Finished and rejected requests, in the order they left.
  const std::vector<RequestResult>& request_results() const { return recorder_.requests(); }
  // Every request's result so far: those that left, then those still in the engine.
  std::vector<RequestResult> all_request_results() const;
  const StepPlan& last_plan() const { return plan_; }
  // Copy-on-write and fork copies executed by the last step.
  const std::vector<BlockCopy>& last_copies() const { return last_copies_; }
  RunSummary summary() const;

  const KvAllocatorView& allocator() const { return *allocator_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const GroupTable& groups() const { return groups_; }
  const Backend& backend() const { return *backend_; }
  // "" when every invariant holds.
  std::string check_invariants() const;

 private:
  void admit_arrivals();
  Schedule schedule_step();
  void drop_rejected(const Schedule& s);
  void reject(GroupId g);
  StepWork count_work(const Schedule& s) const;
  void build_plan(const Schedule& s);
  // Returns the tokens sampled.
  int64_t advance(const Schedule& s, double end_time);
  void finish_if_done(GroupId g, double t);
  std::vector<RequestResult> unfinished_results() const;

  EngineConfig config_;
  std::vector<RequestSpec> requests_;
  size_t next_request_ = 0;
  std::unique_ptr<KvAllocator> allocator_;
  std::unique_ptr<Backend> backend_;
  GroupTable groups_;
  std::vector<Event> events_;  // this step's
  std::unique_ptr<Scheduler> scheduler_;
  Sampler sampler_;
  RunRecorder recorder_;
  StepPlan plan_;
  std::vector<BlockCopy> last_copies_;

  int64_t step_ = 0;
  double now_ = 0.0;
  bool failed_ = false;
  int64_t finished_ = 0, rejected_ = 0;
  int64_t over_limit_ = 0, capped_ = 0;  // max_model_len: prompts rejected, outputs shortened
};

}  // namespace tinyserve
