#include "core/engine/engine.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <numeric>

#include "core/base/strings.h"

namespace tinyserve {

namespace {

std::unique_ptr<KvAllocator> make_allocator(const EngineConfig& c) {
  if (c.paged) return std::make_unique<KvCacheManager>(c.paged_cache);
  return std::make_unique<ContiguousAllocator>(c.contiguous_cache);
}

}  // namespace

Engine::Engine(const EngineConfig& config, std::vector<RequestSpec> requests,
               std::unique_ptr<Backend> backend)
    : config_(config),
      requests_(std::move(requests)),
      allocator_(make_allocator(config)),
      backend_(std::move(backend)),
      scheduler_(std::make_unique<Scheduler>(config.scheduler, *allocator_, groups_, events_)),
      rng_(config.seed ^ 0xb5ad4eceda1ce2a9ull),
      temporal_(config.fragmentation.temporal_decay),
      free_runs_(allocator_->stats().num_blocks, config.fragmentation.sigma) {
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
  const Schedule s = schedule_step();
  if (s.empty()) return;  // every remaining request was rejected: nothing ran

  // Execute: the cost model times the step; a measuring backend refines the attention part.
  const StepWork work = count_work(s);
  int32_t batch = static_cast<int32_t>(s.decodes.size());
  for (const PrefillChunk& c : s.prefills) {
    batch += c.start + c.length == static_cast<int32_t>(groups_[c.group].seqs.front().tokens.size());
  }
  const StepCost cost = estimate_step(config_.cost, work);
  if (backend_->executes()) build_plan(s);
  KernelTimes times;
  try {
    times = backend_->execute(plan_);
  } catch (...) {
    failed_ = true;
    throw;
  }
  double step_s = cost.total_s;
  if (config_.clock == ClockMode::kMeasured && times.measured()) {
    const double measured_s = times.attention_ms * 1e-3 * config_.model_layers / config_.gpu_layers;
    step_s = std::max(cost.memory_s - cost.attention_s + measured_s, cost.compute_s) +
             cost.swap_s + config_.cost.step_overhead_s;
  }
  const double end_time = now_ + step_s;

  advance(s, end_time);
  record(s, cost, times, step_s, batch);
  now_ = end_time;
  ++step_;
  if (config_.check_invariants) {
    if (std::string e = check_invariants(); !e.empty()) {
      failed_ = true;
      throw InvariantViolation(cat("step ", step_, ": ", e));
    }
  }
}

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
    s.id = next_seq_++;
    s.tokens.reserve(static_cast<size_t>(g.prompt_len + g.output_len));
    append_prompt_tokens(r, s.tokens);
    r.prompt = {};  // the tokens now live in the sequence
    g.seqs.push_back(std::move(s));
    events_.push_back({step_, now_, EventKind::kArrive, g.request, g.seqs.front().id, g.prompt_len,
                       g.output_len});
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
      ++rejected_;
      groups_.remove(*g);
    } else if (next_request_ < requests_.size()) {
      now_ = std::max(now_, requests_[next_request_].arrival);
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

void Engine::drop_rejected(const Schedule& s) {
  for (GroupId g : s.rejected) groups_.remove(g);
  rejected_ += static_cast<int64_t>(s.rejected.size());
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
  w.copied_blocks = static_cast<int64_t>(s.copies.size() + pending_copies_.size());
  w.swapped_blocks = static_cast<int64_t>(s.swap_in.size() + s.swap_out.size());
  return w;
}

void Engine::build_plan(const Schedule& s) {
  plan_.clear();
  plan_.step = step_;
  plan_.swap_out = s.swap_out;
  plan_.swap_in = s.swap_in;
  plan_.copies = pending_copies_;
  plan_.copies.insert(plan_.copies.end(), s.copies.begin(), s.copies.end());
  const int32_t bs = allocator_->block_size();
  // Every new token is a query: a batch entry per prefill chunk (its tokens), then per decode.
  // An entry's context ends at its last query (the table may hold a whole prompt already).
  auto add_entry = [&](const Sequence& seq, int32_t context_len) {
    const BlockTable& t = allocator_->table(seq.id);
    plan_.batch_seqs.push_back(seq.id);
    plan_.context_lens.push_back(context_len);
    plan_.query_start.push_back(static_cast<int32_t>(plan_.new_tokens.size()));
    plan_.max_blocks_per_seq = std::max(plan_.max_blocks_per_seq, static_cast<int32_t>(t.blocks.size()));
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
  plan_.block_tables.assign(plan_.batch_seqs.size() * static_cast<size_t>(plan_.max_blocks_per_seq), -1);
  for (size_t i = 0; i < plan_.batch_seqs.size(); ++i) {
    const auto& blocks = allocator_->table(plan_.batch_seqs[i]).blocks;
    std::copy(blocks.begin(), blocks.end(),
              plan_.block_tables.begin() + static_cast<std::ptrdiff_t>(i) * plan_.max_blocks_per_seq);
  }
}

TokenId Engine::sample_token(const SequenceGroup& g, const Sequence& s, uint64_t candidate) const {
  uint64_t h = hash_combine(config_.seed, static_cast<uint64_t>(g.request));
  h = hash_combine(h, static_cast<uint64_t>(s.id));
  h = hash_combine(h, s.tokens.size() * 8 + candidate);
  return static_cast<TokenId>(h % kVocabSize);
}

SeqId Engine::fork(SequenceGroup& group, size_t parent) {
  Sequence child;
  child.id = next_seq_++;
  child.tokens = group.seqs[parent].tokens;
  child.num_computed = group.seqs[parent].num_computed;
  child.score = group.seqs[parent].score;
  child.block_hashes = group.seqs[parent].block_hashes;
  const std::vector<BlockCopy> copies = allocator_->fork(group.seqs[parent].id, child.id);
  pending_copies_.insert(pending_copies_.end(), copies.begin(), copies.end());
  events_.push_back({step_, now_, EventKind::kFork, group.request, child.id, group.seqs[parent].id, 0});
  group.seqs.push_back(std::move(child));
  return group.seqs.back().id;
}

void Engine::advance(const Schedule& s, double end_time) {
  last_copies_ = pending_copies_;
  last_copies_.insert(last_copies_.end(), s.copies.begin(), s.copies.end());
  pending_copies_.clear();  // executed by this step's plan
  step_generated_ = 0;
  for (const PrefillChunk& c : s.prefills) {
    SequenceGroup& g = groups_[c.group];
    Sequence& seq = g.seqs[static_cast<size_t>(c.seq)];
    seq.num_computed += c.length;
    allocator_->mark_computed(seq.id, seq.tokens, seq.num_computed);
    if (seq.num_computed == static_cast<int32_t>(seq.tokens.size())) complete_prefill(c.group, end_time);
  }
  // Decode items of one group are contiguous: advance group by group.
  for (size_t i = 0; i < s.decodes.size();) {
    const GroupId gid = s.decodes[i].group;
    SequenceGroup& g = groups_[gid];
    for (; i < s.decodes.size() && s.decodes[i].group == gid; ++i) {
      ++g.seqs[static_cast<size_t>(s.decodes[i].seq)].num_computed;
    }
    if (g.is_beam_search()) {
      beam_step(gid);
    } else {
      for (Sequence& seq : g.seqs) seq.tokens.push_back(sample_token(g, seq));
      step_generated_ += static_cast<int64_t>(g.seqs.size());
    }
    finish_if_done(gid, end_time);
  }
}

void Engine::complete_prefill(GroupId gid, double t) {
  SequenceGroup& g = groups_[gid];
  g.in_prefill = false;
  if (g.first_token_time < 0) {
    g.first_token_time = t;
    ttft_.push_back(t - g.arrival);
  }
  if (!g.fanned_out && g.max_seqs() > 1) {
    fan_out(gid);
  } else {
    Sequence& seq = g.seqs.front();
    seq.tokens.push_back(sample_token(g, seq));
    ++step_generated_;
  }
  finish_if_done(gid, t);
}

// The first sampling after the prompt: n samples, or the first beam_width beams, all forked from
// the first sequence (sharing its blocks; copy-on-write splits the last block later).
void Engine::fan_out(GroupId gid) {
  SequenceGroup& g = groups_[gid];
  g.fanned_out = true;
  const auto width = static_cast<size_t>(g.max_seqs());
  for (size_t i = 1; i < width; ++i) fork(g, 0);
  for (size_t i = 0; i < g.seqs.size(); ++i) {
    Sequence& seq = g.seqs[i];
    if (g.is_beam_search()) seq.score = std::log(rng_.uniform01() * 0.5 + 0.5) - static_cast<double>(i);
    seq.tokens.push_back(sample_token(g, seq, i));
  }
  step_generated_ += static_cast<int64_t>(g.seqs.size());
}

// One beam-search step: every beam proposes beam_width continuations; the best beam_width of all
// survive. A beam chosen k times is forked k - 1 times; a beam never chosen is freed.
void Engine::beam_step(GroupId gid) {
  SequenceGroup& g = groups_[gid];
  const auto width = static_cast<size_t>(g.beam_width);
  struct Candidate {
    double score;
    size_t beam;
    size_t index;
  };
  std::vector<Candidate> candidates;
  for (size_t b = 0; b < g.seqs.size(); ++b) {
    for (size_t c = 0; c < width; ++c) {
      const double u = rng_.uniform01();
      candidates.push_back({g.seqs[b].score + std::log1p(-u * 0.999), b, c});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
  candidates.resize(std::min(width, candidates.size()));
  std::vector<std::vector<const Candidate*>> chosen(g.seqs.size());
  for (const Candidate& c : candidates) chosen[c.beam].push_back(&c);

  // Free the beams nobody chose first (their regions serve the forks of contiguous allocators).
  std::vector<Sequence> kept;
  std::vector<std::vector<const Candidate*>> kept_choices;
  for (size_t b = 0; b < g.seqs.size(); ++b) {
    if (chosen[b].empty()) {
      events_.push_back({step_, now_, EventKind::kFree, g.request, g.seqs[b].id,
                         static_cast<int64_t>(allocator_->table(g.seqs[b].id).blocks.size()), 0});
      allocator_->free(g.seqs[b].id);
    } else {
      kept.push_back(std::move(g.seqs[b]));
      kept_choices.push_back(std::move(chosen[b]));
    }
  }
  g.seqs = std::move(kept);
  const size_t parents = g.seqs.size();
  for (size_t b = 0; b < parents; ++b) {
    const auto& picks = kept_choices[b];
    for (size_t k = 1; k < picks.size(); ++k) {
      fork(g, b);
      Sequence& child = g.seqs.back();
      child.score = picks[k]->score;
      child.tokens.push_back(sample_token(g, child, picks[k]->index));
    }
    Sequence& parent = g.seqs[b];
    parent.score = picks[0]->score;
    parent.tokens.push_back(sample_token(g, parent, picks[0]->index));
  }
  step_generated_ += static_cast<int64_t>(g.seqs.size());
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
  latency_.push_back(t - g.arrival);
  if (g.output_len > 1) tpot_.push_back((t - g.first_token_time) / (g.output_len - 1));
  events_.push_back({step_, now_, EventKind::kFinish, g.request, kNoSeq, g.output_len, 0});
  scheduler_->retire(gid);
  groups_.remove(gid);
  ++finished_;
}

void Engine::record(const Schedule& s, const StepCost& cost, const KernelTimes& times, double step_s,
                    int32_t batch) {
  StepMetrics& m = last_;
  m = StepMetrics{};
  m.step = step_;
  m.time_s = now_ + step_s;
  m.step_ms = step_s * 1e3;
  m.running = static_cast<int32_t>(scheduler_->running().size());
  m.waiting = static_cast<int32_t>(scheduler_->waiting().size());
  m.swapped = static_cast<int32_t>(scheduler_->swapped().size());
  for (GroupId g : scheduler_->running()) m.running_seqs += static_cast<int32_t>(groups_[g].seqs.size());
  for (const PrefillChunk& c : s.prefills) m.prefill_tokens += c.length;
  m.decode_tokens = static_cast<int64_t>(s.decodes.size());
  m.batch_size = batch;

  const PoolStats stats = allocator_->stats();
  m.pool = measure_pool(*allocator_, free_runs_, temporal_, config_.fragmentation);
  m.cached_blocks = stats.cached_blocks;
  if (stats.cpu_num_blocks > 0) m.cpu_cache_usage = static_cast<double>(stats.cpu_used_blocks) / stats.cpu_num_blocks;

  m.preemptions = s.preemptions;
  preemptions_ += s.preemptions;
  m.preemptions_total = preemptions_;
  m.swapped_out_blocks = static_cast<int64_t>(s.swap_out.size());
  m.swapped_in_blocks = static_cast<int64_t>(s.swap_in.size());
  swapped_blocks_ += m.swapped_out_blocks + m.swapped_in_blocks;
  m.swapped_bytes_total = static_cast<double>(swapped_blocks_) * config_.cost.block_bytes;
  recomputed_ += s.recomputed_tokens;
  m.recomputed_tokens_total = recomputed_;
  m.cow_copies = static_cast<int64_t>(s.copies.size());
  cow_copies_ += m.cow_copies;
  const std::vector<BlockId> evicted = allocator_->take_evicted();
  m.evictions = static_cast<int64_t>(evicted.size());
  if (!evicted.empty()) {
    events_.push_back({step_, now_, EventKind::kEvict, -1, kNoSeq, m.evictions, evicted.front()});
  }
  evictions_ += m.evictions;
  if (stats.prefix_query_tokens > 0) {
    m.prefix_hit_rate = static_cast<double>(stats.prefix_hit_tokens) / static_cast<double>(stats.prefix_query_tokens);
  }
  m.finished_total = finished_;
  m.rejected_total = rejected_;
  m.generated_tokens = step_generated_;
  generated_ += step_generated_;
  m.throughput_tok_s = static_cast<double>(step_generated_) / step_s;
  m.modelled_attention_ms = cost.attention_s * 1e3;
  m.attention_ms = times.attention_ms;
  m.contiguous_attention_ms = times.contiguous_attention_ms;
  m.write_ms = times.write_ms;
  m.copy_ms = times.copy_ms;
  m.swap_ms = times.swap_ms;

  peak_running_seqs_ = std::max(peak_running_seqs_, m.running_seqs);
  sum_usage_ += m.pool.kv_cache_usage;
  peak_usage_ = std::max(peak_usage_, m.pool.kv_cache_usage);
  sum_utilization_ += m.pool.token_utilization;
  sum_external_ += m.pool.external_fragmentation;
  sum_f_total_ += m.pool.f_total;
  sum_modelled_attention_ms_ += m.modelled_attention_ms;
  if (times.attention_ms >= 0) {
    sum_attention_ms_ += times.attention_ms;
    ++measured_steps_;
  }
  if (times.contiguous_attention_ms >= 0) {
    sum_contiguous_ms_ += times.contiguous_attention_ms;
    ++contiguous_steps_;
  }
  if (config_.keep_history) history_.push_back(m);
}

RunSummary Engine::summary() const {
  RunSummary r;
  r.scenario = config_.name;
  r.backend = backend_->name();
  r.steps = step_;
  r.simulated_s = now_;
  r.requests = num_requests();
  r.finished = finished_;
  r.rejected = rejected_;
  r.unfinished = r.requests - r.finished - r.rejected;
  r.generated_tokens = generated_;
  if (now_ > 0) {
    r.throughput_tok_s = static_cast<double>(generated_) / now_;
    r.throughput_req_s = static_cast<double>(finished_) / now_;
  }
  r.ttft_s = distribution(ttft_);
  r.tpot_s = distribution(tpot_);
  r.latency_s = distribution(latency_);
  r.peak_running_seqs = peak_running_seqs_;
  const double n = step_ > 0 ? static_cast<double>(step_) : 1.0;
  r.mean_kv_cache_usage = sum_usage_ / n;
  r.peak_kv_cache_usage = peak_usage_;
  r.mean_token_utilization = sum_utilization_ / n;
  r.mean_external_fragmentation = sum_external_ / n;
  r.mean_f_total = sum_f_total_ / n;
  r.preemptions = preemptions_;
  r.recomputed_tokens = recomputed_;
  r.swapped_bytes = static_cast<double>(swapped_blocks_) * config_.cost.block_bytes;
  r.cow_copies = cow_copies_;
  r.evictions = evictions_;
  r.prefix_hit_rate = last_.prefix_hit_rate;
  if (measured_steps_ > 0) r.mean_attention_ms = sum_attention_ms_ / static_cast<double>(measured_steps_);
  if (contiguous_steps_ > 0) r.mean_contiguous_attention_ms = sum_contiguous_ms_ / static_cast<double>(contiguous_steps_);
  r.mean_modelled_attention_ms = sum_modelled_attention_ms_ / n;
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
