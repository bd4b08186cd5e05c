// The sm_80+ prefill kernel (gpu/prefill_attention.h): mma.sync m16n8k16 tensor cores.
// One CTA per work item and KV head: 4 warps, 16 packed rows each (64 rows), KV tiles of 64
// tokens double-buffered through cp.async, the last (diagonal) tile first so that only the first
// tiles need the causal mask. Per tile each warp computes S = Q K^T (ldmatrix fragments), the
// online softmax in registers (the S accumulator fragment is the A fragment of P), then O += P V
// (V through ldmatrix.trans).
// fp8 pools: the tiles are double-buffered as bytes instead, and each tile is converted into one
// fp16 K and V tile (same shared memory in all) before its products; the K scale goes into the
// score scale, the V scale into the output's normalisation.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "gpu/prefill_common.cuh"

namespace tinyserve::gpu::prefill {

template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

template <int D>
struct MmaShape {
  static constexpr int kRows = 64;  // packed rows per item, 16 per warp
  static constexpr int kKv = 64;    // KV tokens per tile
  static constexpr int kThreads = 128;
  static constexpr int kQBytes = kRows * D * 2;
  static constexpr int kTileBytes = kKv * D * 2;
  // Q, then K and V of 2 stages; fp8: Q, the fp16 K and V tiles, then K and V bytes of 2 stages
  // (kTileBytes / 2 each): the same total.
  static constexpr int kSmemBytes = kQBytes + 4 * kTileBytes;
  static constexpr bool kQInRegisters = D <= 128;  // else re-read per tile
  static constexpr int kMinBlocks = D <= 128 ? 2 : 1;
};

// TC: the pool's element type; T: the queries', outputs' and tensor cores' (fp16 for fp8).
template <typename TC, int D>
__global__ void __launch_bounds__(128, MmaShape<D>::kMinBlocks) prefill_mma_kernel(const Args a) {
  using T = QueryT<TC>;
  constexpr bool kFp8 = kIsFp8<TC>;
  using S = MmaShape<D>;
  constexpr int kRows = S::kRows;
  constexpr int kKv = S::kKv;
  constexpr int KS = D / 16;  // k-steps of S = Q K^T
  constexpr int NT = D / 8;   // n8 tiles of O
  extern __shared__ __align__(128) uint8_t smem[];
  const uint32_t sq = smem_addr(smem);
  const uint32_t skv = sq + S::kQBytes;         // stage s: K at skv + 2s * tile, V right after
  const uint32_t s8 = skv + 2 * S::kTileBytes;  // fp8 stage s: K bytes at s8 + s * tile, V after

  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int item_index = static_cast<int>(blockIdx.x) / a.num_kv_heads;
  const int kv_head = static_cast<int>(blockIdx.x) - item_index * a.num_kv_heads;
  const Item it = load_item(a, item_index);
  const int q0 = a.query_start[it.entry];
  const int count = a.query_start[it.entry + 1] - q0;
  const int prefix = a.context_lens[it.entry] - count;
  const int rows_total = count * a.group;
  const int32_t* table = a.block_tables + static_cast<int64_t>(it.entry) * a.max_blocks_per_seq;
  const TC* k_head = static_cast<const TC*>(a.k) + kv_head * a.head_stride;
  const TC* v_head = static_cast<const TC*>(a.v) + kv_head * a.head_stride;
  const float score_scale = kFp8 ? a.scale_log2 * a.k_scale_of(kv_head) : a.scale_log2;
  const float v_scale = kFp8 ? a.v_scale_of(kv_head) : 1.0f;
  const int num_tiles = (it.kv_end - it.kv_begin + kKv - 1) / kKv;
  const auto tile_start = [&](int i) { return it.kv_begin + (num_tiles - 1 - i) * kKv; };
  // The fp16 tiles the products read (fp8: one pair, refilled from the byte stages per tile).
  const auto stage_k = [&](int i) { return skv + (kFp8 ? 0 : (i & 1) * 2 * S::kTileBytes); };
  const auto stage_v = [&](int i) { return stage_k(i) + S::kTileBytes; };
  const auto stage_k8 = [&](int i) { return s8 + (i & 1) * S::kTileBytes; };
  const auto stage_v8 = [&](int i) { return stage_k8(i) + S::kTileBytes / 2; };
  const auto load_tile = [&](int i) {
    if constexpr (kFp8) {
      const auto* k8 = reinterpret_cast<const uint8_t*>(k_head);
      const auto* v8 = reinterpret_cast<const uint8_t*>(v_head);
      load_fp8_tile<D, kKv, 128>(stage_k8(i), k8, table, a.block_shift, a.block_stride,
                                 tile_start(i), it.kv_end, tid);
      load_fp8_tile<D, kKv, 128>(stage_v8(i), v8, table, a.block_shift, a.block_stride,
                                 tile_start(i), it.kv_end, tid);
    } else {
      load_kv_tile<T, D, kKv, 128>(stage_k(i), k_head, table, a.block_shift, a.block_stride,
                                   tile_start(i), it.kv_end, tid);
      load_kv_tile<T, D, kKv, 128>(stage_v(i), v_head, table, a.block_shift, a.block_stride,
                                   tile_start(i), it.kv_end, tid);
    }
  };

  load_q_tile<T, D, kRows, 128>(sq, a, q0, rows_total, it.row0, kv_head, tid);
  load_tile(0);
  cp_async_commit();

  // This thread's rows (g and g + 8 of its warp) attend to keys below lim (causal bound, and
  // the item's end); tiles reaching past the CTA's smallest bound need the mask.
  const int row0 = it.row0 + warp * 16 + g;
  const int lim[2] = {min(prefix + row0 / a.group + 1, it.kv_end),
                      min(prefix + (row0 + 8) / a.group + 1, it.kv_end)};
  const int lim_min = min(prefix + it.row0 / a.group + 1, it.kv_end);

  float o[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};
  uint32_t qf[S::kQInRegisters ? KS : 1][4];
  const auto q_fragment = [&](uint32_t(&af)[4], int kk) {
    ldmatrix_x4(af, sq + tile_offset<kRows>(warp * 16 + (lane & 15), kk * 2 + (lane >> 4)));
  };

  for (int i = 0; i < num_tiles; ++i) {
    if (i + 1 < num_tiles) {
      load_tile(i + 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (kFp8) {
      // The previous iteration's products are done with the fp16 tiles (its last barrier); the
      // next tile's bytes load into the other byte stage meanwhile.
      convert_fp8_tile<TC, D, kKv, 128>(stage_k(i), stage_k8(i), tid);
      convert_fp8_tile<TC, D, kKv, 128>(stage_v(i), stage_v8(i), tid);
      __syncthreads();
    }
    if constexpr (S::kQInRegisters) {
      if (i == 0) {
#pragma unroll
        for (int kk = 0; kk < KS; ++kk) q_fragment(qf[kk], kk);
      }
    }
    // S = Q K^T over the tile's 64 keys: 8 n8 tiles; s[4j + e] as online_softmax reads it.
    float s[32];
#pragma unroll
    for (int j = 0; j < 32; ++j) s[j] = 0.0f;
    const uint32_t sk = stage_k(i);
#pragma unroll
    for (int kk = 0; kk < KS; ++kk) {
      uint32_t af[4];
      if constexpr (S::kQInRegisters) {
#pragma unroll
        for (int r = 0; r < 4; ++r) af[r] = qf[kk][r];
      } else {
        q_fragment(af, kk);
      }
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        uint32_t bf[4];
        ldmatrix_x4(bf, sk + tile_offset<kKv>(16 * jj + (lane & 7) + ((lane >> 4) << 3),
                                              kk * 2 + ((lane >> 3) & 1)));
        mma_16816<T>(*reinterpret_cast<float(*)[4]>(s + 8 * jj), af, bf[0], bf[1]);
        mma_16816<T>(*reinterpret_cast<float(*)[4]>(s + 8 * jj + 4), af, bf[2], bf[3]);
      }
    }
    const int k0 = tile_start(i);
    float alpha[2];
    if (k0 + kKv > lim_min) {
      online_softmax<32, true>(s, m, l, alpha, score_scale, k0, t, lim);
    } else {
      online_softmax<32, false>(s, m, l, alpha, score_scale, k0, t, lim);
    }
#pragma unroll
    for (int j = 0; j < NT; ++j) {
      o[j][0] *= alpha[0];
      o[j][1] *= alpha[0];
      o[j][2] *= alpha[1];
      o[j][3] *= alpha[1];
    }
    // O += P V: 4 k-steps of 16 keys, P's A fragment straight from s.
    const uint32_t sv = stage_v(i);
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const uint32_t pa[4] = {
          pack2<T>(s[8 * kk + 0], s[8 * kk + 1]), pack2<T>(s[8 * kk + 2], s[8 * kk + 3]),
          pack2<T>(s[8 * kk + 4], s[8 * kk + 5]), pack2<T>(s[8 * kk + 6], s[8 * kk + 7])};
#pragma unroll
      for (int jj = 0; jj < D / 16; ++jj) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, sv + tile_offset<kKv>(16 * kk + (lane & 7) + (((lane >> 3) & 1) << 3),
                                                    2 * jj + (lane >> 4)));
        mma_16816<T>(o[2 * jj], pa, bf[0], bf[1]);
        mma_16816<T>(o[2 * jj + 1], pa, bf[2], bf[3]);
      }
    }
    __syncthreads();  // the stage is overwritten by the next iteration's load (or conversion)
  }

#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    const int packed = row0 + 8 * r;
    if (packed >= rows_total) continue;
    const int j = packed / a.group;
    const int head = kv_head * a.group + (packed - j * a.group);
    const int part_row = it.part < 0 ? -1 : it.part + j;
    const float inv_l = l[r] > 0.0f ? v_scale / l[r] : 0.0f;
#pragma unroll
    for (int jn = 0; jn < NT; ++jn) {
      store_pair<T, D>(a, q0 + j, head, 8 * jn + 2 * t, o[jn][2 * r], o[jn][2 * r + 1], inv_l,
                       part_row);
    }
    if (part_row >= 0 && t == 0) store_ml(a, part_row, head, m[r], l[r]);
  }
}

}  // namespace tinyserve::gpu::prefill
