// What the vectorised attention kernels (v3, v4, v5) share: their argument struct, the CTA
// epilogue that merges the warps' partial softmax results, and the split-KV reduce kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

inline constexpr int kWarps = 4;
inline constexpr int kThreads = 32 * kWarps;

struct Args {
  const void* k;                // paged: [num_blocks, num_kv_heads, block_size, D] (one layer);
  const void* v;                // contiguous: [batch, num_kv_heads, max_len, D]
  const void* q;                // [batch, num_heads, D], QueryT<T>
  void* out;                    // [batch, num_heads, D], QueryT<T>
  const int32_t* block_tables;  // [batch, max_blocks_per_seq] (paged)
  const int32_t* context_lens;  // [batch]
  float* part_out;              // [batch, num_heads, max_splits, D], normalised partial outputs
  float* part_ml;               // [batch, num_heads, max_splits, 2]: max (log2 units), sum
  int64_t outer_stride;         // elements between blocks (paged) or sequences (contiguous)
  int64_t head_stride;          // elements between KV heads
  int32_t num_heads;
  int32_t group;        // query heads per KV head
  int32_t block_shift;  // log2(block_size) (paged)
  int32_t max_blocks_per_seq;
  int64_t table_seq_stride;   // block-table entries between sequences (paged)
  int32_t table_head_stride;  // between KV heads: 0, or a row per (sequence, KV head)
  int32_t partition;          // tokens per CTA
  int32_t max_splits;
  int32_t padded_len;    // > 0: padded layout, read this many positions of each sequence
  int32_t num_blocks;    // of the paged pool
  int32_t row_capacity;  // contiguous: max_len, the rows each sequence owns
  float scale_log2;      // softmax scale * log2(e)
  // fp8 pools: element * scale is the value (1 for other dtypes); per KV head when set.
  float k_scale;
  float v_scale;
  const float* k_head_scales;  // [num_kv_heads] or null
  const float* v_head_scales;  // [num_kv_heads] or null

  __device__ __forceinline__ float k_scale_of(int kv_head) const {
    return k_head_scales != nullptr ? k_head_scales[kv_head] : k_scale;
  }
  __device__ __forceinline__ float v_scale_of(int kv_head) const {
    return v_head_scales != nullptr ? v_head_scales[kv_head] : v_scale;
  }
};

// The CTA's result from each warp's (max, sum, unnormalised output) in shared memory:
// normalises, scales by the KV head's v scale, then writes the output (one partition, as
// QueryT<T>) or the partition's partial result.
// sm_acc: [kWarps][G][D + kPad]; sm_m, sm_w (holding each warp's sum): [kWarps][G].
inline constexpr int kPad = 4;  // floats of padding per shared row (fewer bank conflicts)

template <typename T, int D, int G>
__device__ void finish_cta(const Args& a, float (*sm_acc)[G][D + kPad], float (*sm_m)[G],
                           float (*sm_w)[G], int b, int head0, int nheads, int split,
                           int num_splits) {
  using Tq = QueryT<T>;
  __shared__ float sm_total[G][2];  // max, sum of the CTA
  const float v_scale = a.v_scale_of(head0 / a.group);
  __syncthreads();
  if (threadIdx.x < G) {
    const int g = threadIdx.x;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mx = fmaxf(mx, sm_m[w][g]);
    float sum = 0.0f;
    float weight[kWarps];
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      weight[w] = mx == -INFINITY ? 0.0f : exp2f(sm_m[w][g] - mx);
      sum += sm_w[w][g] * weight[w];
    }
    const float inv = sum > 0.0f ? v_scale / sum : 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) sm_w[w][g] = weight[w] * inv;
    sm_total[g][0] = mx;
    sm_total[g][1] = sum;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < G * D; i += kThreads) {
    const int g = i / D;
    const int d = i % D;
    if (g >= nheads) continue;
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) o += sm_w[w][g] * sm_acc[w][g][d];
    const int64_t row_index = static_cast<int64_t>(b) * a.num_heads + head0 + g;
    if (num_splits == 1) {
      static_cast<Tq*>(a.out)[row_index * D + d] = from_float<Tq>(o);
    } else {
      a.part_out[(row_index * a.max_splits + split) * D + d] = o;
    }
  }
  if (num_splits > 1 && threadIdx.x < nheads && threadIdx.x < G) {
    const int64_t at =
        (static_cast<int64_t>(b) * a.num_heads + head0 + threadIdx.x) * a.max_splits + split;
    a.part_ml[2 * at] = sm_total[threadIdx.x][0];
    a.part_ml[2 * at + 1] = sm_total[threadIdx.x][1];
  }
}

// Merges the partitions of each (sequence, query head); one thread per output element.
template <typename T, int D>
__global__ void __launch_bounds__(D) reduce_kernel(const Args a) {
  const int head = blockIdx.x;
  const int b = blockIdx.y;
  const int d = threadIdx.x;
  const int read_len = a.padded_len > 0 ? a.padded_len : a.context_lens[b];
  const int n = (read_len + a.partition - 1) / a.partition;
  if (n <= 1) return;  // written directly by attention_kernel
  const int64_t row_index = static_cast<int64_t>(b) * a.num_heads + head;
  const float* ml = a.part_ml + 2 * row_index * a.max_splits;
  const float* part = a.part_out + row_index * a.max_splits * D + d;
  float mx = -INFINITY;
  for (int s = 0; s < n; ++s) mx = fmaxf(mx, ml[2 * s]);
  float sum = 0.0f;
  float o = 0.0f;
  for (int s = 0; s < n; ++s) {
    const float m = ml[2 * s];
    const float w = m == -INFINITY ? 0.0f : exp2f(m - mx) * ml[2 * s + 1];
    sum += w;
    o = fmaf(w, part[s * D], o);
  }
  static_cast<QueryT<T>*>(a.out)[row_index * D + d] = from_float<QueryT<T>>(o / sum);
}

}  // namespace tinyserve::gpu::fast
