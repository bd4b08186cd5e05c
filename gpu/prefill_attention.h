// Paged prefill attention: a step's prefill chunks, ragged (CSR query offsets), each query over
// its sequence's cached prefix through the block table plus the chunk up to itself (causal).
// The host plans a launch (plan_prefill: work items, split-KV, workspace), the device runs it
// (prefill_attention). Plain C++ over core/execution/paged_kv.h with device pointers.
//
// Three kernels share the plan (docs/kernels.md, "Prefill attention"):
//   simt   CUDA cores, one warp per (query, head): fp32 pools, and the fallback
//   mma    sm_80+: mma.sync m16n8k16 tensor cores, 4 warps over 64 rows, cp.async double buffer
//   wgmma  sm_90a: a producer warpgroup gathers K/V pages with cp.async into 128B-swizzled
//          stages, two consumer warpgroups run wgmma over 128 rows; persistent CTAs
// Every kernel reads f16, bf16 and fp8 pools (simt also f32). fp8 pools (q and out fp16,
// query_dtype) go through the fp16 tensor cores: their tiles are copied as bytes and converted to
// fp16 in shared memory, exactly; cache.scales (per tensor or per KV head) are applied outside the
// products, the K scale in the score scale and the V scale in the output's normalisation.
// The tensor-core kernels pack a GQA group into the rows of a tile (row = query * group + head
// of the group), so one K/V tile feeds every head of the group; each work item is one tile of
// rows of one chunk, one KV head and one KV range (split-KV when chunks are few and prefixes
// long, merged by a second kernel).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/base/half.h"
#include "core/execution/paged_kv.h"

namespace tinyserve::gpu {

enum class PrefillKernel : uint8_t { kAuto, kSimt, kMma, kWgmma };
std::string_view prefill_kernel_name(PrefillKernel kernel);  // "auto", "simt", "mma", "wgmma"

struct PrefillOptions {
  PrefillKernel kernel = PrefillKernel::kAuto;  // auto: wgmma on sm_90, mma on sm_80+, else simt
  // Split-KV: KV tokens per work item, rounded up to the kernel's KV tile. 0: chosen from the
  // shape (split only while the items would leave SMs idle); < 0: never split.
  int32_t kv_chunk = 0;
  // wgmma: the two consumer warpgroups take turns issuing their products (FlashAttention-3's
  // ping-pong), so one's softmax runs under the other's tensor-core work. Off by default: on
  // the H100 it was no faster on long chunks and 18 % slower on P1 (docs/kernel_notes.md).
  bool pingpong = false;
  // wgmma: the producer looks each KV row up in the block table once per tile, a tile ahead,
  // and shares the offsets by shuffle (false: each thread reads the table for every row it
  // copies, as it copies it).
  bool prefetch_rows = true;
};

// What the launch needs to know of the model and the batch (host values).
struct PrefillShape {
  DType dtype = DType::kF16;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t batch = 0;                      // prefill entries
  const int32_t* query_start = nullptr;   // [batch + 1], host
  const int32_t* context_lens = nullptr;  // [batch], host
};

// A planned launch. `index` must reach the device unchanged (the caller uploads it, e.g. with
// the step's other index arrays) and is passed to prefill_attention as device_index.
struct PrefillPlan {
  PrefillKernel kernel = PrefillKernel::kSimt;
  int32_t tile_rows = 0;       // packed rows (query x head of group) per work item
  int32_t kv_tile = 0;         // KV tokens per inner iteration
  int32_t kv_chunk = 0;        // KV tokens per split; 0: no split
  int32_t num_items = 0;       // work items, each run for every KV head
  int32_t num_merged = 0;      // queries whose split partials are merged
  int32_t grid = 0;            // CTAs of the attention kernel
  bool pingpong = false;       // PrefillOptions::pingpong
  bool prefetch_rows = true;   // PrefillOptions::prefetch_rows
  std::vector<int32_t> index;  // [num_items, 8] items, then [num_merged, 4] merge rows
  size_t workspace_bytes = 0;  // float partial outputs and (max, sum) pairs of split items
  int64_t attended_pairs = 0;  // sum over queries of keys attended (causal), one head
};

// Whether the device can run the kernel on pools of dtype (wgmma: an sm_90 device and a build
// with sm_90a code; mma and wgmma: f16, bf16, fp8; simt: any device, every dtype).
bool prefill_kernel_available(PrefillKernel kernel, DType dtype);

// Preconditions: head_dim 64, 128 or 256; group 1..8; shape.query_start increasing from 0.
PrefillPlan plan_prefill(const PrefillShape& shape, const PrefillOptions& options = {});

// One layer (cache.num_layers == 1). device_index: plan.index on the device; workspace:
// plan.workspace_bytes of device memory; fp8 pools: cache.scales' per-head arrays, when set, in
// device memory.
cudaError_t prefill_attention(const PrefillPlan& plan, const int32_t* device_index,
                              const PagedKv& cache, const PrefillBatch& batch, void* workspace,
                              cudaStream_t stream);

}  // namespace tinyserve::gpu
