// One row of metrics per engine step (metrics.csv) and the run's summary (summary.json). Every
// column is documented in docs/metrics.md; columns ending in _total are cumulative.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/memory/pool_metrics.h"

namespace tinyserve {

struct StepMetrics {
  int64_t step = 0;
  double time_s = 0;  // simulated time at the end of the step
  double step_ms = 0;
  int32_t running = 0;  // requests
  int32_t waiting = 0;  // arrived, not admitted
  int32_t swapped = 0;
  int32_t running_seqs = 0;
  int32_t batch_size = 0;  // sequences attended (one query each)
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  PoolMetrics pool;
  int32_t cached_blocks = 0;
  double cpu_cache_usage = 0;
  int32_t preemptions = 0;
  int64_t preemptions_total = 0;
  int64_t swapped_out_blocks = 0;
  int64_t swapped_in_blocks = 0;
  double swapped_bytes_total = 0;
  int64_t recomputed_tokens_total = 0;
  int64_t cow_copies = 0;
  int64_t evictions = 0;
  double prefix_hit_rate = 0;  // cumulative hit tokens / queried tokens
  int64_t finished_total = 0;
  int64_t rejected_total = 0;
  int64_t generated_tokens = 0;
  double throughput_tok_s = 0;  // generated tokens / step time
  double modelled_attention_ms = 0;
  double attention_ms = -1;  // measured by the backend, -1 when not measured
  // The same split into the prefill chunks' and the decodes' attention (not in metrics.csv).
  double modelled_prefill_attention_ms = 0;
  double modelled_decode_attention_ms = 0;
  double prefill_attention_ms = -1;
  double decode_attention_ms = -1;
  double contiguous_attention_ms = -1;
  double write_ms = -1;
  double copy_ms = -1;
  double swap_ms = -1;
  // What decode attention read, every layer of the model (in metrics.csv only with selection on):
  // blocks of the decodes' contexts and those attention read (selected), one KV head's count;
  // K/V bytes full attention reads, and the bytes it read (with selection: the selected blocks'
  // K/V plus every block's key bounds).
  int64_t decode_blocks_full = 0;
  int64_t decode_blocks_read = 0;
  double decode_bytes_full = 0;
  double decode_bytes_read = 0;
};

// The header line of metrics.csv (no newline) and one row. With `selection` (the run's
// attention.selection is on), four more columns at the end: decode_blocks_full,
// decode_blocks_read, decode_bytes_full, decode_bytes_read; without, the columns are as before
// selection existed.
std::string metrics_csv_header(bool selection = false);
void append_metrics_csv_row(const StepMetrics& m, std::string& out, bool selection = false);

struct Distribution {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
Distribution distribution(std::vector<double> values);

struct RunSummary {
  std::string scenario;
  std::string backend;
  int64_t steps = 0;
  double simulated_s = 0;
  int64_t requests = 0;
  int64_t finished = 0;
  int64_t rejected = 0;
  int64_t unfinished = 0;
  int64_t over_max_model_len = 0;  // of the rejected: prompts that leave no room for an output
  int64_t outputs_capped = 0;      // requests whose output was shortened to fit max_model_len
  int64_t generated_tokens = 0;
  double throughput_tok_s = 0;
  double throughput_req_s = 0;
  Distribution ttft_s, tpot_s, latency_s;
  int32_t peak_running_seqs = 0;
  // mean_*: averages over steps; time_mean_*: over simulated time (each step weighs its duration),
  // what "mean KV usage" usually means.
  double mean_kv_cache_usage = 0, peak_kv_cache_usage = 0, time_mean_kv_cache_usage = 0;
  double mean_token_utilization = 0, time_mean_token_utilization = 0;
  double mean_external_fragmentation = 0, time_mean_external_fragmentation = 0;
  double mean_f_total = 0;
  double mean_f_total_norm = 0, time_mean_f_total_norm = 0;
  int64_t preemptions = 0;
  int64_t recomputed_tokens = 0;
  double swapped_bytes = 0;
  int64_t cow_copies = 0;
  int64_t evictions = 0;
  double prefix_hit_rate = 0;
  double mean_attention_ms = -1;  // measured, -1 when not measured
  double mean_contiguous_attention_ms = -1;
  double mean_modelled_attention_ms = 0;
  // StepMetrics' decode_* summed over the run (in summary.json only with selection on).
  int64_t decode_blocks_full = 0, decode_blocks_read = 0;
  double decode_bytes_full = 0, decode_bytes_read = 0;
};

}  // namespace tinyserve
