// Pool metrics, named after vLLM's where vLLM has one. Definitions, parameters and a worked
// example are in docs/metrics.md.
//
//   kv_cache_usage          used blocks / total blocks
//   token_utilization       stored tokens / allocated slots (the seed's "efficiency")
//   internal_fragmentation  allocated slots that will never hold a token / allocated slots
//   reserved_fraction       allocated slots held for tokens still to come / allocated slots
//   external_fragmentation  1 - largest free run / total free blocks (free = not held)
//   F_total = a * F_spatial + b * F_temporal + c * F_access (the seed's fragmentation formula;
//             unbounded: F_spatial grows with the number of free runs)
//   f_total_norm in [0, 1]: the same weighted sum of each term divided by its bound
//             (docs/metrics.md: how to read it)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/memory/kv_allocator.h"

namespace tinyserve {

struct FragmentationParams {
  double a = 0.5;               // weight of F_spatial
  double b = 0.3;               // weight of F_temporal
  double c = 0.2;               // weight of F_access
  double sigma = 0.5;           // spatial decay; distances are in units of the pool size
  double temporal_decay = 0.9;  // w_t = (1 - decay) * decay^(T - t)
  double gpu_latency = 1.0;     // relative latency of a block access served by the GPU pool
  double cpu_latency = 80.0;    // ... by the CPU swap pool (HBM ~2 TB/s vs PCIe ~25 GB/s)
};

struct FreeRun {
  BlockId start = 0;
  int32_t length = 0;
};

struct FreeRunSummary {
  int32_t num_runs = 0;
  int32_t largest = 0;
  int64_t total = 0;
  double f_spatial = 0.0;
};

// F_spatial = (1/N) sum_i ((r_i - mean r) / mean r)^2 * exp(-d_i / sigma^2) over the N free runs,
// with d_i = (used blocks after run i) / num_blocks: how far the run sits from where a compacted
// layout (used blocks first, free space after) would put it.
double spatial_fragmentation(std::span<const FreeRun> runs, int32_t num_blocks, double sigma);

// Runs of set bits in a bitmap of num_blocks bits, with F_spatial, in one pass.
FreeRunSummary summarize_free_runs(std::span<const uint64_t> available_bits, int32_t num_blocks,
                                   double sigma);

// The same for one pool, step after step, at a cost that follows what changed: the pool is cut
// into chunks of kChunkBlocks; a chunk's runs are summarised again only when its bits changed,
// and the chunks are folded left to right (runs crossing chunk borders are joined in the fold).
class FreeRunMeter {
 public:
  static constexpr int32_t kChunkWords = 16;
  static constexpr int32_t kChunkBlocks = kChunkWords * 64;

  FreeRunMeter(int32_t num_blocks, double sigma);
  // num_available: the number of set bits (the caller's bookkeeping knows it).
  FreeRunSummary measure(std::span<const uint64_t> available_bits, int64_t num_available);

 private:
  // Runs that touch neither end of the chunk are "interior"; their sums carry the weight
  // exp(-(used blocks after the run, within the chunk) / s), so every weight is at most 1.
  struct Chunk {
    int32_t blocks = 0;
    int32_t used = 0;
    int32_t lead = 0;   // available blocks at the chunk's start
    int32_t trail = 0;  // available blocks at its end (== blocks when all are available)
    int32_t runs = 0;   // interior runs
    int32_t largest = 0;
    double s0 = 0, s1 = 0, s2 = 0;  // sums of w, w r, w r^2 over interior runs
  };
  void summarize(size_t chunk, std::span<const uint64_t> bits);

  int32_t num_blocks_;
  double scale_;                // 1 / (sigma^2 num_blocks)
  std::vector<double> weight_;  // [kChunkBlocks + 1] exp(-k * scale)
  std::vector<uint64_t> seen_;  // the bits each chunk was last summarised from
  std::vector<Chunk> chunks_;
  bool primed_ = false;
};
std::vector<FreeRun> free_runs(std::span<const uint64_t> available_bits, int32_t num_blocks);

// F_access = -sum_k p_k log2(p_k) * Var(L_k) / mean(L)^2 over tiers k (GPU, CPU), where p_k is
// the share of live KV blocks in tier k, mean(L) = sum_k p_k L_k and Var(L_k) = p_k (L_k - mean
// L)^2 is tier k's share of the variance of access latency.
double access_fragmentation(int64_t gpu_blocks, int64_t cpu_blocks, const FragmentationParams& p);

// F_temporal = sum_t w_t * D_t with D_t = sum_j |A_tj - A_(t-1)j| / (M * mean A_t) over the M
// blocks' access counts (a block's count: the number of block tables that read it in step t), so
// D_t = churn_t / total_refs_t. Weights decay geometrically: F_t = decay * F_(t-1) + (1 - decay)
// D_t. normalized(): the same average of D'_t = churn_t / (total_refs_t + total_refs_(t-1)), which
// is at most 1 (every change adds to one of the two totals).
class TemporalFragmentation {
 public:
  explicit TemporalFragmentation(double decay = 0.9) : decay_(decay) {}
  double update(int64_t churn, int64_t total_refs);
  double value() const { return value_; }
  double normalized() const { return normalized_; }

 private:
  double decay_;
  double value_ = 0.0;
  double normalized_ = 0.0;
  int64_t last_total_ = 0;
};

// The largest F_access two tiers of these latencies can reach (over the GPU's share p in (0, 1)).
double max_access_fragmentation(const FragmentationParams& p);

struct PoolMetrics {
  double kv_cache_usage = 0;
  double token_utilization = 1;
  double internal_fragmentation = 0;
  double reserved_fraction = 0;
  double external_fragmentation = 0;
  int32_t free_runs = 0;
  int32_t largest_free_run = 0;
  double f_spatial = 0;
  double f_temporal = 0;
  double f_access = 0;
  double f_total = 0;
  double f_total_norm = 0;  // in [0, 1]
};

// Computes every metric of one step; temporal carries F_temporal across steps.
PoolMetrics measure_pool(KvAllocator& allocator, TemporalFragmentation& temporal,
                         const FragmentationParams& params);
// pending_tokens: slots that hold no computed token yet (a prompt's chunks still to prefill); they
// count as reserved for tokens to come, not as stored.
PoolMetrics measure_pool(KvAllocator& allocator, FreeRunMeter& meter,
                         TemporalFragmentation& temporal, const FragmentationParams& params,
                         int64_t pending_tokens = 0);
PoolMetrics measure_pool(const PoolStats& stats, const FreeRunSummary& runs,
                         const TemporalFragmentation& temporal, const FragmentationParams& params);

}  // namespace tinyserve
