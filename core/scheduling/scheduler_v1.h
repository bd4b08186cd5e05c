// vllm-v1 semantics (scheduler.h): vLLM 0.33's v1 Scheduler (vllm/v1/core/sched/scheduler.py,
// Scheduler.schedule), decision for decision; docs/fidelity_vllm_notes.md gives its rules. Each
// request is one group of one sequence (parallel samples arrive as separate requests). A
// sequence's num_computed counts the tokens computed or scheduled: it advances when a step is
// scheduled, as vLLM's num_computed_tokens. Each step:
//   1. running requests in running order while budget remains, each given its remaining tokens
//      (known tokens + placeholders - computed), cut by the budget and max_model_len; when its
//      blocks cannot grow (ChunkAllocator::allocate_slots), the last running request is
//      preempted, again until they can; if it was the request itself the loop stops;
//   2. only when nothing was preempted: waiting requests in order, while running requests are
//      fewer than max_num_seqs: a prefix lookup over the known tokens (at most all but the last,
//      whole blocks), the admission gate, then blocks for the first chunk (whatever budget is
//      left); the first request that fails the gate stops the loop;
//   3. every scheduled request's computed count advances; full blocks up to the scheduled tokens
//      are cached as scheduled. Under asynchronous scheduling a request that samples gets a
//      placeholder, and one whose placeholder is its last token is not scheduled again.
// Preemption frees the victim's blocks (ChunkAllocator order) and puts it at the front of the
// waiting queue with computed 0; its generated tokens are kept and recomputed.
#pragma once

#include "core/scheduling/scheduler.h"

namespace tinyserve {

// The chain of hashes over a sequence's full blocks of known tokens (vLLM's request.block_hashes),
// extended to its current tokens; empty when hashing is false (no prefix caching).
std::span<const BlockHash> full_block_hashes(Sequence& s, int32_t block_size, bool hashing);

class SchedulerV1 final : public Scheduler {
 public:
  // Precondition: allocator.chunk_allocator() != nullptr.
  SchedulerV1(const SchedulerConfig& config, KvAllocator& allocator, GroupTable& groups,
              std::vector<Event>& events);
  Schedule schedule(int64_t step, double now) override;

 private:
  bool schedule_running(GroupId g, int32_t& budget, Schedule& out, bool& preempted);
  bool try_admit(GroupId g, int32_t& budget, Schedule& out);
  void preempt(GroupId victim, Schedule& out);
  void add(GroupId g, int32_t length, Schedule& out);
  void commit(Schedule& out);

  std::span<const BlockHash> hashes(Sequence& s) const {
    return full_block_hashes(s, block_size_, hashing_);
  }

  ChunkAllocator& chunks_;
  int32_t block_size_;
  bool hashing_;
};

}  // namespace tinyserve
