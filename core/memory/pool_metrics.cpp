#include "core/memory/pool_metrics.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

namespace tinyserve {

double spatial_fragmentation(std::span<const FreeRun> runs, int32_t num_blocks, double sigma) {
  if (runs.empty() || num_blocks <= 0) return 0.0;
  double total = 0.0;
  for (const FreeRun& r : runs) total += r.length;
  const double mean = total / static_cast<double>(runs.size());
  // Used blocks after run i = blocks after its end minus free blocks after it.
  double free_after = total;
  double sum = 0.0;
  for (const FreeRun& r : runs) {
    free_after -= r.length;
    const double used_after = static_cast<double>(num_blocks - (r.start + r.length)) - free_after;
    const double d = used_after / num_blocks;
    const double dev = (r.length - mean) / mean;
    sum += dev * dev * std::exp(-d / (sigma * sigma));
  }
  return sum / static_cast<double>(runs.size());
}

namespace {

uint64_t masked_word(std::span<const uint64_t> bits, size_t w, int64_t n) {
  const int64_t valid = n - static_cast<int64_t>(w) * 64;
  return valid >= 64 ? bits[w] : bits[w] & ((uint64_t{1} << valid) - 1);
}

// Calls f(start, length) for each maximal run of set bits below n, in ascending order.
template <typename F>
void for_each_run(std::span<const uint64_t> bits, int64_t n, F&& f) {
  int64_t run_start = -1;
  const size_t words = static_cast<size_t>((n + 63) / 64);
  for (size_t w = 0; w < words; ++w) {
    const uint64_t word = masked_word(bits, w, n);
    const auto base = static_cast<int64_t>(w) * 64;
    const int64_t valid = std::min<int64_t>(64, n - base);
    int pos = 0;
    while (pos < valid) {
      if (run_start < 0) {
        const uint64_t rest = word >> pos;
        if (rest == 0) break;
        pos += std::countr_zero(rest);
        run_start = base + pos;
      } else {
        const uint64_t rest = ~word >> pos;
        if (rest == 0) break;  // the run goes on into the next word
        pos += std::countr_zero(rest);
        if (pos >= valid) break;  // it reaches the end of the pool
        f(static_cast<BlockId>(run_start), static_cast<int32_t>(base + pos - run_start));
        run_start = -1;
      }
    }
  }
  if (run_start >= 0) f(static_cast<BlockId>(run_start), static_cast<int32_t>(n - run_start));
}

}  // namespace

std::vector<FreeRun> free_runs(std::span<const uint64_t> available_bits, int32_t num_blocks) {
  std::vector<FreeRun> runs;
  for_each_run(available_bits, num_blocks, [&](BlockId start, int32_t length) {
    runs.push_back({start, length});
  });
  return runs;
}

FreeRunSummary summarize_free_runs(std::span<const uint64_t> available_bits, int32_t num_blocks,
                                   double sigma) {
  // One pass: F_spatial = (1/N) sum_i w_i (r_i - m)^2 / m^2 expands into sums of w, w r and w r^2;
  // w_i = exp(-d_i / sigma^2) with d_i = (used - used before run i) / num_blocks.
  FreeRunSummary s;
  const size_t words = static_cast<size_t>((num_blocks + 63) / 64);
  for (size_t w = 0; w < words; ++w)
    s.total += std::popcount(masked_word(available_bits, w, num_blocks));
  if (s.total == 0) return s;
  const int64_t used = num_blocks - s.total;
  const double scale = 1.0 / (sigma * sigma * num_blocks);
  double sw = 0, swr = 0, swr2 = 0;
  int64_t free_before = 0;
  for_each_run(available_bits, num_blocks, [&](BlockId start, int32_t length) {
    const int64_t used_before = start - free_before;
    const double w = std::exp(-static_cast<double>(used - used_before) * scale);
    sw += w;
    swr += w * length;
    swr2 += w * static_cast<double>(length) * length;
    free_before += length;
    ++s.num_runs;
    s.largest = std::max(s.largest, length);
  });
  const double mean = static_cast<double>(s.total) / s.num_runs;
  s.f_spatial = (swr2 - 2 * mean * swr + mean * mean * sw) / (mean * mean) / s.num_runs;
  if (s.f_spatial < 0) s.f_spatial = 0;  // rounding when every run has the mean length
  return s;
}

FreeRunMeter::FreeRunMeter(int32_t num_blocks, double sigma)
    : num_blocks_(std::max(num_blocks, 0)),
      scale_(1.0 / (sigma * sigma * std::max(num_blocks, 1))),
      weight_(static_cast<size_t>(kChunkBlocks) + 1),
      seen_(static_cast<size_t>((num_blocks_ + 63) / 64), 0),
      chunks_(static_cast<size_t>((num_blocks_ + kChunkBlocks - 1) / kChunkBlocks)) {
  for (size_t k = 0; k < weight_.size(); ++k)
    weight_[k] = std::exp(-static_cast<double>(k) * scale_);
}

void FreeRunMeter::summarize(size_t c, std::span<const uint64_t> bits) {
  const size_t first_word = c * kChunkWords;
  const size_t words = std::min<size_t>(kChunkWords, bits.size() - first_word);
  const int64_t start = static_cast<int64_t>(first_word) * 64;
  Chunk k;
  k.blocks = static_cast<int32_t>(std::min<int64_t>(kChunkBlocks, num_blocks_ - start));
  struct Run {
    int32_t used_before, length;
  };
  std::array<Run, kChunkBlocks / 2 + 1> interior;  // runs are separated by used blocks
  int32_t num_interior = 0, free_blocks = 0;
  for_each_run(bits.subspan(first_word, words), k.blocks, [&](BlockId run_start, int32_t length) {
    const int32_t used_before = run_start - free_blocks;
    free_blocks += length;
    if (run_start == 0) k.lead = length;
    if (run_start + length == k.blocks) k.trail = length;
    if (run_start == 0 || run_start + length == k.blocks) return;  // joined in the fold
    interior[static_cast<size_t>(num_interior++)] = {used_before, length};
  });
  k.used = k.blocks - free_blocks;
  for (int32_t i = 0; i < num_interior; ++i) {
    const Run& r = interior[static_cast<size_t>(i)];
    const double weight = weight_[static_cast<size_t>(k.used - r.used_before)];
    const double len = r.length;
    k.s0 += weight;
    k.s1 += weight * len;
    k.s2 += weight * len * len;
    k.largest = std::max(k.largest, r.length);
  }
  k.runs = num_interior;
  chunks_[c] = k;
}

FreeRunSummary FreeRunMeter::measure(std::span<const uint64_t> bits, int64_t num_available) {
  FreeRunSummary s;
  s.total = num_available;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const size_t first = c * kChunkWords;
    const size_t words = std::min<size_t>(kChunkWords, seen_.size() - first);
    if (primed_ && std::equal(bits.begin() + static_cast<std::ptrdiff_t>(first),
                              bits.begin() + static_cast<std::ptrdiff_t>(first + words),
                              seen_.begin() + static_cast<std::ptrdiff_t>(first))) {
      continue;
    }
    std::copy_n(bits.begin() + static_cast<std::ptrdiff_t>(first), words,
                seen_.begin() + static_cast<std::ptrdiff_t>(first));
    summarize(c, bits);
  }
  primed_ = true;
  if (num_available == 0) return s;

  // Fold left to right. A run's weight is exp(-(used blocks after it) * scale).
  const int64_t used_total = num_blocks_ - num_available;
  double s0 = 0, s1 = 0, s2 = 0;
  int64_t used_before = 0;
  int64_t open_length = 0, open_used_before = 0;  // a run still open at the right edge
  auto close = [&] {
    if (open_length == 0) return;
    const double w = std::exp(-static_cast<double>(used_total - open_used_before) * scale_);
    const double len = static_cast<double>(open_length);
    s0 += w;
    s1 += w * len;
    s2 += w * len * len;
    ++s.num_runs;
    s.largest = std::max(s.largest, static_cast<int32_t>(open_length));
    open_length = 0;
  };
  for (const Chunk& k : chunks_) {
    if (k.used == 0) {  // all available: extends or opens a run
      if (open_length == 0) open_used_before = used_before;
      open_length += k.blocks;
      continue;
    }
    if (k.lead > 0) {
      if (open_length == 0) open_used_before = used_before;
      open_length += k.lead;
    }
    close();
    if (k.runs > 0) {
      const double w = std::exp(-static_cast<double>(used_total - used_before - k.used) * scale_);
      s0 += w * k.s0;
      s1 += w * k.s1;
      s2 += w * k.s2;
      s.num_runs += k.runs;
      s.largest = std::max(s.largest, k.largest);
    }
    used_before += k.used;
    if (k.trail > 0) {
      open_used_before = used_before;
      open_length = k.trail;
    }
  }
  close();
  const double mean = static_cast<double>(s.total) / s.num_runs;
  s.f_spatial = std::max(0.0, (s2 - 2 * mean * s1 + mean * mean * s0) / (mean * mean) / s.num_runs);
  return s;
}

double access_fragmentation(int64_t gpu_blocks, int64_t cpu_blocks, const FragmentationParams& p) {
  const double total = static_cast<double>(gpu_blocks + cpu_blocks);
  if (total <= 0) return 0.0;
  const double pk[2] = {static_cast<double>(gpu_blocks) / total,
                        static_cast<double>(cpu_blocks) / total};
  const double lk[2] = {p.gpu_latency, p.cpu_latency};
  const double mean = pk[0] * lk[0] + pk[1] * lk[1];
  double f = 0.0;
  for (int k = 0; k < 2; ++k) {
    if (pk[k] <= 0.0 || pk[k] >= 1.0) continue;  // p log p = 0 at both ends
    const double var = pk[k] * (lk[k] - mean) * (lk[k] - mean);
    f += -pk[k] * std::log2(pk[k]) * var / (mean * mean);
  }
  return f;
}

double TemporalFragmentation::update(int64_t churn, int64_t total_refs) {
  const double d = total_refs > 0 ? static_cast<double>(churn) / static_cast<double>(total_refs)
                                  : (churn > 0 ? 1.0 : 0.0);
  value_ = decay_ * value_ + (1.0 - decay_) * d;
  const int64_t both = total_refs + last_total_;
  const double d_norm = both > 0 ? static_cast<double>(churn) / static_cast<double>(both) : 0.0;
  normalized_ = decay_ * normalized_ + (1.0 - decay_) * std::min(d_norm, 1.0);
  last_total_ = total_refs;
  return value_;
}

double max_access_fragmentation(const FragmentationParams& p) {
  // Smooth and single-peaked in the GPU's share: a fine grid then a local refinement.
  constexpr int kSteps = 1000;
  constexpr int64_t kScale = 1'000'000;
  auto at = [&](double share) {
    const auto gpu = static_cast<int64_t>(share * kScale);
    return access_fragmentation(gpu, kScale - gpu, p);
  };
  double best = 0.0, best_share = 0.5;
  for (int i = 1; i < kSteps; ++i) {
    const double share = static_cast<double>(i) / kSteps;
    if (const double f = at(share); f > best) {
      best = f;
      best_share = share;
    }
  }
  for (int i = -100; i <= 100; ++i) best = std::max(best, at(best_share + i * 1e-5));
  return best;
}

PoolMetrics measure_pool(const PoolStats& stats, const FreeRunSummary& runs,
                         const TemporalFragmentation& temporal, const FragmentationParams& params) {
  PoolMetrics m;
  if (stats.num_blocks > 0)
    m.kv_cache_usage = static_cast<double>(stats.used_blocks) / stats.num_blocks;
  const double allocated = static_cast<double>(stats.used_blocks) * stats.block_size;
  if (allocated > 0) {
    m.token_utilization = static_cast<double>(stats.stored_tokens) / allocated;
    m.reserved_fraction = static_cast<double>(stats.future_tokens) / allocated;
    m.internal_fragmentation =
        (allocated - static_cast<double>(stats.stored_tokens + stats.future_tokens)) / allocated;
  }
  m.free_runs = runs.num_runs;
  m.largest_free_run = runs.largest;
  if (runs.total > 0)
    m.external_fragmentation =
        1.0 - static_cast<double>(runs.largest) / static_cast<double>(runs.total);
  m.f_spatial = runs.f_spatial;
  m.f_temporal = temporal.value();
  m.f_access = access_fragmentation(stats.used_blocks, stats.cpu_used_blocks, params);
  m.f_total = params.a * m.f_spatial + params.b * m.f_temporal + params.c * m.f_access;
  // Each term over its bound: the squared coefficient of variation of N run lengths is at most
  // N - 1; D'_t is at most 1; F_access at most its maximum for these latencies.
  static thread_local std::pair<double, double> latencies{-1, -1};
  static thread_local double access_max = 0;
  if (latencies != std::pair{params.gpu_latency, params.cpu_latency}) {
    latencies = {params.gpu_latency, params.cpu_latency};
    access_max = max_access_fragmentation(params);
  }
  const double spatial = runs.num_runs > 1 ? m.f_spatial / (runs.num_runs - 1) : 0.0;
  const double access = access_max > 0 ? m.f_access / access_max : 0.0;
  const double weights = params.a + params.b + params.c;
  if (weights > 0) {
    m.f_total_norm = std::min(
        1.0, (params.a * spatial + params.b * temporal.normalized() + params.c * access) / weights);
  }
  return m;
}

PoolMetrics measure_pool(KvAllocator& allocator, FreeRunMeter& meter,
                         TemporalFragmentation& temporal, const FragmentationParams& params,
                         int64_t pending_tokens) {
  PoolStats stats = allocator.stats();
  stats.stored_tokens -= pending_tokens;
  stats.future_tokens += pending_tokens;
  const FreeRunSummary runs =
      meter.measure(allocator.available_bits(), stats.num_blocks - stats.used_blocks);
  temporal.update(allocator.take_ref_churn(), stats.total_refs);
  return measure_pool(stats, runs, temporal, params);
}

PoolMetrics measure_pool(KvAllocator& allocator, TemporalFragmentation& temporal,
                         const FragmentationParams& params) {
  const PoolStats stats = allocator.stats();
  const FreeRunSummary runs =
      summarize_free_runs(allocator.available_bits(), stats.num_blocks, params.sigma);
  temporal.update(allocator.take_ref_churn(), stats.total_refs);
  return measure_pool(stats, runs, temporal, params);
}

}  // namespace tinyserve
