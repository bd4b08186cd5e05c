// The scheduler: continuous batching over three queues (waiting, running, swapped). Each step:
//   1. decodes of running sequences, oldest admission first; a sequence that cannot get its next
//      slot preempts a victim (the most recently admitted group, or the lowest-priority one),
//      possibly itself: recompute (free its blocks, back to the front of the waiting queue) or
//      swap (blocks copied to the CPU pool); a group is preempted whole; a group that cannot grow
//      even when it runs alone can never finish in this pool and is rejected;
//   2. prefill chunks of running groups still computing their prompt;
//   3. swap-ins, when nothing was preempted this step;
//   4. new prefills in arrival order, chunked to the token budget, when nothing was preempted and
//      nothing is swapped out; admission asks the allocator first (watermark, prefix hits).
// Capped by max_num_seqs (sequences) and max_num_batched_tokens (tokens). Every decision is an
// event.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "core/base/named.h"
#include "core/scheduling/events.h"
#include "core/memory/kv_allocator.h"
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
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 2048;
  bool chunked_prefill = true;
  PreemptionMode preemption = PreemptionMode::kRecompute;
  VictimPolicy victim = VictimPolicy::kNewest;
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

struct Schedule {
  std::vector<PrefillChunk> prefills;
  std::vector<DecodeItem> decodes;
  std::vector<BlockCopy> swap_out, swap_in, copies;
  std::vector<GroupId> rejected;  // requests that can never be served (left every queue)
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

  const SchedulerConfig& config() const { return config_; }
  void enqueue(GroupId group);  // an arrived request joins the back of the waiting queue
  // Decides one step. now: simulated time at the step's start (only arrived requests are admitted).
  Schedule schedule(int64_t step, double now);
  // A running group that finished (its blocks already freed) leaves the running queue.
  void retire(GroupId group);
  // Gives up on the head of the line when it can never run (nothing else runs or waits to):
  // returns the group rejected, if any.
  std::optional<GroupId> reject_blocked(int64_t step, double now);

  const std::deque<GroupId>& waiting() const { return waiting_; }
  const std::vector<GroupId>& running() const { return running_; }
  const std::deque<GroupId>& swapped() const { return swapped_; }
  int32_t running_seqs() const;

 private:
  bool schedule_decode(GroupId g, Schedule& out);
  void preempt(GroupId victim, Schedule& out);
  void reject_running(GroupId g, Schedule& out);
  GroupId pick_victim() const;
  bool try_swap_in(GroupId g, Schedule& out, int32_t& seq_budget, int32_t& token_budget);
  bool try_admit(GroupId g, Schedule& out, int32_t& seq_budget, int32_t& token_budget);
  void schedule_prefill(GroupId g, Schedule& out, int32_t& token_budget);
  void emit(EventKind kind, const SequenceGroup& g, SeqId seq, int64_t a = 0, int64_t b = 0);

  SchedulerConfig config_;
  KvAllocator& allocator_;
  GroupTable& groups_;
  std::vector<Event>& events_;
  std::deque<GroupId> waiting_;
  std::vector<GroupId> running_;  // in scheduling order: admission order (or priority, then admission)
  std::deque<GroupId> swapped_;
  int64_t admissions_ = 0;
  int64_t step_ = 0;
  double now_ = 0.0;
};

}  // namespace tinyserve
