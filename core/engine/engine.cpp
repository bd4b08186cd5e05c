#include "core/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "core/base/strings.h"
#include "core/execution/selection.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/kv_cache_manager.h"
#include "core/memory/prefix_cache.h"
#include "core/scheduling/scheduler_v1.h"

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
    k.semantics = c.scheduler.semantics;
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

namespace {

bool vllm_v1(const EngineConfig& c) {
  return c.scheduler.semantics == Semantics::kVllmV1;
}

SchedulerConfig scheduler_config(const EngineConfig& c) {
  SchedulerConfig s = c.scheduler;
  s.max_model_len = c.max_model_len;
  return s;
}

}  // namespace

Engine::Engine(const EngineConfig& config, std::vector<RequestSpec> requests,
               std::unique_ptr<Backend> backend)
    : config_(config),
      requests_(vllm_v1(config) ? fan_out_samples(std::move(requests)) : std::move(requests)),
      allocator_(make_allocator(config)),
      backend_(std::move(backend)),
      scheduler_(make_scheduler(scheduler_config(config), *allocator_, groups_, events_)),
      sampler_(config.seed, *allocator_, events_, config.scheduler.semantics),
      recorder_(config_, allocator_->stats().num_blocks) {
  assert(std::is_sorted(
      requests_.begin(), requests_.end(),
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
  if (vllm_v1(config_)) {
    step_v1();
  } else {
    step_v0();
  }
}

void Engine::step_v0() {
  sampler_.set_clock(step_, now_);
  const Schedule s = schedule_step();
  if (s.empty()) return;  // every remaining request was rejected: nothing ran
  if (config_.record_decisions) begin_decisions(s);

  // Execute: the cost model times the step; a measuring backend may replace its attention part.
  StepCost cost;
  KernelTimes times;
  const double step_s = execute(s, cost, times);
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
  finish_step(outcome, s, cost, times, end_time);
}

// What every step ends with, whatever the semantics: the totals, the recorder's row, the
// evictions it saw, the decision record, the clock, and the invariants when asked.
void Engine::finish_step(StepOutcome& outcome, const Schedule& s, const StepCost& cost,
                         const KernelTimes& times, double end_time) {
  outcome.finished_total = finished_;
  outcome.rejected_total = rejected_;
  recorder_.record_step(outcome, s, cost, times, *scheduler_, groups_, *allocator_);
  if (const auto& evicted = recorder_.last_evicted(); !evicted.empty()) {
    events_.push_back({step_, now_, EventKind::kEvict, -1, kNoSeq,
                       static_cast<int64_t>(evicted.size()), evicted.front()});
  }
  if (config_.record_decisions) end_decisions();
  now_ = end_time;
  ++step_;
  if (config_.check_invariants) {
    if (std::string e = check_invariants(); !e.empty()) {
      failed_ = true;
      throw InvariantViolation(cat("step ", step_, ": ", e));
    }
  }
}

// Times the step with the cost model and runs its plan on the backend; returns its duration.
double Engine::execute(const Schedule& s, StepCost& cost, KernelTimes& times) {
  last_work_ = count_work(s);
  cost = estimate_step(config_.cost, config_.geometry, last_work_);
  if (backend_->executes()) build_plan(s);
  try {
    times = backend_->execute(plan_);
  } catch (...) {
    failed_ = true;
    throw;
  }
  if (config_.clock == ClockMode::kSteps) return 1.0;
  return config_.clock == ClockMode::kMeasured && times.measured()
             ? measured_step_s(config_.cost, config_.geometry, cost, times.attention_ms)
             : cost.total_s;
}

bool Engine::has_requests() const {
  return !scheduler_->running().empty() || !scheduler_->waiting().empty() ||
         finished_since_schedule_;
}

// EngineCore.step (schedule, execute, apply the outputs), or with asynchronous scheduling
// EngineCore.step_with_batch_queue: the new batch joins the queue, and the oldest batch's outputs
// are applied once two are queued (or when nothing is left to schedule).
void Engine::step_v1() {
  sampler_.set_clock(step_, now_);
  admit_arrivals();
  // Idle: jump to the next arrival (batches in flight hold no request then). Arrivals can all be
  // rejected (prompts past max_model_len), leaving nothing to schedule at all.
  while (!has_requests() && next_request_ < requests_.size()) {
    in_flight_.clear();
    now_ = std::max(now_, arrival_time(requests_[next_request_].arrival));
    sampler_.set_clock(step_, now_);
    admit_arrivals();
  }
  if (!has_requests()) return;  // every remaining request was rejected on arrival
  finished_since_schedule_ = false;
  const Schedule s = scheduler_->schedule(step_, now_);
  if (config_.record_decisions) begin_decisions(s);
  reject_unfit(s);

  StepCost cost;
  KernelTimes times;
  const double step_s = execute(s, cost, times);
  const double end_time = now_ + step_s;

  StepOutcome outcome;
  outcome.step = step_;
  outcome.end_time = end_time;
  outcome.step_s = step_s;
  for (const ScheduledRequest& item : s.order) outcome.batch += item.samples;
  last_copies_.clear();
  if (!config_.scheduler.async_scheduling) {
    outcome.generated = apply_outputs(s, end_time);
  } else {
    const bool executed = !s.order.empty();
    in_flight_.push_front(s);
    if (in_flight_.size() >= 2 || (!executed && !has_requests())) {
      outcome.generated = apply_outputs(in_flight_.back(), end_time);
      in_flight_.pop_back();
    }
  }
  finish_step(outcome, s, cost, times, end_time);
}

// vLLM's update_from_output: request by request in scheduling order, a sampled token is
// appended; a finished request frees its blocks at once. Under asynchronous scheduling the
// token resolves a placeholder and the blocks it completes are cached; a token that was in
// flight when its request was preempted is still appended but changes no counter.
int64_t Engine::apply_outputs(const Schedule& batch, double end_time) {
  const bool async = config_.scheduler.async_scheduling;
  int64_t generated = 0;
  for (const ScheduledRequest& item : batch.order) {
    SequenceGroup& g = groups_[item.group];
    if (g.request != item.request ||
        (g.status != GroupStatus::kRunning && g.status != GroupStatus::kWaiting)) {
      continue;  // finished since
    }
    if (async) g.in_flight -= item.length;
    const bool stale = g.stale > 0;
    if (stale) g.stale -= item.length;
    if (!item.samples) continue;
    const bool had_placeholders = g.placeholders > 0;
    generated += sampler_.next_tokens(g);
    Sequence& seq = g.seqs.front();
    if (!stale && had_placeholders) {
      --g.placeholders;
      if (g.status == GroupStatus::kRunning) {
        allocator_->chunk_allocator()->cache_blocks(
            seq.id, full_block_hashes(seq, allocator_->block_size(), allocator_->caches_prefixes()),
            seq.num_computed - g.in_flight);
      }
    }
    if (g.first_token_time < 0) g.first_token_time = end_time;
    if (g.generated(seq) >= g.output_len) finish(item.group, end_time);
  }
  return generated;
}

void Engine::finish(GroupId gid, double t) {
  SequenceGroup& g = groups_[gid];
  const bool running = g.status == GroupStatus::kRunning;
  for (const Sequence& s : g.seqs) {
    if (!allocator_->has(s.id)) continue;
    events_.push_back({step_, now_, EventKind::kFree, g.request, s.id,
                       static_cast<int64_t>(allocator_->table(s.id).blocks.size()), 0});
    allocator_->free(s.id);
  }
  g.status = GroupStatus::kFinished;
  g.finish_time = t;
  recorder_.request_done(g, RequestStatus::kFinished, t);
  events_.push_back({step_, now_, EventKind::kFinish, g.request, kNoSeq, g.output_len, 0});
  if (running) {
    scheduler_->retire(gid);
  } else {
    scheduler_->retire_waiting(gid);
  }
  groups_.remove(gid);
  ++finished_;
  finished_since_schedule_ = true;
}

void Engine::reject_unfit(const Schedule& s) {
  if (!s.order.empty() || s.preemptions > 0 || !scheduler_->running().empty()) return;
  if (const auto g = scheduler_->reject_blocked(step_, now_)) reject(*g);
}

void Engine::begin_decisions(const Schedule& s) {
  StepDecisions& d = decision_;
  d = StepDecisions{};
  d.step = config_.clock == ClockMode::kSteps ? static_cast<int64_t>(now_) : step_;
  std::vector<std::pair<int64_t, int64_t>> pairs;
  if (vllm_v1(config_)) {
    for (const ScheduledRequest& item : s.order) {
      pairs.emplace_back(item.request, item.length);
      if (item.length == 1 && item.start >= groups_[item.group].prompt_len && item.samples) {
        ++d.decode_reqs;
      } else {
        d.prefill_tokens += item.length;
      }
    }
  } else {  // vllm-v0: a group's decodes count once, with one token per sequence
    for (const PrefillChunk& c : s.prefills) {
      pairs.emplace_back(groups_[c.group].request, c.length);
      d.prefill_tokens += c.length;
    }
    for (size_t i = 0; i < s.decodes.size();) {
      const GroupId g = s.decodes[i].group;
      int64_t n = 0;
      for (; i < s.decodes.size() && s.decodes[i].group == g; ++i) ++n;
      pairs.emplace_back(groups_[g].request, n);
      ++d.decode_reqs;
    }
  }
  d.scheduled_digest = scheduled_digest(pairs);
  d.running = static_cast<int32_t>(scheduler_->running().size());
  d.waiting = static_cast<int32_t>(scheduler_->waiting().size());
  for (const Event& e : events_) {
    if (e.kind == EventKind::kAdmit) d.admitted.push_back(e.request);
    if (e.kind == EventKind::kPreemptRecompute || e.kind == EventKind::kPreemptSwap) {
      d.preempted.push_back(e.request);
    }
  }
  decision_events_ = events_.size();
  const PoolStats stats = allocator_->stats();
  d.blocks_in_use =
      stats.num_blocks - allocator_->num_reserved_blocks() - allocator_->num_available_blocks();
  d.prefix_queries = stats.prefix_query_tokens - prefix_queries_seen_;
  d.prefix_hits = stats.prefix_hit_tokens - prefix_hits_seen_;
  prefix_queries_seen_ = stats.prefix_query_tokens;
  prefix_hits_seen_ = stats.prefix_hit_tokens;
}

void Engine::end_decisions() {
  StepDecisions& d = decision_;
  for (size_t i = decision_events_; i < events_.size(); ++i) {
    if (events_[i].kind == EventKind::kFinish) d.finished.push_back(events_[i].request);
  }
  d.blocks_in_use_end = allocator_->stats().num_blocks - allocator_->num_reserved_blocks() -
                        allocator_->num_available_blocks();
  d.evicted_blocks = static_cast<int64_t>(recorder_.last_evicted().size());
  if (d.recorded()) decisions_.push_back(d);
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
    events_.push_back(
        {step_, now_, EventKind::kArrive, g.request, s.id, g.prompt_len, g.output_len});
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

double Engine::arrival_time(double arrival) const {
  return config_.clock == ClockMode::kSteps ? std::ceil(arrival) : arrival;
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
      now_ = std::max(now_, arrival_time(requests_[next_request_].arrival));
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
    const int64_t pairs = static_cast<int64_t>(c.length) * c.start +
                          static_cast<int64_t>(c.length) * (c.length + 1) / 2;
    w.new_tokens += c.length;
    w.context_tokens_read += c.start + c.length;
    w.attention_pairs += pairs;
    w.prefill_chunks += 1;
    w.prefill_tokens += c.length;
    w.prefill_pairs += pairs;
    const auto len = static_cast<int32_t>(groups_[c.group].seqs.front().tokens.size());
    w.sampled_tokens += c.start + c.length == len;  // the prompt's last token samples
  }
  const int32_t bs = config_.geometry.block_size;
  const SelectionSettings& selection = config_.selection;
  w.selection = selection.enabled();
  for (const DecodeItem& d : s.decodes) {
    const int64_t context =
        allocator_->table(groups_[d.group].seqs[static_cast<size_t>(d.seq)].id).num_tokens;
    w.new_tokens += 1;
    w.context_tokens_read += context;
    w.decode_seqs += 1;
    w.decode_context_sum += context;
    w.decode_context_max = std::max(w.decode_context_max, context);
    w.decode_blocks += (context + bs - 1) / bs;
    if (!w.selection) {
      w.attention_pairs += context;
      continue;
    }
    // The selected blocks: every one but the last is whole (docs/selection.md).
    const auto len = static_cast<int32_t>(context);
    const int32_t count = selected_block_count(selection, len, bs);
    const int32_t blocks = (len + bs - 1) / bs;
    const int64_t attended = int64_t{count - 1} * bs + (len - (blocks - 1) * bs);
    w.attention_pairs += attended;
    w.decode_selected_blocks += count;
    w.decode_selected_sum += attended;
    w.decode_selected_max = std::max(w.decode_selected_max, attended);
  }
  w.sampled_tokens += w.decode_seqs;
  if (config_.cost.calibrated()) w.decode_shared_tokens = shared_decode_tokens(s);
  w.copied_blocks = static_cast<int64_t>(s.copies.size()) + sampler_.num_pending_copies();
  w.swapped_blocks = static_cast<int64_t>(s.swap_in.size() + s.swap_out.size());
  return w;
}

// Blocks of the decode batch that an earlier decode of the batch reads too, a whole block per
// extra reader; stamps mark the blocks seen this step.
int64_t Engine::shared_decode_tokens(const Schedule& s) const {
  const int32_t bs = allocator_->block_size();
  if (block_stamps_.size() < static_cast<size_t>(config_.geometry.num_gpu_blocks)) {
    block_stamps_.assign(static_cast<size_t>(config_.geometry.num_gpu_blocks), 0);
  }
  ++stamp_;
  int64_t shared = 0;
  for (const DecodeItem& d : s.decodes) {
    const BlockTable& t = allocator_->table(groups_[d.group].seqs[static_cast<size_t>(d.seq)].id);
    const auto used = std::min(t.blocks.size(), static_cast<size_t>((t.num_tokens + bs - 1) / bs));
    for (size_t i = 0; i < used; ++i) {
      uint32_t& mark = block_stamps_[static_cast<size_t>(t.blocks[i])];
      if (mark == stamp_) {
        shared += bs;
      } else {
        mark = stamp_;
      }
    }
  }
  return shared;
}

void Engine::build_plan(const Schedule& s) {
  plan_.clear();
  plan_.step = step_;
  plan_.block_size = config_.geometry.block_size;
  plan_.selection = config_.selection;
  plan_.swap_out = s.swap_out;
  plan_.swap_in = s.swap_in;
  plan_.copies = sampler_.pending_copies();
  plan_.copies.insert(plan_.copies.end(), s.copies.begin(), s.copies.end());
  const int32_t bs = allocator_->block_size();
  // Every new token is a query: a batch entry per prefill chunk (its tokens), then per decode.
  // An entry's context ends at its last query (the table may hold a whole prompt already).
  auto add_entry = [&](const Sequence& seq, int32_t context_len) {
    const BlockTable& t = allocator_->table(seq.id);
    plan_.batch_seqs.push_back(seq.id);
    plan_.context_lens.push_back(context_len);
    plan_.query_start.push_back(static_cast<int32_t>(plan_.new_tokens.size()));
    plan_.max_blocks_per_seq =
        std::max(plan_.max_blocks_per_seq, static_cast<int32_t>(t.blocks.size()));
  };
  plan_.query_start.push_back(0);
  for (const PrefillChunk& c : s.prefills) {
    const Sequence& seq = groups_[c.group].seqs[static_cast<size_t>(c.seq)];
    const BlockTable& t = allocator_->table(seq.id);
    for (int32_t pos = c.start; pos < c.start + c.length; ++pos) {
      plan_.slot_mapping.push_back(t.slot(pos, bs));
      plan_.new_tokens.push_back(seq.tokens[static_cast<size_t>(pos)]);
      plan_.new_positions.push_back(pos);
    }
    add_entry(seq, c.start + c.length);
  }
  plan_.num_prefills = static_cast<int32_t>(s.prefills.size());
  for (const DecodeItem& d : s.decodes) {
    const Sequence& seq = groups_[d.group].seqs[static_cast<size_t>(d.seq)];
    const int32_t pos = static_cast<int32_t>(seq.tokens.size()) - 1;
    plan_.slot_mapping.push_back(d.slot);
    plan_.new_tokens.push_back(seq.tokens.back());
    plan_.new_positions.push_back(pos);
    add_entry(seq, pos + 1);
  }
  if (plan_.batch_seqs.empty()) plan_.query_start.clear();
  plan_.block_tables.assign(plan_.batch_seqs.size() * static_cast<size_t>(plan_.max_blocks_per_seq),
                            -1);
  for (size_t i = 0; i < plan_.batch_seqs.size(); ++i) {
    const auto& blocks = allocator_->table(plan_.batch_seqs[i]).blocks;
    std::copy(
        blocks.begin(), blocks.end(),
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
    for (GroupId g : queue)
      out.push_back(request_result(groups_[g], RequestStatus::kUnfinished, -1));
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
  RunSummary r =
      recorder_.summary(unfinished_results(), backend_->name(), step_, now_, num_requests());
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
      if (vllm_v1(config_)) {  // blocks cover what was scheduled
        if (slots != s.num_computed || slots > len + g.placeholders) {
          return cat("sequence ", s.id, " has ", len, " tokens, ", s.num_computed,
                     " scheduled and ", slots, " slots");
        }
        continue;
      }
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
