// The engine: one step admits arrivals, schedules, builds the backend's plan, executes it,
// advances the sequences, advances the simulated clock and records the step. What each part
// does lives beside it: the scheduler (core/scheduling), sampling and beam search
// (sampling.h), the cost model (core/execution/cost_model.h), the records (run_recorder.h).
//
// Under vllm-v1 semantics a step is vLLM's EngineCore.step: schedule, execute, then apply the
// outputs request by request in scheduling order (a finished request frees its blocks at once);
// with asynchronous scheduling, EngineCore.step_with_batch_queue: a step's outputs are applied
// after the next step is scheduled (a batch queue of two). Requests with n > 1 samples arrive as
// n requests, and generated tokens are the reference harness's output_token.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/decisions.h"
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
  // What the last step did, as the cost model counted it.
  const StepWork& last_work() const { return last_work_; }
  // Copy-on-write and fork copies executed by the last step.
  const std::vector<BlockCopy>& last_copies() const { return last_copies_; }
  RunSummary summary() const;
  // Every recorded step's decisions (config.record_decisions), as the vLLM harness records them.
  const std::vector<StepDecisions>& decisions() const { return decisions_; }

  const KvAllocatorView& allocator() const { return *allocator_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const GroupTable& groups() const { return groups_; }
  const Backend& backend() const { return *backend_; }
  // "" when every invariant holds.
  std::string check_invariants() const;

 private:
  void step_v0();
  void step_v1();
  double execute(const Schedule& s, StepCost& cost, KernelTimes& times);
  bool has_requests() const;  // vllm-v1: anything to schedule or report (EngineCore's test)
  // vllm-v1: applies a batch's outputs in scheduling order (vLLM's update_from_output); returns
  // the tokens sampled.
  int64_t apply_outputs(const Schedule& batch, double end_time);
  // vllm-v1: when nothing runs or is in flight and the head of the waiting queue failed the
  // admission gate, it never fits: reject it.
  void reject_unfit(const Schedule& s);
  void begin_decisions(const Schedule& s);
  void end_decisions();
  void admit_arrivals();
  double arrival_time(double arrival) const;  // when the clock reaches it (steps: its ceiling)
  Schedule schedule_step();
  void drop_rejected(const Schedule& s);
  void reject(GroupId g);
  void finish_step(StepOutcome& outcome, const Schedule& s, const StepCost& cost,
                   const KernelTimes& times, double end_time);
  StepWork count_work(const Schedule& s) const;
  int64_t shared_decode_tokens(const Schedule& s) const;
  void build_plan(const Schedule& s);
  // Returns the tokens sampled.
  int64_t advance(const Schedule& s, double end_time);
  void finish_if_done(GroupId g, double t);
  void finish(GroupId g, double t);
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
  StepWork last_work_;
  mutable std::vector<uint32_t> block_stamps_;  // shared_decode_tokens' marks, by block
  mutable uint32_t stamp_ = 0;
  std::vector<BlockCopy> last_copies_;

  std::deque<Schedule> in_flight_;  // vllm-v1 asynchronous scheduling: newest first
  bool finished_since_schedule_ = false;
  std::vector<StepDecisions> decisions_;
  StepDecisions decision_;      // the step's record being built
  size_t decision_events_ = 0;  // events of the step already read into it
  int64_t prefix_queries_seen_ = 0, prefix_hits_seen_ = 0;

  int64_t step_ = 0;
  double now_ = 0.0;
  bool failed_ = false;
  int64_t finished_ = 0, rejected_ = 0;
  int64_t over_limit_ = 0, capped_ = 0;  // max_model_len: prompts rejected, outputs shortened
};

}  // namespace tinyserve
