// The cost model of one engine step, in two forms (docs/cost_model.md):
// - the roofline: the step takes as long as the larger of its memory traffic over the GPU's
//   bandwidth and its arithmetic over the GPU's rate (each at a fixed efficiency), plus PCIe
//   transfers for swapping and a fixed per-step overhead;
// - the calibrated model, when a GPU profile is given (core/execution/gpu_profile.h): the sum of
//   the step's parts as measured on that GPU (the dense layers' GEMMs for the step's tokens, the
//   LM head for the sampled ones, decode and prefill attention for the step's batch, block copies),
//   no less than the launches of its kernels, plus swaps.
// All quantities are for the whole model; the KV cache's sizes come from the run's geometry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/execution/gpu_profile.h"
#include "core/execution/kv_executor.h"
#include "core/execution/model_shapes.h"

namespace tinyserve {

struct CostModel {
  // The model.
  double weight_bytes = 0;              // read once per step
  double flops_per_token = 0;           // dense matmuls: 2 x active parameters
  double attention_flops_per_pair = 0;  // per (query, cached token), every layer
  // The hardware: every GPU of the instance together.
  double mem_bandwidth = 0;         // bytes/s
  double peak_flops = 0;            // FLOP/s
  double pcie_bandwidth = 25e9;     // bytes/s, host <-> device
  double mem_efficiency = 0.8;      // achievable fraction of the bandwidth
  double compute_efficiency = 0.6;  // achievable fraction of the peak rate
  double step_overhead_s = 0.5e-3;  // scheduling, launches, sampling
  // The calibrated model: measured times of one GPU replace the efficiencies and the overhead
  // above; null: the roofline. shapes: the model's GEMMs and attention heads per GPU.
  std::shared_ptr<const GpuProfile> profile;
  ModelShapes shapes;
  int32_t num_gpus = 1;  // tensor parallel: each GPU runs its share of `shapes` at once

  bool calibrated() const { return profile != nullptr; }
};

// What a step does, in the units the cost model needs.
struct StepWork {
  int64_t new_tokens = 0;           // prefill chunk tokens + decode tokens
  int64_t context_tokens_read = 0;  // K/V tokens read by attention (each sequence's context once)
  int64_t attention_pairs = 0;      // (query, key) pairs: sum over new tokens of their context
  int64_t copied_blocks = 0;        // copy-on-write and fork copies, device to device
  int64_t swapped_blocks = 0;       // swap in + swap out, over PCIe
  // The batch in the calibrated model's terms (a summary, not per sequence).
  int64_t decode_seqs = 0;         // decodes, one query each
  int64_t decode_context_sum = 0;  // their contexts (tokens attended), together
  int64_t decode_context_max = 0;  // the longest
  // Tokens of blocks that another decode of the batch reads too (forks, beams, prefix-cache
  // hits), a whole block per extra reader; counted for the calibrated model only (else 0).
  int64_t decode_shared_tokens = 0;
  int64_t prefill_chunks = 0;
  int64_t prefill_tokens = 0;  // the chunks' new tokens
  int64_t prefill_pairs = 0;   // the chunks' (query, key) pairs (causal), of one head
  int64_t sampled_tokens = 0;  // decodes and chunks that end their prompt: the LM head's rows
  // Query-aware selection (StepPlan::selection): each decode reads its selected blocks' K/V and
  // every block's key bounds (docs/selection.md) instead of its whole context.
  bool selection = false;
  int64_t decode_blocks = 0;           // blocks of the decodes' contexts, together (one KV head)
  int64_t decode_selected_blocks = 0;  // selection on: the blocks each decode selects, together
  int64_t decode_selected_sum = 0;     // selection on: the tokens they hold (the tokens attended)
  int64_t decode_selected_max = 0;     // selection on: the most one decode attends
};

struct StepCost {
  double total_s = 0;
  double memory_s = 0;             // roofline: weights + K/V reads and writes + copies
  double compute_s = 0;            // roofline: arithmetic; calibrated: the GPU's busy time
  double attention_s = 0;          // attention (what the measured kernel replaces)
  double prefill_attention_s = 0;  // attention_s, split: the prefill chunks'
  double decode_attention_s = 0;   // and the decodes'
  double gemm_s = 0;               // calibrated: the dense layers and the LM head
  double overhead_s = 0;           // calibrated: the launches of the step's kernels (a floor)
  double swap_s = 0;
  bool calibrated = false;
  // What decode attention reads, every layer of the model: blocks (one KV head's count) and bytes
  // (K/V, plus the key bounds with selection on), against full attention's.
  int64_t decode_blocks_full = 0;
  int64_t decode_blocks_read = 0;
  double decode_bytes_full = 0;
  double decode_bytes_read = 0;
};

StepCost estimate_step(const CostModel& model, const KvGeometry& geometry, const StepWork& work);

// One line naming the model: "roofline (...)" or "calibrated: GPU profile h100 (device, date)".
std::string describe(const CostModel& model);

// The step's time under the measured clock: the backend's attention time, measured over the
// executors' layers and scaled to the model's, replaces the modelled attention.
double measured_step_s(const CostModel& model, const KvGeometry& geometry, const StepCost& cost,
                       double attention_ms);

}  // namespace tinyserve
