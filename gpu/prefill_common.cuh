// What the prefill kernels (gpu/prefill_attention.h) share: their argument struct, the work
// item, the shared-memory tile layout and the loads that fill it (fp8 pools: byte tiles converted
// to fp16 in shared memory), and the split-KV partials.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "gpu/dtype.cuh"

namespace tinyserve::gpu::prefill {

// A work item, as plan_prefill writes it: kItemInts ints per item.
inline constexpr int kItemInts = 8;
inline constexpr int kMergeInts = 4;
struct Item {
  int32_t entry;     // prefill entry (chunk) b
  int32_t row0;      // first packed row of the tile: row = query * group + head of the group
  int32_t kv_begin;  // KV tokens [kv_begin, kv_end) of this item (a split, or all of them)
  int32_t kv_end;    // <= the last query's position + 1 (causal bound of the tile)
  int32_t part;      // split items: partial row of the tile's first query; -1: no split
};

struct Args {
  const void* q;                // [num_queries, num_heads, D], QueryT of the pool's type
  void* out;                    // [num_queries, num_heads, D], likewise
  const void* k;                // [num_blocks, num_kv_heads, block_size, D] (one layer)
  const void* v;                // likewise
  const int32_t* query_start;   // [batch + 1]
  const int32_t* context_lens;  // [batch]
  const int32_t* block_tables;  // [batch, max_blocks_per_seq]
  const int32_t* items;         // [num_items, kItemInts]
  const int32_t* merge;         // [num_merged, kMergeInts]: query, first part row, part stride,
                                //   splits
  float* part_out;              // [part rows, num_heads, D]: normalised partial outputs
  float* part_ml;               // [part rows, num_heads, 2]: max (log2 units), sum
  int64_t block_stride;         // elements between blocks of the pool
  int64_t head_stride;          // elements between KV heads of a block
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t group;        // query heads per KV head
  int32_t block_shift;  // log2(block_size)
  int32_t max_blocks_per_seq;
  int32_t num_items;
  int32_t num_queries;
  int32_t pingpong;       // wgmma: consumers alternate their issues (PrefillOptions::pingpong)
  int32_t prefetch_rows;  // wgmma: PrefillOptions::prefetch_rows
  float scale_log2;       // softmax scale * log2(e)
  // fp8 pools: element * scale is the value, per tensor or, when the arrays are set, per KV head
  // ([num_kv_heads], device memory). The kernels fold the K scale into the score scale and the
  // V scale into the output's normalisation; other dtypes ignore them.
  float k_scale;
  float v_scale;
  const float* k_head_scales;
  const float* v_head_scales;

  __device__ __forceinline__ float k_scale_of(int kv_head) const {
    return k_head_scales != nullptr ? k_head_scales[kv_head] : k_scale;
  }
  __device__ __forceinline__ float v_scale_of(int kv_head) const {
    return v_head_scales != nullptr ? v_head_scales[kv_head] : v_scale;
  }
};

__device__ __forceinline__ Item load_item(const Args& a, int i) {
  const int4 x =
      __ldg(reinterpret_cast<const int4*>(a.items + static_cast<int64_t>(i) * kItemInts));
  const int p = __ldg(a.items + static_cast<int64_t>(i) * kItemInts + 4);
  return {x.x, x.y, x.z, x.w, p};
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; zeros when !valid (src is then not read).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// The shared-memory tile layout of every operand (Q, K, V): ROWS rows of D elements of 2 bytes,
// stored as D / 64 column blocks of [ROWS][64] (128 bytes a row); within a row the 16-byte chunk
// c sits at c ^ (row % 8). This is the 128-byte swizzle of the tensor-memory-access and wgmma
// descriptors when each column block starts 1024-byte aligned, and keeps ldmatrix free of bank
// conflicts. Byte offset of (row, 16-byte chunk c) within the tile:
template <int ROWS>
__device__ __forceinline__ uint32_t tile_offset(int row, int c) {
  return static_cast<uint32_t>((c >> 3) * (ROWS * 128) + row * 128 + (((c & 7) ^ (row & 7)) << 4));
}

// Loads KV tokens [tok0, tok0 + ROWS) of one KV head into a tile at smem address dst, gathering
// pages through the block table; tokens at or past `valid` are zero-filled (so rows past the
// sequence never carry NaN into a product with a zero weight). Threads [0, THREADS) each take
// the chunks tid, tid + THREADS, ...: one table read per row they touch.
// fp8 pools go through load_fp8_tile and convert_fp8_tile below instead.
template <typename T, int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_kv_tile(uint32_t dst, const T* head_base, const int32_t* table,
                                             int block_shift, int64_t block_stride, int tok0,
                                             int valid, int tid) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  static_assert((ROWS * kChunks) % THREADS == 0 && THREADS % kChunks == 0);
  const int c = tid % kChunks;
  const int mask = (1 << block_shift) - 1;
#pragma unroll
  for (int row = tid / kChunks; row < ROWS; row += THREADS / kChunks) {
    const int tok = tok0 + row;
    const bool ok = tok < valid;
    const int64_t page = ok ? __ldg(table + (tok >> block_shift)) : 0;
    const T* src = head_base + page * block_stride + static_cast<int64_t>(tok & mask) * D + c * 8;
    cp_async_16(dst + tile_offset<ROWS>(row, c), src, ok);
  }
}

// fp8 pools: loads KV tokens [tok0, tok0 + ROWS) of one KV head as bytes into a plain row-major
// [ROWS][D] byte tile at smem address dst (16-byte aligned), as load_kv_tile does (zeros at or
// past `valid`: fp8 zero converts to fp16 zero).
template <int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_fp8_tile(uint32_t dst, const uint8_t* head_base,
                                              const int32_t* table, int block_shift,
                                              int64_t block_stride, int tok0, int valid, int tid) {
  constexpr int kChunks = D / 16;  // 16-byte chunks per row
  static_assert((ROWS * kChunks) % THREADS == 0 && THREADS % kChunks == 0);
  const int c = tid % kChunks;
  const int mask = (1 << block_shift) - 1;
#pragma unroll
  for (int row = tid / kChunks; row < ROWS; row += THREADS / kChunks) {
    const int tok = tok0 + row;
    const bool ok = tok < valid;
    const int64_t page = ok ? __ldg(table + (tok >> block_shift)) : 0;
    const uint8_t* src =
        head_base + page * block_stride + static_cast<int64_t>(tok & mask) * D + c * 16;
    cp_async_16(dst + static_cast<uint32_t>(row * D + c * 16), src, ok);
  }
}

__device__ __forceinline__ uint4 ld_shared_16(uint32_t addr) {
  uint4 v;
  asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "r"(addr)
               : "memory");
  return v;
}
__device__ __forceinline__ void st_shared_16(uint32_t addr, uint4 v) {
  asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "r"(v.x), "r"(v.y),
               "r"(v.z), "r"(v.w)
               : "memory");
}

// fp8 pools: converts a [ROWS][D] byte tile (load_fp8_tile's) into the fp16 tile layout above at
// dst, exactly (every e4m3 and e5m2 value is an fp16 value; the scales are applied outside the
// products). Threads [0, THREADS) each take the 16-byte chunks tid, tid + THREADS, ...
template <typename TC, int D, int ROWS, int THREADS, int UNROLL = 4>
__device__ __forceinline__ void convert_fp8_tile(uint32_t dst, uint32_t src, int tid) {
  static_assert(kIsFp8<TC>);
  constexpr int kChunks = D / 16;
  static_assert((ROWS * kChunks) % THREADS == 0);
#pragma unroll(UNROLL)
  for (int i = tid; i < ROWS * kChunks; i += THREADS) {
    const int row = i / kChunks;
    const int c = i - row * kChunks;
    const uint4 x = ld_shared_16(src + static_cast<uint32_t>(row * D + c * 16));
    const uint4 lo = {fp8x2_to_half2_bits<TC>(x.x), fp8x2_to_half2_bits<TC>(x.x >> 16),
                      fp8x2_to_half2_bits<TC>(x.y), fp8x2_to_half2_bits<TC>(x.y >> 16)};
    const uint4 hi = {fp8x2_to_half2_bits<TC>(x.z), fp8x2_to_half2_bits<TC>(x.z >> 16),
                      fp8x2_to_half2_bits<TC>(x.w), fp8x2_to_half2_bits<TC>(x.w >> 16)};
    st_shared_16(dst + tile_offset<ROWS>(row, 2 * c), lo);
    st_shared_16(dst + tile_offset<ROWS>(row, 2 * c + 1), hi);
  }
}

// Loads packed rows [row0, row0 + ROWS) of the entry's queries for KV head kv_head into a tile:
// row r is query (row0 + r) / group, head kv_head * group + (row0 + r) % group; rows past the
// entry's count * group are zero-filled.
template <typename T, int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_q_tile(uint32_t dst, const Args& a, int q0, int rows_total,
                                            int row0, int kv_head, int tid) {
  constexpr int kChunks = D / 8;
  static_assert((ROWS * kChunks) % THREADS == 0 && THREADS % kChunks == 0);
  const int c = tid % kChunks;
#pragma unroll
  for (int row = tid / kChunks; row < ROWS; row += THREADS / kChunks) {
    const int packed = row0 + row;
    const bool ok = packed < rows_total;
    const int j = ok ? packed / a.group : 0;
    const int g = ok ? packed - j * a.group : 0;
    const T* src = static_cast<const T*>(a.q) +
                   (static_cast<int64_t>(q0 + j) * a.num_heads + kv_head * a.group + g) * D + c * 8;
    cp_async_16(dst + tile_offset<ROWS>(row, c), src, ok);
  }
}

// Two floats rounded into one 32-bit pair of T (fp16 or bf16), lo in the low half.
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

// 2^x on the special-function unit, denormals flushed (what exp2f compiles to with fast math,
// without the range fix-up around it).
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The online softmax of one KV tile for a thread's two rows, in the accumulator layout of
// mma.sync m16n8 and wgmma m64nN: s[4j + e] holds row e / 2 (g or g + 8), key k0 + 8j + 2t +
// (e & 1), as raw scores. On return s holds the weights exp2(s * scale_log2 - m) relative to
// the updated row maxima m (log2 units), l the weights' running (thread-partial) sums, alpha the
// factors that rescale the output accumulated so far. kMask: keys at or past lim[row] (causal
// bound, end of the item) get weight 0; tiles wholly below every row's bound skip that work.
template <int N, bool kMask>
__device__ __forceinline__ void online_softmax(float (&s)[N], float (&m)[2], float (&l)[2],
                                               float (&alpha)[2], float scale_log2, int k0, int t,
                                               const int (&lim)[2]) {
  if constexpr (kMask) {
#pragma unroll
    for (int j = 0; j < N / 4; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (k0 + 8 * j + 2 * t + (e & 1) >= lim[e >> 1]) s[4 * j + e] = -INFINITY;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < N / 4; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m[r], mx * scale_log2);
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;  // a row with no key yet
    alpha[r] = ex2(m[r] - m_use);
    m[r] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < N / 4; ++j) {
      s[4 * j + 2 * r] = ex2(fmaf(s[4 * j + 2 * r], scale_log2, -m_use));
      s[4 * j + 2 * r + 1] = ex2(fmaf(s[4 * j + 2 * r + 1], scale_log2, -m_use));
      sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
    }
    l[r] = l[r] * alpha[r] + sum;
  }
}

// Writes one row's final output (2 consecutive columns at a time) or its split partial.
// o: the two columns' unnormalised values; inv_l: 1 / sum (0 when nothing was attended).
template <typename T, int D>
__device__ __forceinline__ void store_pair(const Args& a, int64_t query, int head, int col,
                                           float o0, float o1, float inv_l, int part_row) {
  if (part_row < 0) {
    T* dst = static_cast<T*>(a.out) + (query * a.num_heads + head) * D + col;
    *reinterpret_cast<uint32_t*>(dst) = pack2<T>(o0 * inv_l, o1 * inv_l);
  } else {
    float2* dst = reinterpret_cast<float2*>(
        a.part_out + (static_cast<int64_t>(part_row) * a.num_heads + head) * D + col);
    *dst = make_float2(o0 * inv_l, o1 * inv_l);
  }
}

__device__ __forceinline__ void store_ml(const Args& a, int part_row, int head, float m, float l) {
  float2* dst = reinterpret_cast<float2*>(
      a.part_ml + (static_cast<int64_t>(part_row) * a.num_heads + head) * 2);
  *dst = make_float2(m, l);
}

}  // namespace tinyserve::gpu::prefill
