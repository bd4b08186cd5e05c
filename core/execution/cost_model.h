// A roofline cost model of one engine step: the step takes as long as the larger of its memory
// traffic over the GPU's bandwidth and its arithmetic over the GPU's rate, plus PCIe transfers
// for swapping and a fixed per-step overhead. All quantities are for the whole model; the KV
// cache's sizes come from the run's geometry.
#pragma once

#include <cstdint>

#include "core/execution/kv_executor.h"

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
};

// What a step does, in the units the cost model needs.
struct StepWork {
  int64_t new_tokens = 0;           // prefill chunk tokens + decode tokens
  int64_t context_tokens_read = 0;  // K/V tokens read by attention (each sequence's context once)
  int64_t attention_pairs = 0;      // (query, key) pairs: sum over new tokens of their context
  int64_t copied_blocks = 0;        // copy-on-write and fork copies, device to device
  int64_t swapped_blocks = 0;       // swap in + swap out, over PCIe
};

struct StepCost {
  double total_s = 0;
  double memory_s = 0;     // weights + K/V reads and writes + copies
  double compute_s = 0;
  double attention_s = 0;  // the K/V reads of attention alone (what the measured kernel replaces)
  double swap_s = 0;
};

StepCost estimate_step(const CostModel& model, const KvGeometry& geometry, const StepWork& work);

// The step's time under the measured clock: the backend's attention time, measured over the
// executors' layers and scaled to the model's, replaces the modelled attention reads.
double measured_step_s(const CostModel& model, const KvGeometry& geometry, const StepCost& cost,
                       double attention_ms);

}  // namespace tinyserve
