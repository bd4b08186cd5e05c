#include "core/execution/cost_model.h"

#include <algorithm>

#include "core/base/strings.h"

namespace tinyserve {

namespace {

// Decode attention's reads (StepCost's decode_* fields): with selection, the selected blocks'
// K/V and the key bounds of every block of the decodes' contexts, each layer of the model.
void count_decode_reads(const KvGeometry& g, const StepWork& w, StepCost& c) {
  const auto token_bytes = static_cast<double>(g.bytes_per_token());
  c.decode_blocks_full = w.decode_blocks;
  c.decode_bytes_full = static_cast<double>(w.decode_context_sum) * token_bytes;
  if (!w.selection) {
    c.decode_blocks_read = c.decode_blocks_full;
    c.decode_bytes_read = c.decode_bytes_full;
    return;
  }
  c.decode_blocks_read = w.decode_selected_blocks;
  c.decode_bytes_read = static_cast<double>(w.decode_selected_sum) * token_bytes +
                        static_cast<double>(w.decode_blocks) *
                            static_cast<double>(g.bounds_block_bytes()) * g.model_layers;
}

// The calibrated model (docs/cost_model.md, "The calibrated model").
StepCost estimate_calibrated(const CostModel& m, const KvGeometry& g, const StepWork& w) {
  const GpuProfile& p = *m.profile;
  const ModelShapes& s = m.shapes;
  StepCost c;
  c.calibrated = true;
  const auto tokens = static_cast<double>(w.new_tokens);
  double gemm_us = 0;
  int64_t kernels = 0;
  if (tokens > 0) {
    for (const WeightGemm& gemm : s.gemms) {
      if (gemm.routed()) {
        // Tokens spread evenly over the experts they reach; one strided-batched launch timed for
        // every expert, scaled to the experts reached.
        const double routed = tokens * gemm.experts_per_token;
        const double active = std::min<double>(gemm.experts, routed);
        gemm_us += gemm.layers * p.gemm_us(s.dtype, routed / active, gemm.n, gemm.k, gemm.experts) *
                   active / gemm.experts;
      } else {
        gemm_us += gemm.layers * p.gemm_us(s.dtype, tokens, gemm.n, gemm.k);
      }
      kernels += gemm.layers;
    }
  }
  if (s.lm_head.n > 0 && w.sampled_tokens > 0) {
    gemm_us += p.gemm_us(s.dtype, static_cast<double>(w.sampled_tokens), s.lm_head.n, s.lm_head.k);
    kernels += 1;
  }
  // Back to back, each GEMM waits for the one before it to drain.
  gemm_us += static_cast<double>(kernels) * p.kernel_gap_us;
  c.gemm_s = gemm_us * 1e-6;

  // Attention: the profile's kernels, one layer times the layers; the roofline's reads where the
  // profile has no table (or the model attends in a latent space).
  const double layers = g.model_layers;
  const double bandwidth = m.mem_bandwidth * m.mem_efficiency;
  const auto token_bytes = static_cast<double>(g.bytes_per_token());
  count_decode_reads(g, w, c);
  const double decode_read = c.decode_bytes_read;
  const double prefill_read =
      static_cast<double>(w.context_tokens_read) * token_bytes - c.decode_bytes_full;
  AttentionShape a;
  a.dtype = g.dtype;
  a.num_heads = s.head_dim > 0 ? s.num_heads : g.num_heads;
  a.num_kv_heads = s.head_dim > 0 ? s.num_kv_heads : g.num_kv_heads;
  a.head_dim = s.head_dim > 0 ? s.head_dim : g.head_dim;
  a.block_size = g.block_size;
  const double prefill_us =
      s.mla ? -1 : p.prefill_us(a, w.prefill_chunks, w.prefill_tokens, w.prefill_pairs);
  // With selection, the sparse attention is timed as the profile's decode kernel over the tokens
  // it attends, and the key bounds' reads (scoring; the top-K is small beside them) at the
  // roofline's bandwidth.
  const double decode_us =
      s.mla         ? -1
      : w.selection ? p.decode_us(a, w.decode_seqs, w.decode_selected_sum, w.decode_selected_max, 0)
                    : p.decode_us(a, w.decode_seqs, w.decode_context_sum, w.decode_context_max,
                                  w.decode_shared_tokens);
  const double bounds_s =
      w.selection
          ? (decode_read - static_cast<double>(w.decode_selected_sum) * token_bytes) / bandwidth
          : 0.0;
  c.prefill_attention_s =
      prefill_us >= 0 ? layers * prefill_us * 1e-6 : std::max(0.0, prefill_read) / bandwidth;
  c.decode_attention_s =
      decode_us >= 0 ? layers * decode_us * 1e-6 + bounds_s : decode_read / bandwidth;
  c.attention_s = c.prefill_attention_s + c.decode_attention_s;
  kernels += g.model_layers * ((w.prefill_chunks > 0 ? 1 : 0) + (w.decode_seqs > 0 ? 1 : 0));
  // Scoring and top-K: two more launches per layer.
  if (w.selection && w.decode_seqs > 0) kernels += 2 * g.model_layers;

  // Copies and swaps: each GPU moves its share of the blocks.
  const double gpus = std::max(m.num_gpus, 1);
  const double block_bytes = static_cast<double>(g.model_block_bytes()) / gpus;
  const double copy_bandwidth = p.copy_gb_s > 0 ? p.copy_gb_s * 1e9 : bandwidth / (2 * gpus);
  const double swap_bandwidth = p.swap_gb_s > 0 ? p.swap_gb_s * 1e9 : m.pcie_bandwidth / gpus;
  const double copies_s = static_cast<double>(w.copied_blocks) * block_bytes / copy_bandwidth;
  c.swap_s = static_cast<double>(w.swapped_blocks) * block_bytes / swap_bandwidth;

  c.compute_s = c.gemm_s + c.attention_s + copies_s;
  c.memory_s = c.compute_s;
  c.overhead_s = static_cast<double>(kernels) * p.launch_us * 1e-6;
  c.total_s = std::max(c.compute_s, c.overhead_s) + c.swap_s;
  return c;
}

}  // namespace

StepCost estimate_step(const CostModel& m, const KvGeometry& g, const StepWork& w) {
  if (m.calibrated()) return estimate_calibrated(m, g, w);
  StepCost c;
  const double bandwidth = m.mem_bandwidth * m.mem_efficiency;
  const auto token_bytes = static_cast<double>(g.bytes_per_token());
  count_decode_reads(g, w, c);
  // Selection off: decode_bytes_read == decode_bytes_full, so kv_read is the contexts' bytes.
  const double kv_read = w.selection ? static_cast<double>(w.context_tokens_read) * token_bytes -
                                           c.decode_bytes_full + c.decode_bytes_read
                                     : static_cast<double>(w.context_tokens_read) * token_bytes;
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
  c.decode_attention_s = c.decode_bytes_read / bandwidth;
  c.prefill_attention_s = std::max(0.0, c.attention_s - c.decode_attention_s);
  return c;
}

std::string describe(const CostModel& m) {
  if (m.calibrated()) {
    const GpuProfile& p = *m.profile;
    return cat("calibrated: GPU profile ", p.gpu, " (", p.device, ", ", p.date, ")");
  }
  return cat("roofline: ", m.mem_efficiency, " of the bandwidth, ", m.compute_efficiency,
             " of the tensor rate, ", m.step_overhead_s * 1e3, " ms a step");
}

double measured_step_s(const CostModel& m, const KvGeometry& g, const StepCost& c,
                       double attention_ms) {
  const double measured_s = attention_ms * 1e-3 * g.model_layers / g.num_layers;
  if (c.calibrated) {
    return std::max(c.compute_s - c.attention_s + measured_s, c.overhead_s) + c.swap_s;
  }
  return std::max(c.memory_s - c.attention_s + measured_s, c.compute_s) + c.swap_s +
         m.step_overhead_s;
}

}  // namespace tinyserve
