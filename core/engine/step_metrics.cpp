#include "core/engine/step_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace tinyserve {

namespace {

void put(std::string& out, int64_t v) {
  char buf[24];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

// Shortest representation that round-trips: deterministic and compact.
void put(std::string& out, double v) {
  if (v == 0) {
    out += '0';
    return;
  }
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

}  // namespace

std::string metrics_csv_header(bool selection) {
  return std::string(
             "step,time_s,step_ms,running,waiting,swapped,running_seqs,batch_size,prefill_tokens,"
             "decode_tokens,kv_cache_usage,token_utilization,internal_fragmentation,"
             "reserved_fraction,external_fragmentation,free_runs,largest_free_run,f_spatial,"
             "f_temporal,f_access,f_total,f_total_norm,cached_blocks,cpu_cache_usage,preemptions,"
             "preemptions_total,swapped_out_blocks,swapped_in_blocks,swapped_bytes_total,"
             "recomputed_tokens_total,cow_copies,evictions,prefix_hit_rate,finished_total,"
             "rejected_total,generated_tokens,throughput_tok_s,modelled_attention_ms,attention_ms,"
             "contiguous_attention_ms,write_ms,copy_ms,swap_ms") +
         (selection ? ",decode_blocks_full,decode_blocks_read,decode_bytes_full,decode_bytes_read"
                    : "");
}

void append_metrics_csv_row(const StepMetrics& m, std::string& out, bool selection) {
  const PoolMetrics& p = m.pool;
  auto i = [&](int64_t v) {
    put(out, v);
    out += ',';
  };
  auto d = [&](double v) {
    put(out, v);
    out += ',';
  };
  i(m.step);
  d(m.time_s);
  d(m.step_ms);
  i(m.running);
  i(m.waiting);
  i(m.swapped);
  i(m.running_seqs);
  i(m.batch_size);
  i(m.prefill_tokens);
  i(m.decode_tokens);
  d(p.kv_cache_usage);
  d(p.token_utilization);
  d(p.internal_fragmentation);
  d(p.reserved_fraction);
  d(p.external_fragmentation);
  i(p.free_runs);
  i(p.largest_free_run);
  d(p.f_spatial);
  d(p.f_temporal);
  d(p.f_access);
  d(p.f_total);
  d(p.f_total_norm);
  i(m.cached_blocks);
  d(m.cpu_cache_usage);
  i(m.preemptions);
  i(m.preemptions_total);
  i(m.swapped_out_blocks);
  i(m.swapped_in_blocks);
  d(m.swapped_bytes_total);
  i(m.recomputed_tokens_total);
  i(m.cow_copies);
  i(m.evictions);
  d(m.prefix_hit_rate);
  i(m.finished_total);
  i(m.rejected_total);
  i(m.generated_tokens);
  d(m.throughput_tok_s);
  d(m.modelled_attention_ms);
  d(m.attention_ms);
  d(m.contiguous_attention_ms);
  d(m.write_ms);
  d(m.copy_ms);
  put(out, m.swap_ms);
  if (selection) {
    out += ',';
    i(m.decode_blocks_full);
    i(m.decode_blocks_read);
    d(m.decode_bytes_full);
    put(out, m.decode_bytes_read);
  }
  out += '\n';
}

Distribution distribution(std::vector<double> values) {
  Distribution d;
  d.count = static_cast<int64_t>(values.size());
  if (values.empty()) return d;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  d.mean = sum / static_cast<double>(values.size());
  auto at = [&](double q) {  // nearest rank
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  d.p50 = at(0.50);
  d.p90 = at(0.90);
  d.p99 = at(0.99);
  d.max = values.back();
  return d;
}

}  // namespace tinyserve
