// v5's tensor-core decode attention kernel (see decode_v3_v4.cuh for the versions).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "gpu/decode_common.cuh"
#include "gpu/decode_mma.cuh"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu::fast {

// v5 for fp16/bf16/fp8, head dims up to 128 and GQA groups of 2 to 8: v4's work split (CTA per
// sequence, KV head and partition), each warp taking 16-token tiles, with the group's scores and
// weighted sums on the tensor cores (the fragments: gpu/decode_mma.cuh).
// Loads stay in flight across the math: the next tile's K goes into the K registers right after
// the scores, its V into the V registers right after the weighted sum, and the block-table
// entries of the tile after that are fetched a tile ahead (so no load waits on a table read).
// The first tile goes out before the context length is read (addresses clamped to the partition
// and the block table).
template <typename T, int D>
struct TcShape {
  // fp8 tiles are two 16-token subtiles, so that a tile moves as many bytes as an fp16 one.
  static constexpr int kSub = kIsFp8<T> ? 2 : 1;
  static constexpr int kTile = 16 * kSub;  // tokens per warp per tile
  static constexpr int kRows = 6 * kSub;   // rows a thread loads per tile: 2 K + 4 V per subtile
  static constexpr int kStride = kWarps * kTile;
  // Shared memory of the epilogue: [kWarps][8][D + kPad] outputs, then maxima and sums.
  static constexpr int kSmemBytes = static_cast<int>(sizeof(float)) * kWarps * 8 * (D + kPad + 2);
};

template <typename T, int D, bool kPaged>
__global__ void __launch_bounds__(kThreads, 2) attention_tc_kernel(const Args a) {
  static_assert(D == 64 || D == 128);
  using S = TcShape<T, D>;
  constexpr int kSub = S::kSub;
  constexpr int kRows = S::kRows;
  using F = Frag<T, D>;
  using Tm = MmaT<T>;
  constexpr int KR = F::kKRuns;
  constexpr int VW = F::kVWords;
  constexpr int NT = F::kNt;  // n8 tiles of output dims
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
  const int32_t* table =
      a.block_tables + b * a.table_seq_stride + static_cast<int64_t>(kv_head) * a.table_head_stride;
  const int block_mask = (1 << a.block_shift) - 1;

  // The tokens of a tile this thread loads: per subtile s (16 tokens at base + 16s), K of g and
  // 8 + g (rows 2s, 2s + 1); V of 2t, 2t + 1, 2t + 8, 2t + 9 (rows 2 kSub + 4s ..).
  const auto token = [&](int base, int r) {
    if (r < 2 * kSub) return base + 16 * (r >> 1) + 8 * (r & 1) + g;
    const int i = r - 2 * kSub;
    return base + 16 * (i >> 2) + 2 * t + (i & 1) + 8 * ((i & 3) >> 1);
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
  uint4 kr[kSub][2][KR];
  uint32_t vr[kSub][4][VW];
  Row rows[kRows];  // of the next tile to load
  const auto locate_tile = [&](int base, int last) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) rows[r] = locate(token(base, r), last);
  };
  const auto load_k = [&]() {
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        load_k_runs<T, D>(k_head + row_offset(rows[2 * s + n]), t, kr[s][n]);
      }
    }
  };
  const auto load_v = [&]() {
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        load_v_slice<T, D>(v_head + row_offset(rows[2 * kSub + 4 * s + i]), g, vr[s][i]);
      }
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
  uint32_t qw[F::kQWords];
#pragma unroll
  for (int i = 0; i < F::kQWords; ++i) qw[i] = 0;
  if (g < nheads) {
    load_q_words<T, D>(static_cast<const QueryT<T>*>(a.q) +
                           (static_cast<int64_t>(b) * a.num_heads + head0 + g) * D,
                       t, qw);
  }
  const float score_scale = a.scale_log2 * (kIsFp8<T> ? a.k_scale_of(kv_head) : 1.0f);
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
    float sc[kSub][2][2];
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        sc[s][n][0] = sc[s][n][1] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
          uint32_t b0, b1;
          k_fragment<T, D>(kr[s][n], kk, b0, b1);
          mma_16816<Tm>(sc[s][n], qw[2 * kk], qw[2 * kk + 1], b0, b1);
        }
      }
    }
    if (next < end) load_k();  // rows[] holds the next tile (clamped to the first guess)
    // sc[s][n][e]: head g, token base + 16s + 8n + 2t + e.
    float tile_max = -INFINITY;
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int n = 0; n < 2; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const bool valid = base + 16 * s + 8 * n + 2 * t + e < valid_end;
          sc[s][n][e] = valid ? sc[s][n][e] * score_scale : -INFINITY;
          tile_max = fmaxf(tile_max, sc[s][n][e]);
        }
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
#pragma unroll
      for (int s = 0; s < kSub; ++s) {
        float p[2][2];
#pragma unroll
        for (int n = 0; n < 2; ++n) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            p[n][e] = exp2f(sc[s][n][e] - m);
            l += p[n][e];
          }
        }
        const uint32_t pa0 = pack2<Tm>(p[0][0], p[0][1]);
        const uint32_t pa2 = pack2<Tm>(p[1][0], p[1][1]);
        // Rows past the attended range hold whatever the pool holds there (possibly NaN, which
        // a zero weight would not cancel): they enter as zeros.
        uint32_t x[4][VW];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const bool row_valid = token(base, 2 * kSub + 4 * s + i) < valid_end;
#pragma unroll
          for (int w = 0; w < VW; ++w) x[i][w] = row_valid ? vr[s][i][w] : 0u;
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          uint32_t b0, b1;
          v_fragment<T, D>(x[0], x[1], x[2], x[3], j, b0, b1);
          mma_16816<Tm>(o[j], pa0, pa2, b0, b1);
        }
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
