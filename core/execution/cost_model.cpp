#include "core/execution/cost_model.h"

#include <algorithm>

namespace tinyserve {

StepCost estimate_step(const CostModel& m, const KvGeometry& g, const StepWork& w) {
  StepCost c;
  const double bandwidth = m.mem_bandwidth * m.mem_efficiency;
  const auto token_bytes = static_cast<double>(g.bytes_per_token());
  const double kv_read = static_cast<double>(w.context_tokens_read) * token_bytes;
  const double kv_write = static_cast<double>(w.new_tokens) * token_bytes;
  const double copies =
      2.0 * static_cast<double>(w.copied_blocks) * static_cast<double>(g.model_block_bytes());
  c.attention_s = kv_read / bandwidth;
  c.memory_s = (m.weight_bytes + kv_read + kv_write + copies) / bandwidth;
  c.compute_s = (static_cast<double>(w.new_tokens) * m.flops_per_token +
                 static_cast<double>(w.attention_pairs) * m.attention_flops_per_pair) /
                (m.peak_flops * m.compute_efficiency);
  c.swap_s = static_cast<double>(w.swapped_blocks) * static_cast<double>(g.model_block_bytes()) /
             m.pcie_bandwidth;
  c.total_s = std::max(c.memory_s, c.compute_s) + c.swap_s + m.step_overhead_s;
  return c;
}

double measured_step_s(const CostModel& m, const KvGeometry& g, const StepCost& c,
                       double attention_ms) {
  const double measured_s = attention_ms * 1e-3 * g.model_layers / g.num_layers;
  return std::max(c.memory_s - c.attention_s + measured_s, c.compute_s) + c.swap_s +
         m.step_overhead_s;
}

}  // namespace tinyserve
