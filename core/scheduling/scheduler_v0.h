// vllm-v0 semantics (scheduler.h): vLLM v0's scheduler. Each step:
//   1. decodes of running sequences, oldest admission first; a sequence that cannot get its next
//      slot preempts a victim (the most recently admitted group, or the lowest-priority one),
//      possibly itself: recompute (free its blocks, back to the front of the waiting queue) or
//      swap (blocks copied to the CPU pool); a group is preempted whole; a group that cannot grow
//      even when it runs alone can never finish in this pool and is rejected;
//   2. prefill chunks of running groups still computing their prompt;
//   3. swap-ins, when nothing was preempted this step;
//   4. new prefills in arrival order, chunked to the token budget, when nothing was preempted and
//      nothing is swapped out; admission asks the allocator first (watermark, prefix hits) and
//      takes blocks for the whole prompt.
#pragma once

#include "core/scheduling/scheduler.h"

namespace tinyserve {

class SchedulerV0 final : public Scheduler {
 public:
  using Scheduler::Scheduler;
  Schedule schedule(int64_t step, double now) override;

 private:
  bool schedule_decode(GroupId g, Schedule& out);
  void preempt(GroupId victim, Schedule& out);
  void reject_running(GroupId g, Schedule& out);
  GroupId pick_victim() const;
  bool try_swap_in(GroupId g, Schedule& out, int32_t& seq_budget, int32_t& token_budget);
  bool try_admit(GroupId g, Schedule& out, int32_t& seq_budget, int32_t& token_budget);
  void schedule_prefill(GroupId g, Schedule& out, int32_t& token_budget);
};

}  // namespace tinyserve
