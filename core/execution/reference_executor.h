// The CPU executor: runs step plans (core/execution/kv_executor.h) on host memory with the
// reference math of core/execution/attention_reference.h. The oracle of the CUDA executor and the
// CPU backend's engine room; meant for small geometries (its pools live in host memory, its
// attention is scalar).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/execution/kv_executor.h"
#include "core/execution/paged_kv.h"
#include "core/execution/selection.h"

namespace tinyserve {

class ReferenceExecutor final : public KvExecutor {
 public:
  // Pools larger than max_pool_bytes (GPU and CPU pools together) are refused.
  static Expected<std::unique_ptr<ReferenceExecutor>> create(const KvGeometry& geometry,
                                                             int64_t max_pool_bytes = int64_t{4}
                                                                                      << 30);

  std::string_view name() const override { return "cpu-reference"; }
  const KvGeometry& geometry() const override { return geometry_; }
  StepResult execute(const StepPlan& plan) override;
  Expected<BlockData> read_block(Pool pool, int32_t layer, BlockId block) const override;
  Expected<std::vector<float>> read_output() const override;

  // Off: steps keep the pools (copies, swaps, K/V writes) but compute no attention, and
  // read_output() fails until a step with it on. An oracle checking chosen steps of long runs.
  void set_attention_enabled(bool on) { attention_enabled_ = on; }

  // Views of the pools (host pointers), all layers.
  PagedKv gpu_pool() { return view(gpu_k_, gpu_v_, geometry_.num_gpu_blocks); }
  PagedKv cpu_pool() { return view(cpu_k_, cpu_v_, geometry_.num_cpu_blocks); }
  // Their key bounds (KvGeometry::key_bounds; empty views without).
  KeyBounds gpu_bounds() { return bounds_view(gpu_bounds_, geometry_.num_gpu_blocks); }
  KeyBounds cpu_bounds() { return bounds_view(cpu_bounds_, geometry_.num_cpu_blocks); }

  // The last step's selection of one layer (empty when selection was off).
  const BlockSelection& last_selection(int32_t layer) const;
  // How the last step's selection of one layer compares with full attention (exact, on the
  // step's queries and the pool as the step left it). Fails when the step selected nothing.
  Expected<SelectionQuality> selection_quality(int32_t layer);

 private:
  explicit ReferenceExecutor(const KvGeometry& geometry);
  PagedKv view(std::vector<uint8_t>& k, std::vector<uint8_t>& v, int32_t num_blocks);
  KeyBounds bounds_view(std::vector<uint8_t>& data, int32_t num_blocks);
  void write_new_tokens(const StepPlan& plan);
  void attention(const StepPlan& plan, StageTimes& times, SelectionStats& stats);
  DecodeBatch layer_batch(int32_t layer);

  KvGeometry geometry_;
  std::vector<uint8_t> gpu_k_, gpu_v_;  // [num_layers, num_gpu_blocks, num_kv_heads, block_size,
                                        //  head_dim] in dtype
  std::vector<uint8_t> cpu_k_, cpu_v_;  // [num_layers, num_cpu_blocks, ...] likewise
  std::vector<uint8_t> gpu_bounds_;     // [num_layers, num_gpu_blocks, num_kv_heads, 2, head_dim]
  std::vector<uint8_t> cpu_bounds_;     // [num_layers, num_cpu_blocks, ...] likewise
  std::vector<float> output_;           // [num_layers, num_queries, num_heads, head_dim]
  bool attention_enabled_ = true;
  bool output_valid_ = true;  // the last step computed attention (or none ran)
  // The last step's decode entries, kept for selection_quality.
  std::vector<uint8_t> queries_;        // [num_layers, decodes, num_heads, head_dim] in dtype
  std::vector<int32_t> tables_, lens_;  // the decodes' block tables and context lengths
  int32_t max_blocks_per_seq_ = 0;
  std::vector<BlockSelection> selections_;  // [num_layers]
};

}  // namespace tinyserve
