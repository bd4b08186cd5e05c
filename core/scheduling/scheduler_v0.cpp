#include "core/scheduling/scheduler_v0.h"

#include <algorithm>
#include <cassert>

#include "core/memory/prefix_cache.h"

namespace tinyserve {

namespace {
std::vector<SeqId> seq_ids(const SequenceGroup& g) {
  std::vector<SeqId> ids;
  ids.reserve(g.seqs.size());
  for (const Sequence& s : g.seqs) ids.push_back(s.id);
  return ids;
}
}  // namespace

Schedule SchedulerV0::schedule(int64_t step, double now) {
  step_ = step;
  now_ = now;
  Schedule out;
  int32_t token_budget = config_.max_num_batched_tokens;

  // 1. Decodes, in scheduling order; victims come from the back, so they are never groups that
  // already got their slots this step.
  for (size_t i = 0; i < running_.size();) {
    const GroupId g = running_[i];
    if (groups_[g].in_prefill) {
      ++i;
      continue;
    }
    if (!schedule_decode(g, out)) continue;  // it preempted itself (it was the back)
    token_budget -= static_cast<int32_t>(groups_[g].seqs.size());
    ++i;
  }
  token_budget = std::max(token_budget, 0);

  // 2. Running groups still computing their prompt.
  for (GroupId g : running_) {
    if (groups_[g].in_prefill) schedule_prefill(g, out, token_budget);
  }
  if (out.preemptions > 0) return out;

  // 3. Swap-ins, then 4. new prefills only when nothing waits to be swapped in.
  int32_t seq_budget = config_.max_num_seqs - running_seqs();
  while (!swapped_.empty() && try_swap_in(swapped_.front(), out, seq_budget, token_budget)) {
    swapped_.pop_front();
  }
  if (!swapped_.empty()) return out;
  while (!waiting_.empty()) {
    const GroupId g = waiting_.front();
    const GroupStatus before = groups_[g].status;
    if (!try_admit(g, out, seq_budget, token_budget)) {
      if (groups_[g].status == before) break;  // blocked: head-of-line waits
      out.rejected.push_back(g);
    }
    waiting_.pop_front();  // admitted or rejected
  }
  return out;
}

bool SchedulerV0::schedule_decode(GroupId g, Schedule& out) {
  for (;;) {
    int32_t needed = 0;
    for (const Sequence& s : groups_[g].seqs) needed += allocator_.blocks_needed_to_append(s.id);
    if (needed <= allocator_.num_available_blocks()) break;
    if (running_.size() == 1) {
      // Alone with every other block available, it still cannot grow: it can never finish in this
      // pool (preempting it would only restart it, forever).
      reject_running(g, out);
      return false;
    }
    const GroupId victim = pick_victim();
    preempt(victim, out);
    if (victim == g) return false;
  }
  SequenceGroup& group = groups_[g];
  for (size_t i = 0; i < group.seqs.size(); ++i) {
    const AppendResult r = allocator_.append_slot(group.seqs[i].id);
    out.decodes.push_back({g, static_cast<int32_t>(i), r.slot});
    if (r.cow.src != kNoBlock) {
      out.copies.push_back(r.cow);
      emit(EventKind::kCopyOnWrite, group, group.seqs[i].id, r.cow.src, r.cow.dst);
    }
  }
  return true;
}

void SchedulerV0::reject_running(GroupId g, Schedule& out) {
  SequenceGroup& group = groups_[g];
  running_.erase(std::find(running_.begin(), running_.end(), g));
  int64_t tokens = 0;
  for (const Sequence& s : group.seqs) {
    tokens += static_cast<int64_t>(s.tokens.size());
    allocator_.free(s.id);
  }
  group.status = GroupStatus::kRejected;
  out.rejected.push_back(g);
  emit(EventKind::kReject, group, group.seqs.front().id, tokens);
}

GroupId SchedulerV0::pick_victim() const {
  // running_ is kept in scheduling order with the preferred victim last.
  return running_.back();
}

void SchedulerV0::preempt(GroupId victim, Schedule& out) {
  SequenceGroup& v = groups_[victim];
  running_.erase(std::find(running_.begin(), running_.end(), victim));
  ++v.preemptions;
  ++out.preemptions;
  const std::vector<SeqId> ids = seq_ids(v);
  KvSwapper* swapper = allocator_.swapper();
  if (config_.preemption == PreemptionMode::kSwap && swapper != nullptr &&
      swapper->can_swap_out(ids)) {
    const std::vector<BlockCopy> copies = swapper->swap_out(ids);
    out.swap_out.insert(out.swap_out.end(), copies.begin(), copies.end());
    v.status = GroupStatus::kSwapped;
    swapped_.push_back(victim);
    emit(EventKind::kPreemptSwap, v, ids.front(), static_cast<int64_t>(copies.size()));
    return;
  }
  // Recompute: a single sequence keeps its tokens and recomputes them all; a group that has
  // fanned out (samples, beams) starts over from its prompt, as vLLM v0 cannot recompute one.
  int64_t discarded = 0;
  for (const Sequence& s : v.seqs) {
    discarded += s.num_computed;
    allocator_.free(s.id);
  }
  if (v.fanned_out) {
    Sequence first = std::move(v.seqs.front());
    first.tokens.resize(static_cast<size_t>(v.prompt_len));
    first.block_hashes.resize(std::min(
        first.block_hashes.size(), static_cast<size_t>(v.prompt_len / allocator_.block_size())));
    first.score = 0.0;
    v.seqs.assign(1, std::move(first));
    v.fanned_out = false;
  }
  v.seqs.front().num_computed = 0;
  v.in_prefill = true;
  v.status = GroupStatus::kWaiting;
  waiting_.push_front(victim);
  out.recomputed_tokens += discarded;
  emit(EventKind::kPreemptRecompute, v, ids.front(), discarded);
}

namespace {
// Scheduling order of running groups: admission order, or priority first (lower value = more
// important) when victims are chosen by priority. The back of the order is the next victim.
bool before(const SequenceGroup& a, const SequenceGroup& b, VictimPolicy policy) {
  if (policy == VictimPolicy::kLowestPriority && a.priority != b.priority) {
    return a.priority < b.priority;
  }
  return a.admitted < b.admitted;
}
}  // namespace

bool SchedulerV0::try_swap_in(GroupId g, Schedule& out, int32_t& seq_budget,
                              int32_t& token_budget) {
  SequenceGroup& group = groups_[g];
  const std::vector<SeqId> ids = seq_ids(group);
  const auto num_seqs = static_cast<int32_t>(ids.size());
  if (group.max_seqs() > seq_budget || num_seqs > token_budget) return false;
  KvSwapper& swapper = *allocator_.swapper();  // only a swapper swaps groups out
  if (!swapper.can_swap_in(ids)) return false;
  // Room for the blocks and for one new block per sequence to decode into this step.
  if (allocator_.num_available_blocks() - swapper.blocks_to_swap(ids) < num_seqs) return false;
  const std::vector<BlockCopy> copies = swapper.swap_in(ids);
  out.swap_in.insert(out.swap_in.end(), copies.begin(), copies.end());
  emit(EventKind::kSwapIn, group, ids.front(), static_cast<int64_t>(copies.size()));
  group.status = GroupStatus::kRunning;
  group.admitted = admissions_++;
  running_.push_back(g);  // most recently (re)admitted: the back in either order
  if (config_.victim == VictimPolicy::kLowestPriority) {
    std::stable_sort(running_.begin(), running_.end(), [&](GroupId x, GroupId y) {
      return before(groups_[x], groups_[y], config_.victim);
    });
  }
  seq_budget -= group.max_seqs();
  if (group.in_prefill) {
    schedule_prefill(g, out, token_budget);
  } else {
    const bool ok = schedule_decode(g, out);
    assert(ok);
    (void)ok;
    token_budget -= num_seqs;
  }
  return true;
}

bool SchedulerV0::try_admit(GroupId g, Schedule& out, int32_t& seq_budget, int32_t& token_budget) {
  SequenceGroup& group = groups_[g];
  if (group.arrival > now_ || token_budget <= 0 || group.max_seqs() > seq_budget) return false;
  Sequence& s = group.seqs.front();
  const auto len = static_cast<int32_t>(s.tokens.size());
  if (!config_.chunked_prefill && len > token_budget) return false;
  if (allocator_.caches_prefixes()) {  // hashed once, reused while the request waits
    hash_chain(s.tokens, allocator_.block_size(), len / allocator_.block_size(), s.block_hashes);
  }
  const AllocRequest request{s.tokens, group.final_len(), group.max_seqs(), s.block_hashes};
  const AllocStatus status = allocator_.can_allocate(request);
  if (status == AllocStatus::kNever) {
    group.status = GroupStatus::kRejected;
    emit(EventKind::kReject, group, s.id, len);
    return false;
  }
  if (status == AllocStatus::kLater) return false;
  const int32_t cached = allocator_.allocate(s.id, request);
  s.num_computed = cached;
  if (group.cached_tokens < 0) group.cached_tokens = cached;
  group.status = GroupStatus::kRunning;
  group.admitted = admissions_++;
  const auto pos = std::upper_bound(running_.begin(), running_.end(), g, [&](GroupId x, GroupId y) {
    return before(groups_[x], groups_[y], config_.victim);
  });
  running_.insert(pos, g);
  seq_budget -= group.max_seqs();
  emit(EventKind::kAdmit, group, s.id, static_cast<int64_t>(allocator_.table(s.id).blocks.size()),
       len);
  if (cached > 0) emit(EventKind::kPrefixHit, group, s.id, cached, len);
  schedule_prefill(g, out, token_budget);
  return true;
}

void SchedulerV0::schedule_prefill(GroupId g, Schedule& out, int32_t& token_budget) {
  const SequenceGroup& group = groups_[g];
  const Sequence& s = group.seqs.front();
  const int32_t pending = static_cast<int32_t>(s.tokens.size()) - s.num_computed;
  const int32_t chunk = std::min(pending, token_budget);
  if (chunk <= 0 || (!config_.chunked_prefill && chunk < pending)) return;
  out.prefills.push_back({g, 0, s.num_computed, chunk});
  token_budget -= chunk;
}

}  // namespace tinyserve
