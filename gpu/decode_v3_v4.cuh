// The vectorised decode attention kernels (v3, v4; v5's tensor-core kernel is in
// decode_v5_tensor_core.cuh, the shared epilogue and reduce kernel in decode_common.cuh), templated
// on element type, head dim, GQA group bound and layout, and their launch dispatch. Instantiated
// once per dtype in decode_v3_v5_{f32,f16,bf16}.cu so the three compile in parallel.
//
// Work split: a "row" of kLanes threads holds one token's K (and V) row, 16 bytes per thread per
// load; a warp holds 32 / kLanes rows, a CTA kRows; each thread keeps a running max, sum and
// output slice per query head (online softmax in registers, log2 domain). At the end the rows
// merge through warp shuffles, the warps through shared memory.
//   v3: one CTA per (sequence, query head), the whole context, no prefetch.
//   v4: one CTA per (sequence, KV head, partition of `partition` tokens): the group's query heads
//       share every K/V load; partitions merge in reduce_kernel; the next step's K/V loads are
//       issued before the current step is used.
//   v5: for GQA groups of 2 to 8 in fp16/bf16 with head dims up to 128, v4's work split with
//       the scores and weighted sums on the tensor cores (attention_tc_kernel); other shapes
//       (MHA, fp32, head dim 256) run v4, which already streams at the copy bandwidth for MHA.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda_check.h"
#include "gpu/decode_common.cuh"
#include "gpu/decode_v5_tensor_core.cuh"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

template <typename T, int D>
struct Shape {
  static constexpr int kVec = kVecElems<T>;
  static constexpr int kVecsPerRow = D / kVec;
  static constexpr int kLanes = kVecsPerRow < 32 ? kVecsPerRow : 32;  // threads per token row
  static constexpr int kVecsPerLane = kVecsPerRow / kLanes;
  static constexpr int kElems = kVecsPerLane * kVec;  // elements of a row per thread
  static constexpr int kRowsPerWarp = 32 / kLanes;
  static constexpr int kRows = kWarps * kRowsPerWarp;        // tokens per CTA per sub-step
  static constexpr int kUnroll = kVecsPerLane == 1 ? 2 : 1;  // sub-steps per step
  static constexpr int kStep = kRows * kUnroll;              // tokens per CTA per step
};

// Merges (m2, l2, acc2) into (m, l, acc); maxima in log2 units, -inf for "no token yet".
template <int E>
__device__ __forceinline__ void merge(float& m, float& l, float (&acc)[E], float m2, float l2,
                                      const float (&acc2)[E]) {
  const float mn = fmaxf(m, m2);
  if (mn == -INFINITY) return;
  const float a = exp2f(m - mn);
  const float b = exp2f(m2 - mn);
  l = l * a + l2 * b;
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = acc[e] * a + acc2[e] * b;
  m = mn;
}

template <typename T, int D, int G, bool kPaged, bool kGrouped>
__global__ void __launch_bounds__(kThreads, G <= 4 ? 4 : 2) attention_kernel(const Args a) {
  using S = Shape<T, D>;
  constexpr int U = S::kUnroll;
  constexpr int VPL = S::kVecsPerLane;
  constexpr int E = S::kElems;
  constexpr int L = S::kLanes;
  constexpr int kVec = S::kVec;

  const int b = blockIdx.y;
  const int split = blockIdx.z;
  const int kv_head = kGrouped ? blockIdx.x : blockIdx.x / a.group;
  const int head0 = kGrouped ? blockIdx.x * a.group : blockIdx.x;
  const int nheads = kGrouped ? a.group : 1;
  const int len = a.context_lens[b];
  const int read_len = a.padded_len > 0 ? a.padded_len : len;
  const int begin = split * a.partition;
  if (begin >= read_len) return;
  const int end = min(begin + a.partition, read_len);  // positions read
  const int valid_end = min(end, len);                 // positions attended
  const int num_splits = (read_len + a.partition - 1) / a.partition;

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int sub = lane % L;
  const int row = warp * S::kRowsPerWarp + lane / L;

  const T* k_head = static_cast<const T*>(a.k) + kv_head * a.head_stride;
  const T* v_head = static_cast<const T*>(a.v) + kv_head * a.head_stride;
  const int32_t* table =
      a.block_tables + b * a.table_seq_stride + static_cast<int64_t>(kv_head) * a.table_head_stride;
  const int block_mask = (1 << a.block_shift) - 1;

  using Tq = QueryT<T>;
  const float q_scale = a.scale_log2 * (kIsFp8<T> ? a.k_scale_of(kv_head) : 1.0f);
  float q[G][E];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < nheads) {
      const Tq* qh =
          static_cast<const Tq*>(a.q) + (static_cast<int64_t>(b) * a.num_heads + head0 + g) * D;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        // kVec query elements (one or two 16-byte vectors) go with each K vector.
#pragma unroll
        for (int h = 0; h < kVec / kVecElems<Tq>; ++h) {
          vec_to_float<Tq>(
              *reinterpret_cast<const uint4*>(qh + (j * L + sub) * kVec + h * kVecElems<Tq>),
              &q[g][j * kVec + h * kVecElems<Tq>]);
        }
      }
#pragma unroll
      for (int e = 0; e < E; ++e) q[g][e] *= q_scale;
    } else {
#pragma unroll
      for (int e = 0; e < E; ++e) q[g][e] = 0.0f;
    }
  }

  // Loads the K/V rows of sub-steps u of the step at `base`; rows past `end` re-read the last
  // position read (always valid memory) and are masked out of the softmax.
  auto load = [&](int base, uint4(&kr)[U][VPL], uint4(&vr)[U][VPL]) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int t = min(base + u * S::kRows + row, end - 1);
      int64_t offset;
      if constexpr (kPaged) {
        offset = static_cast<int64_t>(__ldg(table + (t >> a.block_shift))) * a.outer_stride +
                 (t & block_mask) * D;
      } else {
        offset = static_cast<int64_t>(b) * a.outer_stride + static_cast<int64_t>(t) * D;
      }
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        const int64_t at = offset + (j * L + sub) * kVec;
        kr[u][j] = load_vec(k_head + at);
        vr[u][j] = load_vec(v_head + at);
      }
    }
  };

  float m[G], l[G], acc[G][E];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) acc[g][e] = 0.0f;
  }

  auto consume = [&](int base, const uint4(&kr)[U][VPL], const uint4(&vr)[U][VPL]) {
    float s[U][G];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[E];
#pragma unroll
      for (int j = 0; j < VPL; ++j) vec_to_float<T>(kr[u][j], &kf[j * kVec]);
      const bool valid = base + u * S::kRows + row < valid_end;
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) dot = fmaf(q[g][e], kf[e], dot);
#pragma unroll
        for (int o = L / 2; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        s[u][g] = valid ? dot : -INFINITY;
      }
    }
    float vf[U][E];
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int j = 0; j < VPL; ++j) vec_to_float<T>(vr[u][j], &vf[u][j * kVec]);
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float mx = s[0][g];
#pragma unroll
      for (int u = 1; u < U; ++u) mx = fmaxf(mx, s[u][g]);
      const float m_new = fmaxf(m[g], mx);
      if (m_new == -INFINITY) continue;  // no attended token in this row yet
      if (m_new > m[g]) {
        const float alpha = exp2f(m[g] - m_new);
        l[g] *= alpha;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[g][e] *= alpha;
        m[g] = m_new;
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const float p = exp2f(s[u][g] - m_new);
        l[g] += p;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[g][e] = fmaf(p, vf[u][e], acc[g][e]);
      }
    }
  };

  uint4 kc[U][VPL], vc[U][VPL];
  load(begin, kc, vc);
  for (int base = begin; base < end; base += S::kStep) {
    const int next = base + S::kStep;
    if constexpr (kGrouped) {
      uint4 kn[U][VPL], vn[U][VPL];
      if (next < end) load(next, kn, vn);
      consume(base, kc, vc);
      if (next < end) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
          for (int j = 0; j < VPL; ++j) {
            kc[u][j] = kn[u][j];
            vc[u][j] = vn[u][j];
          }
        }
      }
    } else {
      consume(base, kc, vc);
      if (next < end) load(next, kc, vc);
    }
  }

  // Rows of a warp merge through shuffles; every lane ends with its warp's result.
#pragma unroll
  for (int o = L; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float other[E];
#pragma unroll
      for (int e = 0; e < E; ++e) other[e] = __shfl_xor_sync(0xffffffffu, acc[g][e], o);
      const float m2 = __shfl_xor_sync(0xffffffffu, m[g], o);
      const float l2 = __shfl_xor_sync(0xffffffffu, l[g], o);
      merge(m[g], l[g], acc[g], m2, l2, other);
    }
  }

  __shared__ float sm_acc[kWarps][G][D + kPad];
  __shared__ float sm_m[kWarps][G];
  __shared__ float sm_w[kWarps][G];
  if (lane < L) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
#pragma unroll
        for (int e = 0; e < kVec; ++e)
          sm_acc[warp][g][(j * L + sub) * kVec + e] = acc[g][j * kVec + e];
      }
      if (lane == 0) {
        sm_m[warp][g] = m[g];
        sm_w[warp][g] = l[g];
      }
    }
  }
  finish_cta<T, D, G>(a, sm_acc, sm_m, sm_w, b, head0, nheads, split, num_splits);
}

struct Launch {
  Args args;
  int32_t head_dim;
  int32_t batch;
  int32_t num_kv_heads;
  bool paged;
  bool grouped;       // v4 or v5; false: v3
  bool tensor_cores;  // v5 (fp16/bf16, head dim <= 128, group >= 2)
  int* occupancy;     // set: report the kernel's resident CTAs per SM instead of launching
};

template <typename T, int D>
cudaError_t launch_reduce(const Launch& l, cudaStream_t stream) {
  if (l.args.max_splits > 1) {
    reduce_kernel<T, D><<<dim3(l.args.num_heads, l.batch), D, 0, stream>>>(l.args);
    TS_CUDA_TRY_LAUNCH();
  }
  return cudaSuccess;
}

template <typename T, int D, int G, bool kPaged, bool kGrouped>
cudaError_t launch_kernel(const Launch& l, cudaStream_t stream) {
  if (l.occupancy != nullptr) {
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(
        l.occupancy, attention_kernel<T, D, G, kPaged, kGrouped>, kThreads, 0);
  }
  const dim3 grid(kGrouped ? l.num_kv_heads : l.args.num_heads, l.batch,
                  kGrouped ? l.args.max_splits : 1);
  attention_kernel<T, D, G, kPaged, kGrouped><<<grid, kThreads, 0, stream>>>(l.args);
  TS_CUDA_TRY_LAUNCH();
  return kGrouped ? launch_reduce<T, D>(l, stream) : cudaSuccess;
}

template <typename T, int D, bool kPaged>
cudaError_t launch_tc(const Launch& l, cudaStream_t stream) {
  constexpr int kSmem = TcShape<T, D>::kSmemBytes;
  const auto kernel = attention_tc_kernel<T, D, kPaged>;
  // Two resident CTAs need 2 x 17 KiB of shared memory; the rest of the 256 KiB stays L1, which
  // holds the block tables and stages the loads in flight.
  static const cudaError_t configured =
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, 20);
  TS_CUDA_TRY(configured);
  if (l.occupancy != nullptr) {
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(l.occupancy, kernel, kThreads, kSmem);
  }
  const dim3 grid(l.num_kv_heads, l.batch, l.args.max_splits);
  kernel<<<grid, kThreads, kSmem, stream>>>(l.args);
  TS_CUDA_TRY_LAUNCH();
  return launch_reduce<T, D>(l, stream);
}

template <typename T, int D, bool kPaged>
cudaError_t launch_grouped(const Launch& l, cudaStream_t stream) {
  const int g = l.args.group;
  if (g <= 1) return launch_kernel<T, D, 1, kPaged, true>(l, stream);
  if (g <= 2) return launch_kernel<T, D, 2, kPaged, true>(l, stream);
  if (g <= 4) return launch_kernel<T, D, 4, kPaged, true>(l, stream);
  if (g <= 8) return launch_kernel<T, D, 8, kPaged, true>(l, stream);
  return cudaErrorInvalidValue;
}

template <typename T, int D>
cudaError_t launch_dim(const Launch& l, cudaStream_t stream) {
  if constexpr (!std::is_same_v<T, float> && D <= 128) {
    if (l.tensor_cores && l.args.group >= 2 && l.args.group <= 8) {
      return l.paged ? launch_tc<T, D, true>(l, stream) : launch_tc<T, D, false>(l, stream);
    }
  }
  if (!l.grouped) {
    if (!l.paged) return cudaErrorInvalidValue;
    return launch_kernel<T, D, 1, true, false>(l, stream);
  }
  return l.paged ? launch_grouped<T, D, true>(l, stream) : launch_grouped<T, D, false>(l, stream);
}

template <typename T>
cudaError_t launch(const Launch& l, cudaStream_t stream) {
  switch (l.head_dim) {
    case 64:
      return launch_dim<T, 64>(l, stream);
    case 128:
      return launch_dim<T, 128>(l, stream);
    case 256:
      return launch_dim<T, 256>(l, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tinyserve::gpu::fast
