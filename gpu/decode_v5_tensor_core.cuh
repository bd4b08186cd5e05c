// v5's tensor-core decode attention kernel (see decode_v3_v4.cuh for the versions).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "gpu/decode_common.cuh"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

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
  const int32_t* table = a.block_tables + b * a.table_seq_stride + kv_head * a.table_head_stride;
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

}  // namespace tinyserve::gpu::fast
