#include "core/engine/run_recorder.h"

#include <algorithm>
#include <charconv>

namespace tinyserve {

namespace {

void put(std::string& out, int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

void put(std::string& out, double v) {  // shortest round-trip form, as metrics.csv
  if (v == 0) {
    out += '0';
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

}  // namespace

std::string requests_csv_header() {
  return "request,status,arrival_s,first_token_s,finish_s,ttft_s,tpot_s,latency_s,prompt_tokens,"
         "output_tokens,preemptions,prefix_hit_tokens";
}

void append_requests_csv_row(const RequestResult& r, std::string& out) {
  put(out, r.id);
  out += ',';
  out += name_of<RequestStatus>(kRequestStatusNames, r.status);
  out += ',';
  put(out, r.arrival);
  out += ',';
  if (r.has_first_token()) put(out, r.first_token);
  out += ',';
  if (r.status == RequestStatus::kFinished) put(out, r.finish);
  out += ',';
  if (r.has_first_token()) put(out, r.ttft());
  out += ',';
  if (r.has_tpot()) put(out, r.tpot());
  out += ',';
  if (r.status == RequestStatus::kFinished) put(out, r.latency());
  out += ',';
  put(out, int64_t{r.prompt_tokens});
  out += ',';
  put(out, int64_t{r.output_tokens});
  out += ',';
  put(out, int64_t{r.preemptions});
  out += ',';
  put(out, int64_t{r.prefix_hit_tokens});
  out += '\n';
}

RequestResult request_result(const SequenceGroup& g, RequestStatus status, double finish) {
  RequestResult r;
  r.id = g.request;
  r.status = status;
  r.arrival = g.arrival;
  r.first_token = g.first_token_time;
  r.finish = status == RequestStatus::kFinished ? finish : -1;
  r.prompt_tokens = g.prompt_len;
  r.output_tokens = g.output_len;
  r.preemptions = g.preemptions;
  r.prefix_hit_tokens = std::max(g.cached_tokens, 0);
  return r;
}

RunRecorder::RunRecorder(const EngineConfig& config, int32_t num_gpu_blocks)
    : fragmentation_(config.fragmentation),
      block_bytes_(static_cast<double>(config.geometry.model_block_bytes())),
      keep_history_(config.keep_history),
      temporal_(config.fragmentation.temporal_decay),
      free_runs_(num_gpu_blocks, config.fragmentation.sigma) {}

void RunRecorder::request_done(const SequenceGroup& g, RequestStatus status, double t) {
  requests_.push_back(request_result(g, status, t));
}

void RunRecorder::record_step(const StepOutcome& o, const Schedule& s, const StepCost& cost,
                              const KernelTimes& times, const Scheduler& scheduler,
                              const GroupTable& groups, KvAllocator& allocator) {
  StepMetrics& m = last_;
  m = StepMetrics{};
  m.step = o.step;
  m.time_s = o.end_time;
  m.step_ms = o.step_s * 1e3;
  m.running = static_cast<int32_t>(scheduler.running().size());
  m.waiting = static_cast<int32_t>(scheduler.waiting().size());
  m.swapped = static_cast<int32_t>(scheduler.swapped().size());
  for (GroupId g : scheduler.running())
    m.running_seqs += static_cast<int32_t>(groups[g].seqs.size());
  for (const PrefillChunk& c : s.prefills) m.prefill_tokens += c.length;
  m.decode_tokens = static_cast<int64_t>(s.decodes.size());
  m.batch_size = o.batch;

  // Slots of prompt tokens not computed yet (whole-prompt allocation) hold no token's K/V.
  int64_t pending = 0;
  for (GroupId g : scheduler.running()) {
    for (const Sequence& seq : groups[g].seqs) {
      if (allocator.has(seq.id))
        pending += std::max(0, allocator.table(seq.id).num_tokens - seq.num_computed);
    }
  }
  const PoolStats stats = allocator.stats();
  m.pool = measure_pool(allocator, free_runs_, temporal_, fragmentation_, pending);
  m.cached_blocks = stats.cached_blocks;
  if (stats.cpu_num_blocks > 0) {
    m.cpu_cache_usage = static_cast<double>(stats.cpu_used_blocks) / stats.cpu_num_blocks;
  }

  m.preemptions = s.preemptions;
  preemptions_ += s.preemptions;
  m.preemptions_total = preemptions_;
  m.swapped_out_blocks = static_cast<int64_t>(s.swap_out.size());
  m.swapped_in_blocks = static_cast<int64_t>(s.swap_in.size());
  swapped_blocks_ += m.swapped_out_blocks + m.swapped_in_blocks;
  m.swapped_bytes_total = static_cast<double>(swapped_blocks_) * block_bytes_;
  recomputed_ += s.recomputed_tokens;
  m.recomputed_tokens_total = recomputed_;
  m.cow_copies = static_cast<int64_t>(s.copies.size());
  cow_copies_ += m.cow_copies;
  evicted_ = allocator.take_evicted();
  m.evictions = static_cast<int64_t>(evicted_.size());
  evictions_ += m.evictions;
  if (stats.prefix_query_tokens > 0) {
    m.prefix_hit_rate = static_cast<double>(stats.prefix_hit_tokens) /
                        static_cast<double>(stats.prefix_query_tokens);
  }
  m.finished_total = o.finished_total;
  m.rejected_total = o.rejected_total;
  m.generated_tokens = o.generated;
  generated_ += o.generated;
  m.throughput_tok_s = static_cast<double>(o.generated) / o.step_s;
  m.modelled_attention_ms = cost.attention_s * 1e3;
  m.attention_ms = times.attention_ms;
  m.modelled_prefill_attention_ms = cost.prefill_attention_s * 1e3;
  m.modelled_decode_attention_ms = cost.decode_attention_s * 1e3;
  m.prefill_attention_ms = times.prefill_attention_ms;
  m.decode_attention_ms = times.decode_attention_ms;
  m.contiguous_attention_ms = times.contiguous_attention_ms;
  m.write_ms = times.write_ms;
  m.copy_ms = times.copy_ms;
  m.swap_ms = times.swap_ms;
  m.decode_blocks_full = cost.decode_blocks_full;
  m.decode_blocks_read = cost.decode_blocks_read;
  m.decode_bytes_full = cost.decode_bytes_full;
  m.decode_bytes_read = cost.decode_bytes_read;

  peak_running_seqs_ = std::max(peak_running_seqs_, m.running_seqs);
  sum_usage_ += m.pool.kv_cache_usage;
  peak_usage_ = std::max(peak_usage_, m.pool.kv_cache_usage);
  sum_utilization_ += m.pool.token_utilization;
  sum_external_ += m.pool.external_fragmentation;
  sum_f_total_ += m.pool.f_total;
  sum_f_total_norm_ += m.pool.f_total_norm;
  // Time-weighted: each step's end state held for the step's duration.
  time_ += o.step_s;
  time_usage_ += m.pool.kv_cache_usage * o.step_s;
  time_utilization_ += m.pool.token_utilization * o.step_s;
  time_external_ += m.pool.external_fragmentation * o.step_s;
  time_f_total_norm_ += m.pool.f_total_norm * o.step_s;
  sum_modelled_attention_ms_ += m.modelled_attention_ms;
  decode_blocks_full_ += m.decode_blocks_full;
  decode_blocks_read_ += m.decode_blocks_read;
  decode_bytes_full_ += m.decode_bytes_full;
  decode_bytes_read_ += m.decode_bytes_read;
  if (times.attention_ms >= 0) {
    sum_attention_ms_ += times.attention_ms;
    ++measured_steps_;
  }
  if (times.contiguous_attention_ms >= 0) {
    sum_contiguous_ms_ += times.contiguous_attention_ms;
    ++contiguous_steps_;
  }
  if (keep_history_) history_.push_back(m);
}

RunSummary RunRecorder::summary(const std::vector<RequestResult>& unfinished,
                                const std::string& backend, int64_t steps, double now,
                                int64_t num_requests) const {
  RunSummary r;
  r.backend = backend;
  r.steps = steps;
  r.simulated_s = now;
  r.requests = num_requests;
  std::vector<double> ttft, tpot, latency;
  auto add = [&](const RequestResult& q) {
    r.finished += q.status == RequestStatus::kFinished;
    r.rejected += q.status == RequestStatus::kRejected;
    if (q.has_first_token()) ttft.push_back(q.ttft());
    if (q.status == RequestStatus::kFinished) latency.push_back(q.latency());
    if (q.has_tpot()) tpot.push_back(q.tpot());
  };
  for (const RequestResult& q : requests_) add(q);
  for (const RequestResult& q : unfinished) add(q);
  r.unfinished = r.requests - r.finished - r.rejected;
  r.generated_tokens = generated_;
  if (now > 0) {
    r.throughput_tok_s = static_cast<double>(generated_) / now;
    r.throughput_req_s = static_cast<double>(r.finished) / now;
  }
  r.ttft_s = distribution(std::move(ttft));
  r.tpot_s = distribution(std::move(tpot));
  r.latency_s = distribution(std::move(latency));
  r.peak_running_seqs = peak_running_seqs_;
  const double n = steps > 0 ? static_cast<double>(steps) : 1.0;
  r.mean_kv_cache_usage = sum_usage_ / n;
  r.peak_kv_cache_usage = peak_usage_;
  r.mean_token_utilization = sum_utilization_ / n;
  r.mean_external_fragmentation = sum_external_ / n;
  r.mean_f_total = sum_f_total_ / n;
  r.mean_f_total_norm = sum_f_total_norm_ / n;
  if (time_ > 0) {
    r.time_mean_kv_cache_usage = time_usage_ / time_;
    r.time_mean_token_utilization = time_utilization_ / time_;
    r.time_mean_external_fragmentation = time_external_ / time_;
    r.time_mean_f_total_norm = time_f_total_norm_ / time_;
  }
  r.preemptions = preemptions_;
  r.recomputed_tokens = recomputed_;
  r.swapped_bytes = static_cast<double>(swapped_blocks_) * block_bytes_;
  r.cow_copies = cow_copies_;
  r.evictions = evictions_;
  r.prefix_hit_rate = last_.prefix_hit_rate;
  if (measured_steps_ > 0)
    r.mean_attention_ms = sum_attention_ms_ / static_cast<double>(measured_steps_);
  if (contiguous_steps_ > 0) {
    r.mean_contiguous_attention_ms = sum_contiguous_ms_ / static_cast<double>(contiguous_steps_);
  }
  r.mean_modelled_attention_ms = sum_modelled_attention_ms_ / n;
  r.decode_blocks_full = decode_blocks_full_;
  r.decode_blocks_read = decode_blocks_read_;
  r.decode_bytes_full = decode_bytes_full_;
  r.decode_bytes_read = decode_bytes_read_;
  return r;
}

}  // namespace tinyserve
