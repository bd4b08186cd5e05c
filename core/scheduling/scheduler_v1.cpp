#include "core/scheduling/scheduler_v1.h"

#include <algorithm>
#include <cassert>

#include "core/memory/prefix_cache.h"

namespace tinyserve {

SchedulerV1::SchedulerV1(const SchedulerConfig& config, KvAllocator& allocator, GroupTable& groups,
                         std::vector<Event>& events)
    : Scheduler(config, allocator, groups, events),
      chunks_(*allocator.chunk_allocator()),
      block_size_(allocator.block_size()),
      hashing_(allocator.caches_prefixes()) {}

std::span<const BlockHash> full_block_hashes(Sequence& s, int32_t block_size, bool hashing) {
  if (!hashing) return {};
  hash_chain(s.tokens, block_size, static_cast<int32_t>(s.tokens.size()) / block_size,
             s.block_hashes);
  return s.block_hashes;
}

Schedule SchedulerV1::schedule(int64_t step, double now) {
  step_ = step;
  now_ = now;
  Schedule out;
  int32_t budget = config_.max_num_batched_tokens;
  bool preempted = false;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    if (!schedule_running(running_[i], budget, out, preempted)) break;  // it preempted itself
    ++i;
  }
  if (!preempted) {
    while (budget > 0 && !waiting_.empty() &&
           static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
      if (!try_admit(waiting_.front(), budget, out)) break;  // head-of-line blocking
    }
  }
  commit(out);
  return out;
}

// Returns false when the request preempted itself (the running loop stops).
bool SchedulerV1::schedule_running(GroupId g, int32_t& budget, Schedule& out, bool& preempted) {
  SequenceGroup& r = groups_[g];
  Sequence& s = r.seqs.front();
  // Asynchronous scheduling: the token in flight is the last one, no step is left to schedule.
  if (r.placeholders > 0 && s.num_computed + 2 - r.placeholders >= r.prompt_len + r.output_len) {
    return true;
  }
  const auto known = static_cast<int32_t>(s.tokens.size());
  int32_t n = std::min(known + r.placeholders - s.num_computed, budget);
  if (config_.max_model_len > 0) n = std::min(n, config_.max_model_len - 1 - s.num_computed);
  if (n <= 0) return true;
  while (!chunks_.allocate_slots(s.id, s.num_computed + n)) {
    const GroupId victim = running_.back();
    preempt(victim, out);
    preempted = true;
    if (victim == g) return false;
  }
  chunks_.cache_blocks(s.id, hashes(s), std::min(s.num_computed + n, known));
  add(g, n, out);
  budget -= n;
  return true;
}

bool SchedulerV1::try_admit(GroupId g, int32_t& budget, Schedule& out) {
  SequenceGroup& r = groups_[g];
  Sequence& s = r.seqs.front();
  const auto known = static_cast<int32_t>(s.tokens.size());
  const std::span<const BlockHash> chain = hashes(s);
  const PrefixHit hit = chunks_.find_prefix(
      chain.first(std::min(chain.size(), static_cast<size_t>((known - 1) / block_size_))));
  const int32_t cached = hit.blocks * block_size_;
  const int32_t n = std::min(known - cached, budget);
  if (!config_.chunked_prefill && n < known - cached) return false;
  if (!chunks_.can_admit(known, hit, !running_.empty())) return false;
  chunks_.admit(s.id, chain, hit, known, cached + n);
  chunks_.cache_blocks(s.id, chain, std::min(cached + n, known));
  waiting_.pop_front();
  running_.push_back(g);
  r.status = GroupStatus::kRunning;
  r.admitted = admissions_++;
  s.num_computed = cached;
  if (r.cached_tokens < 0) r.cached_tokens = cached;
  emit(EventKind::kAdmit, r, s.id, static_cast<int64_t>(allocator_.table(s.id).blocks.size()),
       known);
  if (cached > 0) emit(EventKind::kPrefixHit, r, s.id, cached, known);
  add(g, n, out);
  budget -= n;
  return true;
}

void SchedulerV1::preempt(GroupId victim, Schedule& out) {
  assert(running_.back() == victim);
  running_.pop_back();
  SequenceGroup& v = groups_[victim];
  Sequence& s = v.seqs.front();
  allocator_.free(s.id);
  const int32_t discarded = s.num_computed - v.placeholders;
  s.num_computed = 0;
  v.stale = v.in_flight;  // tokens still in flight arrive, but change no counter
  v.placeholders = 0;
  ++v.preemptions;
  v.in_prefill = true;
  v.status = GroupStatus::kWaiting;
  waiting_.push_front(victim);
  ++out.preemptions;
  out.recomputed_tokens += discarded;
  emit(EventKind::kPreemptRecompute, v, s.id, discarded);
}

void SchedulerV1::add(GroupId g, int32_t length, Schedule& out) {
  const SequenceGroup& r = groups_[g];
  out.order.push_back({g, r.request, r.seqs.front().num_computed, length, false});
}

// vLLM's _update_after_schedule: computed counts advance by what was scheduled.
void SchedulerV1::commit(Schedule& out) {
  for (ScheduledRequest& item : out.order) {
    SequenceGroup& r = groups_[item.group];
    Sequence& s = r.seqs.front();
    s.num_computed += item.length;
    item.samples = s.num_computed >= static_cast<int32_t>(s.tokens.size()) + r.placeholders;
    r.in_prefill = !item.samples;
    if (config_.async_scheduling) {
      r.in_flight += item.length;
      if (item.samples) ++r.placeholders;
    }
    if (item.length == 1 && item.start >= r.prompt_len && item.samples) {
      out.decodes.push_back({item.group, 0, allocator_.table(s.id).slot(item.start, block_size_)});
    } else {
      out.prefills.push_back({item.group, 0, item.start, item.length});
    }
  }
}

}  // namespace tinyserve
