// The scheduler: continuous batching over the waiting, running and swapped queues, under one of
// two semantics (core/base/semantics.h), each its own class:
//
//   vllm-v1 (scheduler_v1.h, vLLM 0.33's v1 Scheduler) one token budget; running requests first,
//      in running order (admission order), each given what it has left to compute (a decode: 1
//      token; a prefill: the rest of its prompt, cut by the budget), no decode priority; a
//      running request whose blocks cannot grow preempts the newest running request (possibly
//      itself), which frees its blocks and goes to the front of the waiting queue to recompute
//      prompt + generated tokens; a step that preempted admits nothing; otherwise waiting
//      requests are admitted in order while the admission gate passes (the whole known sequence
//      fits in the available blocks) and max_num_seqs allows, each with whatever budget is left.
//      Optionally vLLM's asynchronous scheduling: a step is scheduled before the previous step's
//      output is applied (placeholders for the tokens in flight).
//   vllm-v0 (scheduler_v0.h, vLLM v0's scheduler) decodes of every running sequence first, then
//      prefill chunks of running groups, then swap-ins, then new prefills whose whole prompt the
//      allocator can take (watermark, prefix hits); recompute or swap on preemption; groups of
//      samples or beams are preempted whole.
//
// Capped by max_num_seqs and max_num_batched_tokens. Every decision is an event.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/base/named.h"
#include "core/base/semantics.h"
#include "core/memory/kv_allocator.h"
#include "core/scheduling/events.h"
#include "core/scheduling/sequence.h"

namespace tinyserve {

using GroupId = int32_t;

enum class PreemptionMode : uint8_t { kRecompute, kSwap };
enum class VictimPolicy : uint8_t { kNewest, kLowestPriority };

inline constexpr Named<PreemptionMode> kPreemptionModeNames[] = {
    {PreemptionMode::kRecompute, "recompute"}, {PreemptionMode::kSwap, "swap"}};
inline constexpr Named<VictimPolicy> kVictimPolicyNames[] = {
    {VictimPolicy::kNewest, "newest"}, {VictimPolicy::kLowestPriority, "lowest-priority"}};

inline std::string_view to_string(PreemptionMode mode) {
  return name_of<PreemptionMode>(kPreemptionModeNames, mode);
}
inline std::string_view to_string(VictimPolicy policy) {
  return name_of<VictimPolicy>(kVictimPolicyNames, policy);
}

struct SchedulerConfig {
  // Scenario files default to vllm-v1 (core/config/scenario_keys.h); configurations built by hand
  // default to vllm-v0, the semantics the engine's unit tests were written for.
  Semantics semantics = Semantics::kVllmV0;
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  bool chunked_prefill = true;
  PreemptionMode preemption = PreemptionMode::kRecompute;  // vllm-v1: recompute only
  VictimPolicy victim = VictimPolicy::kNewest;             // vllm-v1: newest only
  bool async_scheduling = false;  // vllm-v1 only: vLLM's batch queue of two
  int32_t max_model_len = 0;      // vllm-v1: no position at or past it is scheduled (0: none)
};

struct PrefillChunk {
  GroupId group = 0;
  int32_t seq = 0;  // index into the group's sequences
  int32_t start = 0;
  int32_t length = 0;
};

struct DecodeItem {
  GroupId group = 0;
  int32_t seq = 0;
  int64_t slot = -1;  // where the sequence's last token's K/V goes
};

// vllm-v1: one scheduled request, in scheduling order (the order its output is applied in).
struct ScheduledRequest {
  GroupId group = 0;
  int64_t request = 0;   // the group's request id, to check the group is still the same
  int32_t start = 0;     // tokens computed (or scheduled) before this step
  int32_t length = 0;    // tokens scheduled
  bool samples = false;  // the step samples a token: the tokens reach the end of the known ones
};

struct Schedule {
  std::vector<PrefillChunk> prefills;
  std::vector<DecodeItem> decodes;
  std::vector<BlockCopy> swap_out, swap_in, copies;
  std::vector<GroupId> rejected;        // requests that can never be served (left every queue)
  std::vector<ScheduledRequest> order;  // vllm-v1: every scheduled request, in order
  int32_t preemptions = 0;
  int64_t recomputed_tokens = 0;
  bool empty() const {
    return prefills.empty() && decodes.empty() && swap_in.empty() && swap_out.empty() &&
           preemptions == 0;
  }
};

// Groups live in one table with reused slots, so memory stays flat over long runs.
class GroupTable {
 public:
  GroupId add(SequenceGroup group);
  void remove(GroupId id);
  SequenceGroup& operator[](GroupId id) { return slots_[static_cast<size_t>(id)]; }
  const SequenceGroup& operator[](GroupId id) const { return slots_[static_cast<size_t>(id)]; }
  int32_t size() const { return static_cast<int32_t>(slots_.size() - free_.size()); }

 private:
  std::vector<SequenceGroup> slots_;
  std::vector<GroupId> free_;
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, KvAllocator& allocator, GroupTable& groups,
            std::vector<Event>& events);
  virtual ~Scheduler() = default;

  const SchedulerConfig& config() const { return config_; }
  void enqueue(GroupId group);  // an arrived request joins the back of the waiting queue
  // Decides one step. now: simulated time at the step's start (only arrived requests are admitted).
  virtual Schedule schedule(int64_t step, double now) = 0;
  // A running group that finished (its blocks already freed) leaves the running queue.
  void retire(GroupId group);
  // A waiting group that finished (vllm-v1: a preempted request's last token arrived late) leaves
  // the waiting queue.
  void retire_waiting(GroupId group);
  // Gives up on the head of the line when it can never run (nothing else runs or waits to):
  // returns the group rejected, if any.
  std::optional<GroupId> reject_blocked(int64_t step, double now);

  const std::deque<GroupId>& waiting() const { return waiting_; }
  const std::vector<GroupId>& running() const { return running_; }
  const std::deque<GroupId>& swapped() const { return swapped_; }
  int32_t running_seqs() const;

 protected:
  void emit(EventKind kind, const SequenceGroup& g, SeqId seq, int64_t a = 0, int64_t b = 0);

  SchedulerConfig config_;
  KvAllocator& allocator_;
  GroupTable& groups_;
  std::vector<Event>& events_;
  std::deque<GroupId> waiting_;
  std::vector<GroupId>
      running_;  // in scheduling order: admission order (or priority, then admission)
  std::deque<GroupId> swapped_;
  int64_t admissions_ = 0;
  int64_t step_ = 0;
  double now_ = 0.0;
};

// The scheduler of config.semantics. vllm-v1 needs an allocator with a chunk_allocator().
std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config, KvAllocator& allocator,
                                          GroupTable& groups, std::vector<Event>& events);

}  // namespace tinyserve
