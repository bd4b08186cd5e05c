// The vectorised decode attention kernels (v3, v4, v5) and the split-KV reduce kernel, templated
// on element type, head dim, GQA group bound and layout. Instantiated once per dtype in
// attention_fast_{f32,f16,bf16}.cu so the three compile in parallel.
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
#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

inline constexpr int kWarps = 4;
inline constexpr int kThreads = 32 * kWarps;

struct Args {
  const void* k;                // paged: [num_blocks, num_kv_heads, block_size, D] (one layer);
  const void* v;                // contiguous: [batch, num_kv_heads, max_len, D]
  const void* q;                // [batch, num_heads, D]
  void* out;                    // [batch, num_heads, D]
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
  int32_t partition;  // tokens per CTA
  int32_t max_splits;
  int32_t padded_len;    // > 0: padded layout, read this many positions of each sequence
  int32_t num_blocks;    // of the paged pool
  int32_t row_capacity;  // contiguous: max_len, the rows each sequence owns
  float scale_log2;      // softmax scale * log2(e)
};

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

// The CTA's result from each warp's (max, sum, unnormalised output) in shared memory:
// normalises, then writes the output (one partition) or the partition's partial result.
// sm_acc: [kWarps][G][D + kPad]; sm_m, sm_w (holding each warp's sum): [kWarps][G].
inline constexpr int kPad = 4;  // floats of padding per shared row (fewer bank conflicts)

template <typename T, int D, int G>
__device__ void finish_cta(const Args& a, float (*sm_acc)[G][D + kPad], float (*sm_m)[G],
                           float (*sm_w)[G], int b, int head0, int nheads, int split,
                           int num_splits) {
  __shared__ float sm_total[G][2];  // max, sum of the CTA
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
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
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
      static_cast<T*>(a.out)[row_index * D + d] = from_float<T>(o);
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
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  const int block_mask = (1 << a.block_shift) - 1;

  float q[G][E];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < nheads) {
      const T* qh =
          static_cast<const T*>(a.q) + (static_cast<int64_t>(b) * a.num_heads + head0 + g) * D;
#pragma unroll
      for (int j = 0; j < VPL; ++j) {
        vec_to_float<T>(*reinterpret_cast<const uint4*>(qh + (j * L + sub) * kVec),
                        &q[g][j * kVec]);
      }
#pragma unroll
      for (int e = 0; e < E; ++e) q[g][e] *= a.scale_log2;
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

// D = C + A * B on the tensor cores: m16n8k16, A row-major (16 x 16), B column-major (16 x 8),
// fp16 or bf16 inputs, float accumulators. Fragment of thread (g = lane / 4, t = lane % 4):
//   A: a0 (row g, cols 2t..2t+1), a1 (row g+8, same), a2 (row g, cols 2t+8..), a3 (row g+8, ..)
//   B: b0 (rows 2t..2t+1, col g), b1 (rows 2t+8..2t+9, col g)
//   C: c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, cols 2t, 2t+1)
// Here A's rows g+8 are always zero: only a0, a2, c0 and c1 are passed.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[2], uint32_t a0, uint32_t a2, uint32_t b0,
                                          uint32_t b1) {
  // Rows g+8 of A are the zero padding above the group's (at most 8) heads, so rows g+8 of C
  // stay zero: they go in as zero and come out into registers nobody reads.
  const uint32_t zero = 0;
  float unused0, unused1;
  if constexpr (std::is_same_v<T, __half>) {
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

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// v5 for fp16/bf16, head dims up to 128 and GQA groups of 2 to 8: v4's work split (CTA per
// sequence, KV head and partition), each warp taking 16-token tiles, with the group's scores and
// weighted sums on the tensor cores. The group's (up to 8) query heads are the M rows of both
// products:
//   S[heads x 16 tokens] = Q[heads x D] K^T     (two n8 tiles of tokens, D / 16 k-steps)
//   O[heads x D]        += P[heads x 16 tokens] V (D / 8 n8 tiles of dims, one k-step)
// so S's accumulator fragment is P's operand fragment with no data exchange. Within each
// product the summed dimension may be permuted freely, which lets every thread feed the tensor
// cores straight from 16-byte rows: for S, thread t owns dims [32s + 8t, 32s + 8t + 8) of its
// token g (words 0-1 for k-step 2s, words 2-3 for 2s + 1); for O, output column g of n-tile j is
// dim (D / 8) * g + j, so thread (g, t) takes dims [(D / 8) g, (D / 8)(g + 1)) of tokens 2t,
// 2t+1, 2t+8, 2t+9 and pairs them with one byte permute per register.
// Loads stay in flight across the math: the next tile's K goes into the K registers right after
// the scores, its V into the V registers right after the weighted sum, and the block-table
// entries of the tile after that are fetched a tile ahead (so no load waits on a table read).
// The first tile goes out before the context length is read (addresses clamped to the partition
// and the block table).
template <int D>
struct TcShape {
  static constexpr int kKv = D / 32;  // 16-byte K vectors per token per thread
  static constexpr int kVv = D / 64;  // 16-byte V vectors per token per thread
  static constexpr int kTile = 16;    // tokens per warp per tile
  static constexpr int kStride = kWarps * kTile;
  // Shared memory of the epilogue: [kWarps][8][D + kPad] outputs, then maxima and sums.
  static constexpr int kSmemBytes = static_cast<int>(sizeof(float)) * kWarps * 8 * (D + kPad + 2);
};

template <typename T, int D, bool kPaged>
__global__ void __launch_bounds__(kThreads, 2) attention_tc_kernel(const Args a) {
  static_assert(D == 64 || D == 128);
  using S = TcShape<D>;
  constexpr int KV = S::kKv;
  constexpr int VV = S::kVv;
  constexpr int NT = D / 8;  // n8 tiles of output dims
  constexpr int kTile = S::kTile;
  constexpr int kStride = S::kStride;
  constexpr int G = 8;
  extern __shared__ float smem[];

  const int b = blockIdx.y;
  const int split = blockIdx.z;
  const int kv_head = blockIdx.x;
  const int head0 = kv_head * a.group;
  const int nheads = a.group;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  const T* k_head = static_cast<const T*>(a.k) + kv_head * a.head_stride;
  const T* v_head = static_cast<const T*>(a.v) + kv_head * a.head_stride;
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  const int block_mask = (1 << a.block_shift) - 1;

  // The six tokens of a tile this thread loads: K of base + g, base + 8 + g; V of base + 2t,
  // 2t + 1, 2t + 8, 2t + 9.
  const auto token = [&](int base, int r) {
    return r < 2 ? base + 8 * r + g : base + 2 * t + (r & 1) + 8 * ((r - 2) >> 1);
  };
  // Where a token's row starts: the block (paged; table entries past the sequence's blocks may
  // hold anything, so they are clamped into the pool) or the sequence (contiguous), and the
  // token's offset from there. Tokens are clamped to `last`; clamped rows are masked out.
  struct Row {
    int64_t start;
    int offset;
  };
  const auto locate = [&](int tok, int last) -> Row {
    tok = min(tok, last);
    if constexpr (kPaged) {
      return {__ldg(table + (tok >> a.block_shift)), tok & block_mask};
    } else {
      return {b, tok};
    }
  };
  const auto row_offset = [&](Row r) -> int64_t {
    int64_t start = r.start;
    if constexpr (kPaged) start = min(max(start, int64_t{0}), int64_t{a.num_blocks - 1});
    return start * a.outer_stride + static_cast<int64_t>(r.offset) * D;
  };
  uint4 kr[2][KV];
  uint4 vr[4][VV];
  Row rows[6];  // of the next tile to load
  const auto locate_tile = [&](int base, int last) {
#pragma unroll
    for (int r = 0; r < 6; ++r) rows[r] = locate(token(base, r), last);
  };
  const auto load_k = [&]() {
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      const T* row = k_head + row_offset(rows[n]) + 8 * t;
#pragma unroll
      for (int s = 0; s < KV; ++s) kr[n][s] = load_vec(row + 32 * s);
    }
  };
  const auto load_v = [&]() {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const T* row = v_head + row_offset(rows[2 + i]) + (D / 8) * g;
#pragma unroll
      for (int s = 0; s < VV; ++s) vr[i][s] = load_vec(row + 8 * s);
    }
  };

  const int begin = split * a.partition;
  const int first = begin + warp * kTile;
  {
    const int capacity = kPaged ? a.max_blocks_per_seq << a.block_shift : a.row_capacity;
    const int last = min(begin + a.partition, capacity) - 1;
    locate_tile(first, last);
    load_k();
    load_v();
    locate_tile(first + kStride, last);
  }
  uint4 qv[KV];
#pragma unroll
  for (int s = 0; s < KV; ++s) {
    qv[s] = make_uint4(0, 0, 0, 0);
    if (g < nheads) {
      const T* qh =
          static_cast<const T*>(a.q) + (static_cast<int64_t>(b) * a.num_heads + head0 + g) * D;
      qv[s] = *reinterpret_cast<const uint4*>(qh + 32 * s + 8 * t);
    }
  }
  const int len = a.context_lens[b];
  const int read_len = a.padded_len > 0 ? a.padded_len : len;
  if (begin >= read_len) return;
  const int end = min(begin + a.partition, read_len);
  const int valid_end = min(end, len);
  const int num_splits = (read_len + a.partition - 1) / a.partition;

  float o[NT][2];  // head g, dims (D / 8) * 2t + j and (D / 8) * (2t + 1) + j
#pragma unroll
  for (int j = 0; j < NT; ++j) o[j][0] = o[j][1] = 0.0f;
  float m = -INFINITY;  // of head g, log2 units
  float l = 0.0f;       // this thread's share of head g's sum

  for (int base = first; base < end; base += kStride) {
    const int next = base + kStride;
    float sc[2][2];
#pragma unroll
    for (int n = 0; n < 2; ++n) {
      sc[n][0] = sc[n][1] = 0.0f;
#pragma unroll
      for (int s = 0; s < KV; ++s) {
        mma_16816<T>(sc[n], qv[s].x, qv[s].y, kr[n][s].x, kr[n][s].y);
        mma_16816<T>(sc[n], qv[s].z, qv[s].w, kr[n][s].z, kr[n][s].w);
      }
    }
    if (next < end) load_k();  // rows[] holds the next tile (clamped to the first guess)
    // sc[n][e]: head g, token base + 8n + 2t + e.
    float tile_max = -INFINITY;
#pragma unroll
    for (int n = 0; n < 2; ++n) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const bool valid = base + 8 * n + 2 * t + e < valid_end;
        sc[n][e] = valid ? sc[n][e] * a.scale_log2 : -INFINITY;
        tile_max = fmaxf(tile_max, sc[n][e]);
      }
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    const float m_new = fmaxf(m, tile_max);
    if (m_new != -INFINITY) {  // some token attended (the same answer in every row)
      if (m_new > m) {
        const float alpha = exp2f(m - m_new);
        l *= alpha;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          o[j][0] *= alpha;
          o[j][1] *= alpha;
        }
        m = m_new;
      }
      float p[2][2];
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          p[n][e] = exp2f(sc[n][e] - m);
          l += p[n][e];
        }
      }
      const uint32_t pa0 = pack2<T>(p[0][0], p[0][1]);
      const uint32_t pa2 = pack2<T>(p[1][0], p[1][1]);
      // Rows past the attended range hold whatever the pool holds there (possibly NaN, which a
      // zero weight would not cancel): they enter as zeros.
      bool row_valid[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) row_valid[i] = token(base, 2 + i) < valid_end;
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int w = (j % 8) / 2;
        const uint32_t selector = (j & 1) ? 0x7632u : 0x5410u;
        uint32_t x[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) x[i] = row_valid[i] ? word(vr[i][j / 8], w) : 0u;
        mma_16816<T>(o[j], pa0, pa2, __byte_perm(x[0], x[1], selector),
                     __byte_perm(x[2], x[3], selector));
      }
    }
    if (next < end) {
      load_v();
      locate_tile(next + kStride, end - 1);
    }
  }
  // The prologue located the second tile before the length was known: its rows may have been
  // clamped to a larger bound than end - 1. They stay inside the block table and the pool, and
  // every row at or past valid_end is masked, so only the bound differs, not the result.

  l += __shfl_xor_sync(0xffffffffu, l, 1);
  l += __shfl_xor_sync(0xffffffffu, l, 2);
  auto* sm_acc = reinterpret_cast<float(*)[G][D + kPad]>(smem);
  auto* sm_m = reinterpret_cast<float(*)[G]>(sm_acc + kWarps);
  auto* sm_w = sm_m + kWarps;
#pragma unroll
  for (int j = 0; j < NT; ++j) {
    sm_acc[warp][g][(D / 8) * (2 * t) + j] = o[j][0];
    sm_acc[warp][g][(D / 8) * (2 * t + 1) + j] = o[j][1];
  }
  if (t == 0) {
    sm_m[warp][g] = m;
    sm_w[warp][g] = l;
  }
  finish_cta<T, D, G>(a, sm_acc, sm_m, sm_w, b, head0, nheads, split, num_splits);
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
  static_cast<T*>(a.out)[row_index * D + d] = from_float<T>(o / sum);
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
  constexpr int kSmem = TcShape<D>::kSmemBytes;
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
