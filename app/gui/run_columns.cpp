#include "app/gui/run_columns.h"

#include <algorithm>

namespace tinyserve::app {

float metric_value(const StepMetrics& m, Metric metric) {
  double v = 0;
  switch (metric) {
    case Metric::kKvCacheUsage:
      v = m.pool.kv_cache_usage;
      break;
    case Metric::kTokenUtilization:
      v = m.pool.token_utilization;
      break;
    case Metric::kInternalFragmentation:
      v = m.pool.internal_fragmentation;
      break;
    case Metric::kExternalFragmentation:
      v = m.pool.external_fragmentation;
      break;
    case Metric::kReservedFraction:
      v = m.pool.reserved_fraction;
      break;
    case Metric::kFTotal:
      v = m.pool.f_total;
      break;
    case Metric::kFSpatial:
      v = m.pool.f_spatial;
      break;
    case Metric::kFTemporal:
      v = m.pool.f_temporal;
      break;
    case Metric::kFAccess:
      v = m.pool.f_access;
      break;
    case Metric::kRunning:
      v = m.running;
      break;
    case Metric::kWaiting:
      v = m.waiting;
      break;
    case Metric::kSwapped:
      v = m.swapped;
      break;
    case Metric::kRunningSeqs:
      v = m.running_seqs;
      break;
    case Metric::kBatchSize:
      v = m.batch_size;
      break;
    case Metric::kPreemptions:
      v = m.preemptions;
      break;
    case Metric::kPreemptionsTotal:
      v = static_cast<double>(m.preemptions_total);
      break;
    case Metric::kRecomputedTotal:
      v = static_cast<double>(m.recomputed_tokens_total);
      break;
    case Metric::kPrefixHitRate:
      v = m.prefix_hit_rate;
      break;
    case Metric::kCachedBlocks:
      v = m.cached_blocks;
      break;
    case Metric::kEvictions:
      v = static_cast<double>(m.evictions);
      break;
    case Metric::kCowCopies:
      v = static_cast<double>(m.cow_copies);
      break;
    case Metric::kThroughput:
      v = m.throughput_tok_s;
      break;
    case Metric::kThroughputWindow:
      break;  // derived across steps in sync()
    case Metric::kStepMs:
      v = m.step_ms;
      break;
    case Metric::kModelledAttentionMs:
      v = m.modelled_attention_ms;
      break;
    case Metric::kAttentionMs:
      v = m.attention_ms;
      break;
    case Metric::kContiguousAttentionMs:
      v = m.contiguous_attention_ms;
      break;
    case Metric::kModelledPrefillAttentionMs:
      v = m.modelled_prefill_attention_ms;
      break;
    case Metric::kModelledDecodeAttentionMs:
      v = m.modelled_decode_attention_ms;
      break;
    case Metric::kPrefillAttentionMs:
      v = m.prefill_attention_ms;
      break;
    case Metric::kDecodeAttentionMs:
      v = m.decode_attention_ms;
      break;
    case Metric::kDecodeBytesRead:
      v = m.decode_bytes_read * 1e-6;
      break;
    case Metric::kDecodeBytesFull:
      v = m.decode_bytes_full * 1e-6;
      break;
    case Metric::kFinishedTotal:
      v = static_cast<double>(m.finished_total);
      break;
    case Metric::kCount:
      break;
  }
  return static_cast<float>(v);
}

void RunColumns::sync(std::span<const StepMetrics> history) {
  if (history.size() < step_.size()) {
    *this = RunColumns{};
  }
  for (size_t i = step_.size(); i < history.size(); ++i) {
    const StepMetrics& m = history[i];
    time_.push_back(m.time_s);
    step_.push_back(static_cast<double>(m.step));
    for (size_t c = 0; c < kNumMetrics; ++c) {
      if (static_cast<Metric>(c) == Metric::kThroughputWindow) continue;
      columns_[c].push(metric_value(m, static_cast<Metric>(c)));
    }
    const double before = generated_.empty() ? 0.0 : generated_.back();
    generated_.push_back(before + static_cast<double>(m.generated_tokens));
    const size_t j = i >= kThroughputWindow ? i - kThroughputWindow : 0;
    if (i == 0) start_time_ = m.time_s - m.step_ms * 1e-3;
    const double t0 = i >= kThroughputWindow ? time_[j] : start_time_;
    const double g0 = i >= kThroughputWindow ? generated_[j] : 0.0;
    const double dt = time_[i] - t0;
    columns_[static_cast<size_t>(Metric::kThroughputWindow)].push(
        dt > 0 ? static_cast<float>((generated_[i] - g0) / dt) : 0.0f);
    if (sums_.empty()) sums_.emplace_back();
    AttentionSums next = sums_.back();
    next.modelled_ms += m.modelled_attention_ms;
    ++next.steps;
    if (m.attention_ms >= 0) {
      next.measured_ms += m.attention_ms;
      next.modelled_ms_of_measured += m.modelled_attention_ms;
      ++next.measured_steps;
    }
    if (m.contiguous_attention_ms >= 0) {
      next.contiguous_ms += m.contiguous_attention_ms;
      ++next.contiguous_steps;
    }
    sums_.push_back(next);
    measured_ = measured_ || m.attention_ms >= 0;
    contiguous_measured_ = contiguous_measured_ || m.contiguous_attention_ms >= 0;
  }
}

AttentionSums RunColumns::attention_sums(size_t begin, size_t end) const {
  end = std::min(end, size());
  if (begin >= end) return {};
  const AttentionSums& a = sums_[begin];
  const AttentionSums& b = sums_[end];
  AttentionSums d;
  d.modelled_ms = b.modelled_ms - a.modelled_ms;
  d.measured_ms = b.measured_ms - a.measured_ms;
  d.modelled_ms_of_measured = b.modelled_ms_of_measured - a.modelled_ms_of_measured;
  d.contiguous_ms = b.contiguous_ms - a.contiguous_ms;
  d.steps = b.steps - a.steps;
  d.measured_steps = b.measured_steps - a.measured_steps;
  d.contiguous_steps = b.contiguous_steps - a.contiguous_steps;
  return d;
}

}  // namespace tinyserve::app
