// A GPU profile: what `tinyserve calibrate` measured on one GPU (docs/cost_model.md), read by the
// calibrated cost model in place of the roofline's fixed efficiencies. It holds median times of
// the parts of a step over grids of shapes: the dense layers' matrix products (cuBLAS, per weight
// shape over token counts), decode attention (per attention shape over batch and context) and
// paged prefill attention (over chunks, chunk length and cached prefix), one layer each, and the
// launch cost of an empty kernel. Lookups interpolate between grid points; beyond the grid, and for
// shapes the profile lacks, they scale from the nearest measured point by work (docs/cost_model.md,
// "Interpolation"). Stored as TOML (assets/gpu_profiles/<gpu preset>.toml).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/half.h"

namespace tinyserve {

// Y[m, n] = X[m, k] W[n, k]^T, `groups` of them in one launch (the routed experts of an MoE
// layer, a strided-batched GEMM, each group over m tokens).
struct GemmTable {
  DType dtype = DType::kBF16;
  int32_t n = 0;
  int32_t k = 0;
  int32_t groups = 1;
  std::vector<int32_t> tokens;  // m, increasing
  std::vector<double> us;       // [tokens] median microseconds of one launch
};

// What attention's time depends on besides the batch.
struct AttentionShape {
  DType dtype = DType::kF16;  // of the KV cache and the queries
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 16;
  bool operator==(const AttentionShape&) const = default;
};

// Decode attention of one layer: `batch` sequences, each of `context` cached tokens.
struct DecodeRow {
  int32_t batch = 0;
  std::vector<int32_t> context;  // increasing
  std::vector<double> us;        // [context]
};

// Paged prefill attention of one layer: `chunks` chunks of `length` new tokens each, each after
// `prefix` cached tokens of its sequence (causal within the chunk).
struct PrefillRow {
  int32_t chunks = 0;
  int32_t prefix = 0;
  std::vector<int32_t> length;  // increasing
  std::vector<double> us;       // [length]
};

struct DecodeTable {
  AttentionShape shape;
  std::vector<DecodeRow> rows;  // by batch, increasing
  // What re-reading a block that another sequence of the batch reads too costs, as a fraction of
  // reading it the first time (shared prompts of forks and beams, prefix-cache hits: the L2
  // cache serves some of the repeats).
  double shared_read = 1;
};

struct PrefillTable {
  AttentionShape shape;
  std::vector<PrefillRow> rows;  // by chunks, then prefix, increasing
};

struct GpuProfile {
  std::string gpu;      // the GPU preset it stands for ("h100"): what cost.profile = "auto" finds
  std::string device;   // the device's own name, as the driver reports it
  std::string date;     // when it was measured (YYYY-MM-DD)
  std::string command;  // the command that measured it
  std::string notes;
  double launch_us = 0;      // one empty kernel launch, back to back on one stream
  double kernel_gap_us = 0;  // a layer's GEMMs in sequence, over their times alone, per kernel
  double copy_gb_s = 0;      // device-to-device block copies (bytes copied per second)
  double swap_gb_s = 0;      // block copies between the GPU and pinned host memory
  std::vector<GemmTable> gemms;
  std::vector<DecodeTable> decodes;
  std::vector<PrefillTable> prefills;

  // Microseconds of one launch of `groups` GEMMs of m (>= 0, may be fractional) tokens each.
  // A shape the profile lacks scales from the nearest one by n x k x groups.
  double gemm_us(DType dtype, double m, int32_t n, int32_t k, int32_t groups = 1) const;
  // Microseconds of one layer's decode attention over `batch` sequences holding context_sum
  // tokens together, the longest context_max (0: not known), shared_tokens of them in blocks an
  // earlier sequence of the batch reads too: no less than the longest sequence alone. 0 for an
  // empty batch; negative when the profile holds no decode table.
  double decode_us(const AttentionShape& shape, int64_t batch, int64_t context_sum,
                   int64_t context_max = 0, int64_t shared_tokens = 0) const;
  // Microseconds of one layer's prefill attention over `chunks` chunks of `tokens` new tokens
  // together attending `pairs` (query, key) pairs per head; 0 for no chunk. Negative when the
  // profile holds no prefill table.
  double prefill_us(const AttentionShape& shape, int64_t chunks, int64_t tokens,
                    int64_t pairs) const;
};

// Reads a profile; InputError naming the file and line for malformed TOML, a missing or invalid
// field, or grids that are not increasing or hold non-positive times.
GpuProfile read_gpu_profile(const std::string& path);
GpuProfile parse_gpu_profile(const std::string& text, const std::string& path);
// The profile as TOML, commented, as read_gpu_profile reads it back.
std::string gpu_profile_toml(const GpuProfile& profile);

}  // namespace tinyserve
