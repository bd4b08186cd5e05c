// What the tensor-core decode kernels (v5, v6) share: the m16n8k16 product, and how a thread's
// 16-byte K/V loads become its operand fragments, for fp16, bf16 and fp8 pools (fp8 elements are
// converted to fp16 in registers, exactly; their scales are applied outside the products).
//
// The group's query heads (up to 8, padded to 16) are the M rows of both products:
//   S[heads x 16 tokens] = Q[heads x D] K^T      (two n8 tiles of tokens, D / 16 k-steps)
//   O[heads x D]        += P[heads x 16 tokens] V (D / 8 n8 tiles of dims, one k-step)
// S's accumulator fragment is P's operand fragment. Within each product the summed dimension may
// be permuted freely (the same way in both operands), which lets a thread feed the tensor cores
// straight from 16-byte rows:
// - S: thread (g, t) holds token g of each n-tile; with E = 16 / sizeof(T) elements per 16-byte
//   vector, it loads dims [r * 4E + t * E, + E) for runs r < D / (4E), and k-step kk uses 4 of
//   them: run kk / (E / 4), dims 4 * (kk % (E / 4)) .. + 3 within the run. Its query row g is
//   loaded with the same permutation (fp16 for fp8 pools, so twice the bytes of a K vector).
// - O: output column g of n-tile j is dim (D / 8) g + j: thread (g, t) loads dims
//   [(D / 8) g, (D / 8)(g + 1)) of tokens 2t, 2t+1, 2t+8, 2t+9 and pairs tokens per n-tile with
//   byte permutes (fp16: one per register; fp8: one per two n-tiles, then one conversion each).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

// The tensor cores' input type for a pool of T: bf16 for bf16, fp16 otherwise.
template <typename T>
using MmaT = std::conditional_t<std::is_same_v<T, __nv_bfloat16>, __nv_bfloat16, __half>;

// D = C + A * B on the tensor cores: m16n8k16, A row-major (16 x 16), B column-major (16 x 8),
// fp16 or bf16 inputs, float accumulators. Fragment of thread (g = lane / 4, t = lane % 4):
//   A: a0 (row g, cols 2t..2t+1), a1 (row g+8, same), a2 (row g, cols 2t+8..), a3 (row g+8, ..)
//   B: b0 (rows 2t..2t+1, col g), b1 (rows 2t+8..2t+9, col g)
//   C: c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, cols 2t, 2t+1)
// Here A's rows g+8 are always zero: only a0, a2, c0 and c1 are passed.
template <typename Tm>
__device__ __forceinline__ void mma_16816(float (&c)[2], uint32_t a0, uint32_t a2, uint32_t b0,
                                          uint32_t b1) {
  // Rows g+8 of A are the zero padding above the group's (at most 8) heads, so rows g+8 of C
  // stay zero: they go in as zero and come out into registers nobody reads.
  const uint32_t zero = 0;
  float unused0, unused1;
  if constexpr (std::is_same_v<Tm, __half>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%10,%10};"
        : "+f"(c[0]), "+f"(c[1]), "=f"(unused0), "=f"(unused1)
        : "r"(a0), "r"(zero), "r"(a2), "r"(zero), "r"(b0), "r"(b1), "f"(0.0f));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%10,%10};"
        : "+f"(c[0]), "+f"(c[1]), "=f"(unused0), "=f"(unused1)
        : "r"(a0), "r"(zero), "r"(a2), "r"(zero), "r"(b0), "r"(b1), "f"(0.0f));
  }
}

__device__ __forceinline__ uint32_t word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

template <typename Tm>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<Tm, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// The per-thread shapes of the fragments for pool element T and head dim D (64 or 128).
template <typename T, int D>
struct Frag {
  static constexpr int kE = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte vector
  static constexpr int kKRuns = D / (4 * kE);                  // K vectors per token per thread
  static constexpr int kStepsPerRun = kE / 4;                  // k-steps per K vector
  static constexpr int kQWords = D / 8;                        // query words per thread
  static constexpr int kVWords = D * static_cast<int>(sizeof(T)) / 32;  // V words per token
  static constexpr int kNt = D / 8;                                     // n8 tiles of output dims
};

// B fragment (b0, b1) of k-step kk of S from a token's K runs.
template <typename T, int D>
__device__ __forceinline__ void k_fragment(const uint4 (&k)[Frag<T, D>::kKRuns], int kk,
                                           uint32_t& b0, uint32_t& b1) {
  constexpr int kSteps = Frag<T, D>::kStepsPerRun;
  const uint4& run = k[kk / kSteps];
  if constexpr (kIsFp8<T>) {
    const uint32_t w = word(run, kk % kSteps);
    b0 = fp8x2_to_half2_bits<T>(w);
    b1 = fp8x2_to_half2_bits<T>(w >> 16);
  } else {
    b0 = word(run, 2 * (kk % kSteps));
    b1 = word(run, 2 * (kk % kSteps) + 1);
  }
}

// Loads the K runs of a token row (element pointer to the row's start) for thread t.
template <typename T, int D>
__device__ __forceinline__ void load_k_runs(const T* row, int t, uint4 (&k)[Frag<T, D>::kKRuns]) {
  constexpr int kE = Frag<T, D>::kE;
#pragma unroll
  for (int r = 0; r < Frag<T, D>::kKRuns; ++r) k[r] = load_vec(row + r * 4 * kE + t * kE);
}

// Loads the query row's words for thread t, in k-step order (a0 = q[2 kk], a2 = q[2 kk + 1]).
template <typename T, int D>
__device__ __forceinline__ void load_q_words(const QueryT<T>* row, int t,
                                             uint32_t (&q)[Frag<T, D>::kQWords]) {
  constexpr int kE = Frag<T, D>::kE;
#pragma unroll
  for (int r = 0; r < Frag<T, D>::kKRuns; ++r) {
#pragma unroll
    for (int h = 0; h < kE / 8; ++h) {  // 8 query elements per 16-byte vector
      const uint4 v = *reinterpret_cast<const uint4*>(row + r * 4 * kE + t * kE + 8 * h);
      q[r * kE / 2 + 4 * h + 0] = v.x;
      q[r * kE / 2 + 4 * h + 1] = v.y;
      q[r * kE / 2 + 4 * h + 2] = v.z;
      q[r * kE / 2 + 4 * h + 3] = v.w;
    }
  }
}

// Loads the V slice [(D / 8) g, (D / 8)(g + 1)) of a token row (element pointer to its start).
template <typename T, int D>
__device__ __forceinline__ void load_v_slice(const T* row, int g,
                                             uint32_t (&v)[Frag<T, D>::kVWords]) {
  constexpr int kW = Frag<T, D>::kVWords;
  const T* slice = row + (D / 8) * g;
  if constexpr (kW % 4 == 0) {
#pragma unroll
    for (int i = 0; i < kW / 4; ++i) {
      const uint4 x = load_vec(slice + i * kVecElems<T>);
      v[4 * i] = x.x;
      v[4 * i + 1] = x.y;
      v[4 * i + 2] = x.z;
      v[4 * i + 3] = x.w;
    }
  } else {
    static_assert(kW == 2);
    const uint2 x = __ldg(reinterpret_cast<const uint2*>(slice));
    v[0] = x.x;
    v[1] = x.y;
  }
}

// B fragment of n-tile j of O from the V slices of the thread's four tokens (2t, 2t+1, 2t+8,
// 2t+9), each given as words (zero for rows that must not count).
template <typename T, int D>
__device__ __forceinline__ void v_fragment(const uint32_t (&x0)[Frag<T, D>::kVWords],
                                           const uint32_t (&x1)[Frag<T, D>::kVWords],
                                           const uint32_t (&x2)[Frag<T, D>::kVWords],
                                           const uint32_t (&x3)[Frag<T, D>::kVWords], int j,
                                           uint32_t& b0, uint32_t& b1) {
  if constexpr (kIsFp8<T>) {
    // Bytes j & ~1 and j | 1 of two tokens, interleaved; then the pair of n-tile j.
    const int w = j / 4;
    const uint32_t sel = (j & 2) ? 0x7362u : 0x5140u;
    const int shift = 16 * (j & 1);
    b0 = fp8x2_to_half2_bits<T>(__byte_perm(x0[w], x1[w], sel) >> shift);
    b1 = fp8x2_to_half2_bits<T>(__byte_perm(x2[w], x3[w], sel) >> shift);
  } else {
    const int w = j / 2;
    const uint32_t sel = (j & 1) ? 0x7632u : 0x5410u;
    b0 = __byte_perm(x0[w], x1[w], sel);
    b1 = __byte_perm(x2[w], x3[w], sel);
  }
}

}  // namespace tinyserve::gpu::fast
