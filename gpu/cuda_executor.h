// The CUDA executor: K/V pools for num_layers layers in device memory, a CPU swap pool in mapped
// pinned host memory, and step plans (core/execution/kv_executor.h) run on one stream with every
// stage timed by CUDA events. Plain C++: the app and the tests compile this header with g++.
#pragma once

#include <memory>
#include <string>

#include "core/execution/kv_executor.h"
#include "core/execution/selection.h"
#include "gpu/prefill_attention.h"

namespace tinyserve::gpu {

struct CudaExecutorOptions {
  KernelVersion kernel = KernelVersion::kV5;  // of the decodes' attention
  int32_t partition_tokens = 0;               // v4/v5 split-KV partition; 0 = chosen per step
  PrefillOptions prefill;                     // the prefill chunks' attention (kernel, split-KV)
  // After each step, time the same batch's attention over a contiguous layout
  // ([batch, num_kv_heads, max_context_len, head_dim] per layer, filled once with finite values)
  // when that scratch fits in max_contiguous_bytes: the paged vs contiguous comparison, live.
  bool compare_contiguous = false;
  size_t max_contiguous_bytes = size_t{2} << 30;
  // Query-aware selection (StepPlan::selection): score and top-K in one launch (the CTA that
  // finishes a (sequence, KV head)'s scores selects its blocks) rather than two. Off: on the
  // H100 the two launches were as fast or faster (docs/selection.md).
  bool fused_select = false;
  // With key bounds (KvGeometry::key_bounds): write the new K/V and update the written blocks'
  // bounds in one launch per layer, rather than reshape_and_cache then a bounds kernel (used when
  // every block's tokens lie close together in the step's token list, as prefill chunks and
  // decodes do). Off until it has run on a device (docs/selection.md).
  bool fused_bounds = false;
  // Measurement: hold the stream this long (a one-thread spin) before the step's stages, so that
  // their launches queue up behind it and each stage's events time its kernels alone, without
  // the host's launch gaps (`tinyserve calibrate` and `cost-report`). 0: no hold.
  int32_t queue_ahead_us = 0;
};

class CudaExecutor final : public KvExecutor {
 public:
  // Fails without a device, on a bad geometry, or when the pools do not fit in free memory (the
  // message gives both byte counts and the largest pool that would fit).
  static Expected<std::unique_ptr<CudaExecutor>> create(const KvGeometry& geometry,
                                                        const CudaExecutorOptions& options = {});
  ~CudaExecutor() override;
  CudaExecutor(const CudaExecutor&) = delete;
  CudaExecutor& operator=(const CudaExecutor&) = delete;

  std::string_view name() const override { return "cuda"; }
  const KvGeometry& geometry() const override;
  // Validates the plan whole, grows the step's buffers, then enqueues the five stages and waits
  // for them (attention: the prefill kernel over the chunks, then the decode kernel, each timed).
  // An invalid plan or a failed allocation changes nothing; a launch error stops the step after the
  // stages already applied (StepResult::stages_applied); an asynchronous device fault makes this
  // executor refuse further steps (the CUDA context is lost).
  StepResult execute(const StepPlan& plan) override;
  Expected<BlockData> read_block(Pool pool, int32_t layer, BlockId block) const override;
  Expected<std::vector<float>> read_output() const override;

  const CudaExecutorOptions& options() const;
  void set_fused_select(bool fused);
  // The last step's selection of one layer, read back (empty when selection was off).
  Expected<BlockSelection> read_selection(int32_t layer) const;
  // The key bounds of one GPU block in one layer, raw bytes: [num_kv_heads, 2, head_dim].
  Expected<std::vector<uint8_t>> read_key_bounds(Pool pool, int32_t layer, BlockId block) const;
  const std::string& device_name() const;

 private:
  struct Impl;
  explicit CudaExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyserve::gpu
