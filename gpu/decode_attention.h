// Decode attention launchers (paged, contiguous, padded) for every kernel version. Plain C++
// over the structs of core/execution/paged_kv.h with device pointers; each launcher enqueues on a
// stream and returns the launch error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/execution/kv_executor.h"
#include "core/execution/paged_kv.h"
#include "gpu/decode_v6_plan.h"

namespace tinyserve::gpu {

struct AttentionOptions {
  int32_t partition_tokens = 0;  // v4/v5: tokens per split-KV partition; 0 = chosen from the shape
  // Optional host copy of batch.context_lens ([batch]): lets v5 count its CTAs exactly when it
  // chooses the partition, and v6 balance its warps (without it v6 plans every sequence at
  // max_context_len: right, but unbalanced). When given it must equal the device's lengths.
  const int32_t* host_context_lens = nullptr;
  int32_t v6_warps = 0;  // v6: warps to spread the work over; 0 = one wave of resident warps
  int32_t v6_item_cost = v6::kDefaultItemCost;  // v6: a (sequence, KV head)'s fixed cost, in tiles
};

// What a launch will do: how the context is split and the device workspace it needs.
struct AttentionPlan {
  KernelVersion version = KernelVersion::kV4;
  int32_t partition_tokens = 0;  // tokens per CTA; >= max_context_len means no split
  int32_t max_splits = 1;        // partitions of the longest sequence
  size_t workspace_bytes = 0;    // float partial outputs and (max, sum) pairs; 0 without splits
  v6::WorkList work;             // v6: the warps' work, staged into the workspace's head
};

// Whether v5 runs its tensor-core kernel for this shape (fp16/bf16/fp8, head dim <= 128, group
// 2..8); otherwise v5 runs v4.
bool uses_tensor_cores(KernelVersion version, DType dtype, int32_t head_dim, int32_t group);

// Whether v6 runs its own kernel for this shape (not f32, head dim <= 128); otherwise a v6 plan
// is a v4 plan.
bool v6_runs(DType dtype, int32_t head_dim);

// Preconditions: head_dim 64, 128 or 256; num_heads / num_kv_heads in 1..8; batch.max_context_len
// bounds every context length (for the padded layout, it is the padded length).
AttentionPlan plan_attention(KernelVersion version, DType dtype, const DecodeBatch& batch,
                             int32_t num_kv_heads, int32_t head_dim,
                             const AttentionOptions& options = {});

// Copies what the plan needs on the device into the workspace's head (v6's work list; nothing
// for the other versions). Once per plan, before its launches; the launches leave it valid.
cudaError_t stage_attention_plan(const AttentionPlan& plan, void* workspace, cudaStream_t stream);

// One layer (cache.num_layers == 1). workspace: plan.workspace_bytes of device memory, staged.
cudaError_t paged_attention(const AttentionPlan& plan, const PagedKv& cache,
                            const DecodeBatch& batch, void* workspace, cudaStream_t stream);

// Resident CTAs per SM of the kernel that paged_attention would launch (v3..v5; 0 for v1/v2).
int32_t attention_ctas_per_sm(const AttentionPlan& plan, const PagedKv& cache,
                              const DecodeBatch& batch);

// The v4, v5 or v6 kernel over the contiguous layout (cache.read_padded: the padded-batch
// baseline, v4 and v5 only). The plan must come from plan_attention(kV4, kV5 or kV6, ...), with
// batch.max_context_len == cache.max_len when padded.
cudaError_t contiguous_attention(const AttentionPlan& plan, const ContiguousKv& cache,
                                 const DecodeBatch& batch, void* workspace, cudaStream_t stream);

}  // namespace tinyserve::gpu
