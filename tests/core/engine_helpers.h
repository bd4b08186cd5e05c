// Builders for engine tests: a constant-time cost model and small requests.
#pragma once

#include <memory>
#include <vector>

#include "core/engine/engine.h"

namespace tinyserve::testing {

// Every step takes step_ms of simulated time, whatever it does.
inline CostModel constant_cost(double step_ms = 10.0) {
  CostModel c;
  c.weight_bytes = step_ms * 1e-3 * 1e12;
  c.mem_bandwidth = 1e12;
  c.mem_efficiency = 1.0;
  c.peak_flops = 1e30;
  c.pcie_bandwidth = 1e30;
  c.step_overhead_s = 0;
  return c;
}

inline EngineConfig small_engine(int32_t gpu_blocks, int32_t block_size = 4,
                                 int32_t cpu_blocks = 0) {
  EngineConfig c;
  c.geometry.block_size = block_size;
  c.geometry.num_gpu_blocks = gpu_blocks;
  c.geometry.num_cpu_blocks = cpu_blocks;
  // 4 bytes per token (1 layer, 1 KV head of 1 dim, fp16): swaps move bytes, and the cost model's
  // time stays the constant step to within 1e-7.
  c.geometry.model_layers = 1;
  c.geometry.num_kv_heads = 1;
  c.geometry.head_dim = 1;
  c.geometry.dtype = DType::kF16;
  PagedOptions paged;
  paged.watermark = 0.0;
  c.allocator = paged;
  c.scheduler.max_num_seqs = 64;
  c.scheduler.max_num_batched_tokens = 256;
  c.cost = constant_cost();
  c.check_invariants = true;
  return c;
}

inline PagedOptions& paged_options(EngineConfig& c) {
  return std::get<PagedOptions>(c.allocator);
}

inline RequestSpec req(int64_t id, int32_t prompt, int32_t output, double arrival = 0.0) {
  RequestSpec r;
  r.id = id;
  r.arrival = arrival;
  r.prompt = {{static_cast<uint64_t>(1000 + id), prompt}};
  r.output_len = output;
  return r;
}

inline std::unique_ptr<Engine> make_engine(const EngineConfig& c, std::vector<RequestSpec> reqs) {
  return std::make_unique<Engine>(c, std::move(reqs), std::make_unique<AccountingBackend>());
}

inline int count_events(const Engine& e, EventKind kind, int64_t request = -2) {
  int n = 0;
  for (const Event& ev : e.step_events())
    n += ev.kind == kind && (request == -2 || ev.request == request);
  return n;
}

}  // namespace tinyserve::testing
