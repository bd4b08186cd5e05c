// v6: decode attention on the tensor cores for every GQA group (1..8), fp16/bf16/fp8, head dims
// 64 and 128, with the work split by the host (gpu/decode_v6_plan.h) instead of by the grid.
//
// The work is the flat sequence of tiles of every (sequence, KV head) item, one item after the
// other; each warp of the grid takes an equal, contiguous range of it, whatever the items'
// lengths: a warp may finish one item and go on with the next without a pause (its next tiles'
// loads are already in flight), and an item may be shared by several warps. A warp that covers
// an item whole writes its output; a warp holding a part of one writes a partial (max, sum,
// unnormalised output) and the last part to finish merges them (an atomic count per item, reset
// by the merging warp for the next launch). So there are no CTA-wide barriers, no shared memory,
// no second kernel, one wave of warps and no ragged last wave.
//
// Inside a warp the tiles stream as in v5 (gpu/decode_v5_tensor_core.cuh): 16-token subtiles,
// the group's scores and weighted sums on the tensor cores (fragments: gpu/decode_mma.cuh), the
// next tile's K loaded right after the scores, its V right after the weighted sum, the block
// table entries of the tile after that looked up a tile ahead. fp8 tiles are two subtiles (32
// tokens), so a tile moves as many bytes as an fp16 one.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/decode_mma.cuh"
#include "gpu/decode_v6_plan.h"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu::v6 {

inline constexpr int kWarps = 4;  // per CTA; the warps are independent
inline constexpr int kThreads = 32 * kWarps;

struct Args {
  const void* k;                // paged: [num_blocks, num_kv_heads, block_size, D] (one layer);
  const void* v;                // contiguous: [batch, num_kv_heads, max_len, D]
  const void* q;                // [batch, num_heads, D], QueryT<T>
  void* out;                    // [batch, num_heads, D], QueryT<T>
  const int32_t* block_tables;  // paged: see DecodeBatch::table_row
  const int32_t* context_lens;  // [batch]
  const int32_t* warp_begin;    // [num_warps + 1]: each warp's first tile in the flat order
  const int32_t* warp_item;     // [num_warps]: the item of each warp's first tile
  const WorkItem* items;        // [num_items]
  int32_t* counters;            // [num_items]: parts finished; zero before and after a launch
  float* part_ml;               // [num_parts, group, 2]: max (log2 units), sum
  float* part_out;              // [num_parts, group, D]: unnormalised output, times v scale
  int64_t outer_stride;         // elements between blocks (paged) or sequences (contiguous)
  int64_t head_stride;          // elements between KV heads
  int64_t table_seq_stride;     // block-table entries between sequences
  int32_t table_head_stride;    // block-table entries between KV heads (0: shared row)
  int32_t num_heads;
  int32_t group;
  int32_t block_shift;   // log2(block_size) (paged)
  int32_t num_blocks;    // of the paged pool
  int32_t row_capacity;  // positions a sequence may address: max_blocks << shift, or max_len
  int32_t num_warps;
  float scale_log2;  // softmax scale * log2(e)
  float k_scale;     // fp8: element * scale is the value; 1 otherwise
  float v_scale;
  const float* k_head_scales;  // [num_kv_heads] or null
  const float* v_head_scales;
};

template <typename T>
struct Tiling {
  static constexpr int kSub = kIsFp8<T> ? 2 : 1;  // 16-token subtiles per tile
  static constexpr int kTokens = 16 * kSub;
  static constexpr int kRows = 6 * kSub;  // rows a thread loads per tile: 2 K + 4 V per subtile
};

__device__ __forceinline__ WorkItem load_item(const WorkItem* items, int i) {
  const int4* p = reinterpret_cast<const int4*>(items + i);
  const int4 x = __ldg(p);
  const int4 y = __ldg(p + 1);
  return WorkItem{x.x, x.y, x.z, x.w, y.x, y.y, y.z, y.w};
}

template <typename T, int D, bool kPaged>
__global__ void __launch_bounds__(kThreads, 2) decode_v6_kernel(const Args a) {
  static_assert(D == 64 || D == 128);
  using F = fast::Frag<T, D>;
  using Tm = fast::MmaT<T>;
  using Tq = QueryT<T>;
  using L = Tiling<T>;
  constexpr int KR = F::kKRuns;
  constexpr int VW = F::kVWords;
  constexpr int NT = F::kNt;
  constexpr int kSub = L::kSub;
  constexpr int kRows = L::kRows;

  const int lane = threadIdx.x & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int warp_id = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (warp_id >= a.num_warps) return;
  const int f_begin = a.warp_begin[warp_id];
  const int count = a.warp_begin[warp_id + 1] - f_begin;
  if (count <= 0) return;
  const int block_mask = (1 << a.block_shift) - 1;

  // Token (relative to its tile) of row r: K rows 2s + n of subtile s hold token 16s + 8n + g;
  // V rows 2 kSub + 4s + i hold 16s + 2t + (i & 1) + 8 (i >> 1).
  const auto row_token = [&](int r) {
    if (r < 2 * kSub) return 16 * (r >> 1) + 8 * (r & 1) + g;
    const int i = r - 2 * kSub;
    return 16 * (i >> 2) + 2 * t + (i & 1) + 8 * ((i & 3) >> 1);
  };

  // The tile being located (block-table lookups), then loaded.
  int load_index = a.warp_item[warp_id];
  WorkItem load_item_desc = load_item(a.items, load_index);
  int load_tile = f_begin - load_item_desc.flat_begin;
  int64_t loc_head;        // element offset of the located tile's KV head
  int loc_base;            // its first token
  int32_t loc_row[kRows];  // block id (paged) or clamped token (contiguous) of each row
  const auto locate = [&]() {
    const WorkItem& it = load_item_desc;
    loc_head = static_cast<int64_t>(it.kv_head) * a.head_stride;
    loc_base = load_tile * L::kTokens;
    const int last = min(it.planned_len, a.row_capacity) - 1;
    if constexpr (kPaged) {
      const int32_t* table = a.block_tables + static_cast<int64_t>(it.seq) * a.table_seq_stride +
                             static_cast<int64_t>(it.kv_head) * a.table_head_stride;
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int tok = min(loc_base + row_token(r), last);
        loc_row[r] = min(max(__ldg(table + (tok >> a.block_shift)), 0), a.num_blocks - 1);
      }
    } else {
      loc_head += static_cast<int64_t>(it.seq) * a.outer_stride;
#pragma unroll
      for (int r = 0; r < kRows; ++r) loc_row[r] = min(loc_base + row_token(r), last);
    }
  };
  const auto row_ptr = [&](const void* pool, int r) -> const T* {
    int64_t at = loc_head;
    if constexpr (kPaged) {
      at += static_cast<int64_t>(loc_row[r]) * a.outer_stride +
            static_cast<int64_t>((loc_base + row_token(r)) & block_mask) * D;
    } else {
      at += static_cast<int64_t>(loc_row[r]) * D;
    }
    return static_cast<const T*>(pool) + at;
  };
  // Where the next item's query row (this thread's words) and length are read from: fetched
  // into L1 when the loads reach the item, so that starting it later does not wait on memory.
  const auto prefetch_start = [&](const WorkItem& it) {
    asm volatile("prefetch.global.L1 [%0];" ::"l"(a.context_lens + it.seq));
    if (g < a.group) {
      const Tq* row = static_cast<const Tq*>(a.q) +
                      (static_cast<int64_t>(it.seq) * a.num_heads + it.kv_head * a.group + g) * D;
#pragma unroll
      for (int r = 0; r < F::kKRuns; ++r) {
        asm volatile("prefetch.global.L1 [%0];" ::"l"(row + r * 4 * F::kE + t * F::kE));
      }
    }
  };
  const auto advance_load = [&]() {
    if (++load_tile == load_item_desc.tiles) {
      load_item_desc = load_item(a.items, ++load_index);
      load_tile = 0;
      prefetch_start(load_item_desc);
    }
  };

  uint4 kr[kSub][2][KR];
  uint32_t vr[kSub][4][VW];
  const auto load_k = [&]() {
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int n = 0; n < 2; ++n) fast::load_k_runs<T, D>(row_ptr(a.k, 2 * s + n), t, kr[s][n]);
    }
  };
  const auto load_v = [&]() {
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        fast::load_v_slice<T, D>(row_ptr(a.v, 2 * kSub + 4 * s + i), g, vr[s][i]);
      }
    }
  };

  locate();
  load_k();
  load_v();
  if (count > 1) {
    advance_load();
    locate();
  }

  // The item being computed.
  int comp_index = a.warp_item[warp_id];
  WorkItem comp = load_item(a.items, comp_index);
  int comp_tile = f_begin - comp.flat_begin;
  uint32_t qw[F::kQWords];
  int valid_end = 0;
  float score_scale = 0.0f;
  float v_scale = 1.0f;
  const auto start_item = [&]() {
    const int head0 = comp.kv_head * a.group;
#pragma unroll
    for (int i = 0; i < F::kQWords; ++i) qw[i] = 0;
    if (g < a.group) {
      fast::load_q_words<T, D>(static_cast<const Tq*>(a.q) +
                                   (static_cast<int64_t>(comp.seq) * a.num_heads + head0 + g) * D,
                               t, qw);
    }
    valid_end = a.context_lens[comp.seq];
    score_scale = a.scale_log2;
    v_scale = 1.0f;
    if constexpr (kIsFp8<T>) {
      score_scale *= a.k_head_scales != nullptr ? a.k_head_scales[comp.kv_head] : a.k_scale;
      v_scale = a.v_head_scales != nullptr ? a.v_head_scales[comp.kv_head] : a.v_scale;
    }
  };
  start_item();

  float o[NT][2];  // head g, dims (D / 8) * 2t + j and (D / 8) * (2t + 1) + j
#pragma unroll
  for (int j = 0; j < NT; ++j) o[j][0] = o[j][1] = 0.0f;
  float m = -INFINITY;  // of head g, log2 units
  float l = 0.0f;       // this thread's share of head g's sum

  // Writes the finished item's output (or its part, merging the parts if this is the last).
  const auto finish_item = [&]() {
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int head0 = comp.kv_head * a.group;
    const int d0 = (D / 8) * 2 * t;  // dims d0 + j and d0 + D / 8 + j hold o[j][0], o[j][1]
    if (comp.parts == 1) {
      if (g < a.group) {
        const float inv = l > 0.0f ? v_scale / l : 0.0f;
        Tq* row = static_cast<Tq*>(a.out) +
                  (static_cast<int64_t>(comp.seq) * a.num_heads + head0 + g) * D + d0;
#pragma unroll
        for (int c = 0; c < 2; ++c) {
#pragma unroll
          for (int j = 0; j < NT; j += 8) {
            uint32_t w[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
              w[i] = fast::pack2<Tq>(o[j + 2 * i][c] * inv, o[j + 2 * i + 1][c] * inv);
            }
            *reinterpret_cast<uint4*>(row + c * (D / 8) + j) = make_uint4(w[0], w[1], w[2], w[3]);
          }
        }
      }
      return;
    }
    const int part = comp.part_base + (warp_id - comp.first_warp);
    if (g < a.group) {
      float* row = a.part_out + (static_cast<int64_t>(part) * a.group + g) * D + d0;
#pragma unroll
      for (int c = 0; c < 2; ++c) {
#pragma unroll
        for (int j = 0; j < NT; j += 4) {
          __stcg(reinterpret_cast<float4*>(row + c * (D / 8) + j),
                 make_float4(o[j][c] * v_scale, o[j + 1][c] * v_scale, o[j + 2][c] * v_scale,
                             o[j + 3][c] * v_scale));
        }
      }
      if (t == 0) {
        __stcg(reinterpret_cast<float2*>(a.part_ml) + static_cast<int64_t>(part) * a.group + g,
               make_float2(m, l));
      }
    }
    __threadfence();
    __syncwarp();
    int ticket = 0;
    if (lane == 0) ticket = atomicAdd(a.counters + comp_index, 1);
    ticket = __shfl_sync(0xffffffffu, ticket, 0);
    if (ticket != comp.parts - 1) return;
    // The last part: merge all of them, in one pass over the parts with a running maximum.
    // Lane handles dims d .. d + 3 of the rows r0, r0 + kStep, ... (every row for D = 128).
    __threadfence();
    constexpr int kQuads = D / 4;
    constexpr int kStep = 32 / kQuads;
    constexpr int kRowsPerLane = 8 / kStep;
    const int d = 4 * (lane % kQuads);
    const int r0 = lane / kQuads;
    float mx[kRowsPerLane], sum[kRowsPerLane];
    float4 acc[kRowsPerLane];
#pragma unroll
    for (int k = 0; k < kRowsPerLane; ++k) {
      mx[k] = -INFINITY;
      sum[k] = 0.0f;
      acc[k] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
#pragma unroll 2
    for (int p = 0; p < comp.parts; ++p) {
      const int64_t part_row = static_cast<int64_t>(comp.part_base + p) * a.group;
#pragma unroll
      for (int k = 0; k < kRowsPerLane; ++k) {
        const int gg = r0 + k * kStep;
        if (gg >= a.group) continue;
        const float2 ml = __ldcg(reinterpret_cast<const float2*>(a.part_ml) + part_row + gg);
        const float4 x =
            __ldcg(reinterpret_cast<const float4*>(a.part_out + (part_row + gg) * D + d));
        if (ml.x == -INFINITY) continue;  // a part with no attended token
        const float m_new = fmaxf(mx[k], ml.x);
        const float old = exp2f(mx[k] - m_new);
        const float w = exp2f(ml.x - m_new);
        mx[k] = m_new;
        sum[k] = sum[k] * old + w * ml.y;
        acc[k].x = acc[k].x * old + w * x.x;
        acc[k].y = acc[k].y * old + w * x.y;
        acc[k].z = acc[k].z * old + w * x.z;
        acc[k].w = acc[k].w * old + w * x.w;
      }
    }
#pragma unroll
    for (int k = 0; k < kRowsPerLane; ++k) {
      const int gg = r0 + k * kStep;
      if (gg >= a.group) continue;
      const float inv = sum[k] > 0.0f ? 1.0f / sum[k] : 0.0f;
      Tq* out = static_cast<Tq*>(a.out) +
                (static_cast<int64_t>(comp.seq) * a.num_heads + head0 + gg) * D + d;
      *reinterpret_cast<uint2*>(out) = make_uint2(fast::pack2<Tq>(acc[k].x * inv, acc[k].y * inv),
                                                  fast::pack2<Tq>(acc[k].z * inv, acc[k].w * inv));
    }
    if (lane == 0) a.counters[comp_index] = 0;  // ready for the next launch
  };

  for (int n = 0; n < count; ++n) {
    const bool more = n + 1 < count;
    const int base = comp_tile * L::kTokens;
    float sc[kSub][2][2];
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int nn = 0; nn < 2; ++nn) {
        sc[s][nn][0] = sc[s][nn][1] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) {
          uint32_t b0, b1;
          fast::k_fragment<T, D>(kr[s][nn], kk, b0, b1);
          fast::mma_16816<Tm>(sc[s][nn], qw[2 * kk], qw[2 * kk + 1], b0, b1);
        }
      }
    }
    if (more) load_k();
    // sc[s][nn][e]: head g, token base + 16s + 8nn + 2t + e.
    float tile_max = -INFINITY;
#pragma unroll
    for (int s = 0; s < kSub; ++s) {
#pragma unroll
      for (int nn = 0; nn < 2; ++nn) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const bool valid = base + 16 * s + 8 * nn + 2 * t + e < valid_end;
          sc[s][nn][e] = valid ? sc[s][nn][e] * score_scale : -INFINITY;
          tile_max = fmaxf(tile_max, sc[s][nn][e]);
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
        for (int nn = 0; nn < 2; ++nn) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            p[nn][e] = exp2f(sc[s][nn][e] - m);
            l += p[nn][e];
          }
        }
        const uint32_t pa0 = fast::pack2<Tm>(p[0][0], p[0][1]);
        const uint32_t pa2 = fast::pack2<Tm>(p[1][0], p[1][1]);
        // Rows past the attended range hold whatever the pool holds there (possibly NaN, which
        // a zero weight would not cancel): they enter as zeros.
        uint32_t x[4][VW];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const bool row_valid = base + 16 * s + 2 * t + (i & 1) + 8 * (i >> 1) < valid_end;
#pragma unroll
          for (int w = 0; w < VW; ++w) x[i][w] = row_valid ? vr[s][i][w] : 0u;
        }
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          uint32_t b0, b1;
          fast::v_fragment<T, D>(x[0], x[1], x[2], x[3], j, b0, b1);
          fast::mma_16816<Tm>(o[j], pa0, pa2, b0, b1);
        }
      }
    }
    if (more) {
      load_v();
      if (n + 2 < count) {
        advance_load();
        locate();
      }
    }
    if (++comp_tile == comp.tiles || !more) {
      finish_item();
      if (more) {
        comp = load_item(a.items, ++comp_index);
        comp_tile = 0;
        start_item();
#pragma unroll
        for (int j = 0; j < NT; ++j) o[j][0] = o[j][1] = 0.0f;
        m = -INFINITY;
        l = 0.0f;
      }
    }
  }
}

}  // namespace tinyserve::gpu::v6

namespace tinyserve::gpu::v6 {

struct Launch {
  Args args;
  int32_t head_dim;
  bool paged;
  int* occupancy;  // set: report the kernel's resident CTAs per SM instead of launching
};

template <typename T, int D, bool kPaged>
cudaError_t launch_kernel(const Launch& l, cudaStream_t stream) {
  const auto kernel = decode_v6_kernel<T, D, kPaged>;
  // No shared memory: all of the SM's 256 KiB as L1, which holds the block tables.
  static const cudaError_t configured =
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, 0);
  if (configured != cudaSuccess) return configured;
  if (l.occupancy != nullptr) {
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(l.occupancy, kernel, kThreads, 0);
  }
  const int ctas = (l.args.num_warps + kWarps - 1) / kWarps;
  kernel<<<ctas, kThreads, 0, stream>>>(l.args);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch(const Launch& l, cudaStream_t stream) {
  if constexpr (std::is_same_v<T, float>) {
    return cudaErrorNotSupported;
  } else {
    switch (l.head_dim) {
      case 64:
        return l.paged ? launch_kernel<T, 64, true>(l, stream)
                       : launch_kernel<T, 64, false>(l, stream);
      case 128:
        return l.paged ? launch_kernel<T, 128, true>(l, stream)
                       : launch_kernel<T, 128, false>(l, stream);
      default:
        return cudaErrorInvalidValue;
    }
  }
}

}  // namespace tinyserve::gpu::v6
