// The engine: one step admits arrivals, schedules, builds the backend's plan, executes it,
// advances the sequences (sampling, forks, beam pruning, finishing), advances the simulated
// clock and records the step's metrics and events.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/execution/backend.h"
#include "core/memory/contiguous_allocator.h"
#include "core/execution/cost_model.h"
#include "core/scheduling/events.h"
#include "core/memory/kv_cache_manager.h"
#include "core/memory/pool_metrics.h"
#include "core/workload/request.h"
#include "core/base/rng.h"
#include "core/scheduling/scheduler.h"
#include "core/engine/step_metrics.h"

namespace tinyserve {

// model: the cost model's time throughout. measured: a backend's measured attention time
// (scaled from its gpu_layers to the model's layers) replaces the modelled one; arrivals then
// interleave differently, so such runs need not match other backends beyond time.
enum class ClockMode : uint8_t { kModel, kMeasured };

struct EngineConfig {
  std::string name = "scenario";
  uint64_t seed = 0;
  bool paged = true;
  KvCacheConfig paged_cache;
  ContiguousConfig contiguous_cache;
  SchedulerConfig scheduler;
  CostModel cost;
  FragmentationParams fragmentation;
  ClockMode clock = ClockMode::kModel;
  int32_t model_layers = 1;
  int32_t gpu_layers = 1;
  int64_t max_steps = 0;          // 0: until every request is done
  bool keep_history = false;      // keep every step's metrics (the GUI's time series)
  bool check_invariants = false;  // allocator and engine invariants after every step
};

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
  const StepMetrics& last() const { return last_; }
  std::span<const Event> step_events() const { return events_; }
  const std::vector<StepMetrics>& history() const { return history_; }
  const StepPlan& last_plan() const { return plan_; }
  // Copy-on-write and fork copies executed by the last step.
  const std::vector<BlockCopy>& last_copies() const { return last_copies_; }
  RunSummary summary() const;
  // Time to first token of every request that has produced one, in the order they did (seconds).
  std::span<const double> ttfts() const { return ttft_; }

  const KvAllocator& allocator() const { return *allocator_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const GroupTable& groups() const { return groups_; }
  const Backend& backend() const { return *backend_; }
  // "" when every invariant holds.
  std::string check_invariants() const;

 private:
  void admit_arrivals();
  Schedule schedule_step();
  void drop_rejected(const Schedule& s);
  StepWork count_work(const Schedule& s) const;
  void build_plan(const Schedule& s);
  void advance(const Schedule& s, double end_time);
  void complete_prefill(GroupId g, double t);
  void fan_out(GroupId g);
  void beam_step(GroupId g);
  void finish_if_done(GroupId g, double t);
  SeqId fork(SequenceGroup& group, size_t parent);
  TokenId sample_token(const SequenceGroup& g, const Sequence& s, uint64_t candidate = 0) const;
  void record(const Schedule& s, const StepCost& cost, const KernelTimes& times, double step_s,
              int32_t batch);

  EngineConfig config_;
  std::vector<RequestSpec> requests_;
  size_t next_request_ = 0;
  std::unique_ptr<KvAllocator> allocator_;
  std::unique_ptr<Backend> backend_;
  GroupTable groups_;
  std::vector<Event> events_;  // this step's
  std::unique_ptr<Scheduler> scheduler_;
  Rng rng_;
  StepPlan plan_;
  std::vector<BlockCopy> pending_copies_;  // fork copies made after a step, executed by the next
  std::vector<BlockCopy> last_copies_;
  TemporalFragmentation temporal_;
  FreeRunMeter free_runs_;

  int64_t step_ = 0;
  double now_ = 0.0;
  SeqId next_seq_ = 0;
  bool failed_ = false;
  StepMetrics last_;
  std::vector<StepMetrics> history_;

  // Run accumulators.
  int64_t finished_ = 0, rejected_ = 0, generated_ = 0, preemptions_ = 0, recomputed_ = 0;
  int64_t cow_copies_ = 0, evictions_ = 0, swapped_blocks_ = 0;
  int64_t step_generated_ = 0;
  int32_t peak_running_seqs_ = 0;
  double sum_usage_ = 0, peak_usage_ = 0, sum_utilization_ = 0, sum_external_ = 0, sum_f_total_ = 0;
  double sum_attention_ms_ = 0, sum_contiguous_ms_ = 0, sum_modelled_attention_ms_ = 0;
  int64_t measured_steps_ = 0, contiguous_steps_ = 0;
  std::vector<double> ttft_, tpot_, latency_;
};

}  // namespace tinyserve
