#include "core/engine/engine.h"

#include <algorithm>
#include <cassert>

#include "core/base/strings.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/kv_cache_manager.h"

namespace tinyserve {

std::unique_ptr<KvAllocator> make_allocator(const EngineConfig& c) {
  const KvGeometry& g = c.geometry;
  // Debug builds check the allocator after every operation, unless the engine checks everything
  // after every step (check_invariants), which is enough and much faster.
  const bool check_operations = kDebugBuild && !c.check_invariants;
  if (const auto* paged = std::get_if<PagedOptions>(&c.allocator)) {
    KvCacheConfig k;
    k.block_size = g.block_size;
    k.num_gpu_blocks = g.num_gpu_blocks;
    k.num_cpu_blocks = g.num_cpu_blocks;
    k.policy = paged->free_list;
    k.enable_prefix_caching = paged->prefix_caching;
    k.watermark = paged->watermark;
    k.seed = c.seed;
    k.check_invariants = check_operations;
    return std::make_unique<KvCacheManager>(k);
  }
  const auto& contiguous = std::get<ContiguousOptions>(c.allocator);
  ContiguousConfig k;
  k.block_size = g.block_size;
  k.num_blocks = g.num_gpu_blocks;
  k.max_model_len = c.max_model_len;
  k.reservation = contiguous.reservation;
  k.watermark = contiguous.watermark;
  k.check_invariants = check_operations;
  return std::make_unique<ContiguousAllocator>(k);
}

Engine::Engine(const EngineConfig& config, std::vector<RequestSpec> requests,
               std::unique_ptr<Backend> backend)
    : config_(config),
      requests_(std::move(requests)),
      allocator_(make_allocator(config)),
      backend_(std::move(backend)),
      scheduler_(std::make_unique<Scheduler>(config.scheduler, *allocator_, groups_, events_)),
      sampler_(config.seed, *allocator_, events_),
      recorder_(config_, allocator_->stats().num_blocks) {
  assert(std::is_sorted(requests_.begin(), requests_.end(),
                        [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; }));
}

bool Engine::done() const {
  if (failed_) return true;
  if (config_.max_steps > 0 && step_ >= config_.max_steps) return true;
  return next_request_ == requests_.size() && scheduler_->waiting().empty() &&
         scheduler_->running().empty() && scheduler_->swapped().empty();
}

void Engine::step() {
  assert(!done());
  events_.clear();
  sampler_.set_clock(step_, now_);
  const Schedule s = schedule_step();
  if (s.empty()) return;  // every remaining request was rejected: nothing ran

  // Execute: the cost model times the step; a measuring backend may replace its attention part.
  const StepWork work = count_work(s);
  const StepCost cost = estimate_step(config_.cost, config_.geometry, work);
  if (backend_->executes()) build_plan(s);
  KernelTimes times;
  try {
    times = backend_->execute(plan_);
  } catch (...) {
    failed_ = true;
    throw;
  }
  const double step_s =
      config_.clock == ClockMode::kMeasured && times.measured()
          ? measured_step_s(config_.cost, config_.geometry, cost, times.attention_ms)
          : cost.total_s;
  const double end_time = now_ + step_s;

  StepOutcome outcome;
  outcome.step = step_;
  outcome.end_time = end_time;
  outcome.step_s = step_s;
  outcome.batch = static_cast<int32_t>(s.decodes.size());
  for (const PrefillChunk& c : s.prefills) {
    const auto len = static_cast<int32_t>(groups_[c.group].seqs.front().tokens.size());
    outcome.batch += c.start + c.length == len;  // the prompt's last token samples
  }
  outcome.generated = advance(s, end_time);
  outcome.finished_total = finished_;
  outcome.rejected_total = rejected_;
  recorder_.record_step(outcome, s, cost, times, *scheduler_, groups_, *allocator_);
  if (const auto& evicted = recorder_.last_evicted(); !evicted.empty()) {
    events_.push_back({step_, now_, EventKind::kEvict, -1, kNoSeq,
                       static_cast<int64_t>(evicted.size()), evicted.front()});
  }
  now_ = end_time;
  ++step_;
  if (config_.check_invariants) {
    if (std::string e = check_invariants(); !e.empty()) {
      failed_ = true;
      throw InvariantViolation(cat("step ", step_, ": ", e));
    }
  }
}

// Arrived requests join the waiting queue. The model's context limit applies as in vLLM: a prompt
// that leaves no room for one output token is rejected (the event counts the tokens it needs),
// and an output is capped so that prompt + output fits.
void Engine::admit_arrivals() {
  while (next_request_ < requests_.size() && requests_[next_request_].arrival <= now_) {
    RequestSpec& r = requests_[next_request_++];
    SequenceGroup g;
    g.request = r.id;
    g.arrival = r.arrival;
    g.prompt_len = r.prompt_len();
    g.output_len = std::max(r.output_len, 1);
    g.n = std::max(r.n, 1);
    g.beam_width = std::max(r.beam_width, 1);
    g.priority = r.priority;
    Sequence s;
    s.id = sampler_.new_seq_id();
    events_.push_back({step_, now_, EventKind::kArrive, g.request, s.id, g.prompt_len,
                       g.output_len});
    const int32_t limit = config_.max_model_len;
    if (limit > 0 && g.prompt_len >= limit) {
      events_.push_back({step_, now_, EventKind::kReject, g.request, s.id,
                         int64_t{g.prompt_len} + g.output_len, limit});
      g.seqs.push_back(std::move(s));
      recorder_.request_done(g, RequestStatus::kRejected, now_);
      ++rejected_;
      ++over_limit_;
      r.prompt = {};
      continue;
    }
    if (limit > 0 && g.output_len > limit - g.prompt_len) {
      g.output_len = limit - g.prompt_len;
      ++capped_;
    }
    s.tokens.reserve(static_cast<size_t>(g.prompt_len + g.output_len));
    append_prompt_tokens(r, s.tokens);
    r.prompt = {};  // the tokens now live in the sequence
    g.seqs.push_back(std::move(s));
    scheduler_->enqueue(groups_.add(std::move(g)));
  }
}

// Schedules the next step; when nothing can run, rejects what never will or jumps the clock to
// the next arrival.
Schedule Engine::schedule_step() {
  admit_arrivals();
  Schedule s = scheduler_->schedule(step_, now_);
  drop_rejected(s);
  while (s.empty()) {
    if (const auto g = scheduler_->reject_blocked(step_, now_)) {
      reject(*g);
    } else if (next_request_ < requests_.size()) {
      now_ = std::max(now_, requests_[next_request_].arrival);
      sampler_.set_clock(step_, now_);
      admit_arrivals();
    } else if (done()) {
      return s;
    } else {
      failed_ = true;
      throw std::logic_error(cat("the scheduler stalled at step ", step_, " with ",
                                 scheduler_->waiting().size(), " waiting and ",
                                 scheduler_->swapped().size(), " swapped requests"));
    }
    s = scheduler_->schedule(step_, now_);
    drop_rejected(s);
  }
  return s;
}

void Engine::reject(GroupId g) {
  recorder_.request_done(groups_[g], RequestStatus::kRejected, now_);
  groups_.remove(g);
  ++rejected_;
}

void Engine::drop_rejected(const Schedule& s) {
  for (GroupId g : s.rejected) reject(g);
}

StepWork Engine::count_work(const Schedule& s) const {
  StepWork w;
  for (const PrefillChunk& c : s.prefills) {
    w.new_tokens += c.length;
    w.context_tokens_read += c.start + c.length;
    w.attention_pairs += static_cast<int64_t>(c.length) * c.start +
                         static_cast<int64_t>(c.length) * (c.length + 1) / 2;
  }
  for (const DecodeItem& d : s.decodes) {
    const int64_t context = allocator_->table(groups_[d.group].seqs[static_cast<size_t>(d.seq)].id).num_tokens;
    w.new_tokens += 1;
    w.context_tokens_read += context;
    w.attention_pairs += context;
  }
  w.copied_blocks = static_cast<int64_t>(s.copies.size()) + sampler_.num_pending_copies();
  w.swapped_blocks = static_cast<int64_t>(s.swap_in.size() + s.swap_out.size());
  return w;
}

void Engine::build_plan(const Schedule& s) {
  plan_.clear();
  plan_.step = step_;
  plan_.block_size = config_.geometry.block_size;
  plan_.swap_out = s.swap_out;
  plan_.swap_in = s.swap_in;
  plan_.copies = sampler_.pending_copies();
  plan_.copies.insert(plan_.copies.end(), s.copies.begin(), s.copies.end());
  const int32_t bs = allocator_->block_size();
  auto add_query = [&](const Sequence& seq) {
    const BlockTable& t = allocator_->table(seq.id);
    plan_.batch_seqs.push_back(seq.id);
    plan_.context_lens.push_back(t.num_tokens);
    plan_.query_tokens.push_back(seq.tokens[static_cast<size_t>(t.num_tokens - 1)]);
    plan_.query_positions.push_back(t.num_tokens - 1);
    plan_.max_blocks_per_seq = std::max(plan_.max_blocks_per_seq, static_cast<int32_t>(t.blocks.size()));
  };
  for (const PrefillChunk& c : s.prefills) {
    const Sequence& seq = groups_[c.group].seqs[static_cast<size_t>(c.seq)];
    const BlockTable& t = allocator_->table(seq.id);
    for (int32_t pos = c.start; pos < c.start + c.length; ++pos) {
      plan_.slot_mapping.push_back(t.slot(pos, bs));
      plan_.new_tokens.push_back(seq.tokens[static_cast<size_t>(pos)]);
      plan_.new_positions.push_back(pos);
    }
    // The prompt's last token is the query whose attention samples the next token.
    if (c.start + c.length == static_cast<int32_t>(seq.tokens.size())) add_query(seq);
  }
  for (const DecodeItem& d : s.decodes) {
    const Sequence& seq = groups_[d.group].seqs[static_cast<size_t>(d.seq)];
    const int32_t pos = static_cast<int32_t>(seq.tokens.size()) - 1;
    plan_.slot_mapping.push_back(d.slot);
    plan_.new_tokens.push_back(seq.tokens.back());
    plan_.new_positions.push_back(pos);
    add_query(seq);
  }
  plan_.block_tables.assign(plan_.batch_seqs.size() * static_cast<size_t>(plan_.max_blocks_per_seq), -1);
  for (size_t i = 0; i < plan_.batch_seqs.size(); ++i) {
    const auto& blocks = allocator_->table(plan_.batch_seqs[i]).blocks;
    std::copy(blocks.begin(), blocks.end(),
              plan_.block_tables.begin() + static_cast<std::ptrdiff_t>(i) * plan_.max_blocks_per_seq);
  }
}

int64_t Engine::advance(const Schedule& s, double end_time) {
  last_copies_ = sampler_.take_copies();  // executed by this step's plan
  last_copies_.insert(last_copies_.end(), s.copies.begin(), s.copies.end());
  int64_t generated = 0;
  for (const PrefillChunk& c : s.prefills) {
    SequenceGroup& g = groups_[c.group];
    Sequence& seq = g.seqs[static_cast<size_t>(c.seq)];
    seq.num_computed += c.length;
    allocator_->mark_computed(seq.id, seq.num_computed);
    if (seq.num_computed < static_cast<int32_t>(seq.tokens.size())) continue;
    g.in_prefill = false;
    if (g.first_token_time < 0) g.first_token_time = end_time;
    generated += sampler_.first_tokens(g);
    finish_if_done(c.group, end_time);
  }
  // Decode items of one group are contiguous: advance group by group.
  for (size_t i = 0; i < s.decodes.size();) {
    const GroupId gid = s.decodes[i].group;
    SequenceGroup& g = groups_[gid];
    for (; i < s.decodes.size() && s.decodes[i].group == gid; ++i) {
      ++g.seqs[static_cast<size_t>(s.decodes[i].seq)].num_computed;
    }
    generated += sampler_.next_tokens(g);
    finish_if_done(gid, end_time);
  }
  return generated;
}

void Engine::finish_if_done(GroupId gid, double t) {
  SequenceGroup& g = groups_[gid];
  auto done_seq = [&](const Sequence& s) { return g.generated(s) >= g.output_len; };
  for (size_t i = 0; i < g.seqs.size();) {
    if (done_seq(g.seqs[i])) {
      events_.push_back({step_, now_, EventKind::kFree, g.request, g.seqs[i].id,
                         static_cast<int64_t>(allocator_->table(g.seqs[i].id).blocks.size()), 0});
      allocator_->free(g.seqs[i].id);
      g.seqs.erase(g.seqs.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  if (!g.seqs.empty()) return;
  g.status = GroupStatus::kFinished;
  g.finish_time = t;
  recorder_.request_done(g, RequestStatus::kFinished, t);
  events_.push_back({step_, now_, EventKind::kFinish, g.request, kNoSeq, g.output_len, 0});
  scheduler_->retire(gid);
  groups_.remove(gid);
  ++finished_;
}

std::vector<RequestResult> Engine::unfinished_results() const {
  std::vector<RequestResult> out;
  auto add = [&](auto&& queue) {
    for (GroupId g : queue) out.push_back(request_result(groups_[g], RequestStatus::kUnfinished, -1));
  };
  add(scheduler_->running());
  add(scheduler_->waiting());
  add(scheduler_->swapped());
  return out;
}

std::vector<RequestResult> Engine::all_request_results() const {
  std::vector<RequestResult> out = recorder_.requests();
  const std::vector<RequestResult> rest = unfinished_results();
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

RunSummary Engine::summary() const {
  RunSummary r = recorder_.summary(unfinished_results(), backend_->name(), step_, now_,
                                   num_requests());
  r.scenario = config_.name;
  r.over_max_model_len = over_limit_;
  r.outputs_capped = capped_;
  return r;
}

TINYSERVE_NO_COVERAGE std::string Engine::check_invariants() const {
  if (std::string e = allocator_->check_invariants(); !e.empty()) return e;
  const auto check_group = [&](GroupId gid, GroupStatus expected) -> std::string {
    const SequenceGroup& g = groups_[gid];
    if (g.status != expected) return cat("request ", g.request, " is in the wrong queue");
    if (g.seqs.empty()) return cat("request ", g.request, " has no sequence");
    for (const Sequence& s : g.seqs) {
      const bool holds = allocator_->has(s.id);
      if (expected == GroupStatus::kWaiting) {
        if (holds) return cat("waiting sequence ", s.id, " holds blocks");
        continue;
      }
      if (!holds) return cat("sequence ", s.id, " of request ", g.request, " holds no blocks");
      const int32_t slots = allocator_->table(s.id).num_tokens;
      const auto len = static_cast<int32_t>(s.tokens.size());
      if (g.in_prefill ? slots != len : slots != len - 1 || s.num_computed != len - 1) {
        return cat("sequence ", s.id, " has ", len, " tokens, ", s.num_computed, " computed and ",
                   slots, " slots");
      }
    }
    return {};
  };
  for (GroupId g : scheduler_->waiting()) {
    if (std::string e = check_group(g, GroupStatus::kWaiting); !e.empty()) return e;
  }
  for (GroupId g : scheduler_->running()) {
    if (std::string e = check_group(g, GroupStatus::kRunning); !e.empty()) return e;
  }
  for (GroupId g : scheduler_->swapped()) {
    if (std::string e = check_group(g, GroupStatus::kSwapped); !e.empty()) return e;
  }
  return {};
}

}  // namespace tinyserve
