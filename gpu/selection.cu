// Query-aware block selection kernels (gpu/selection.h): key-bound upkeep, block scores in the
// reference's canonical float order, and a radix top-K per (sequence, KV head).
#include <algorithm>

#include "gpu/cuda_check.h"
#include "gpu/dtype.cuh"
#include "gpu/selection.h"

namespace tinyserve::gpu {
namespace {

inline constexpr int kBoundThreads = 128;
inline constexpr int kScoreThreads = 256;
inline constexpr int kScoreUnroll = 4;  // blocks per row group in flight

template <typename Fn>
cudaError_t by_dtype(DType t, Fn fn) {
  switch (t) {
    case DType::kF32:
      return fn(float{});
    case DType::kF16:
      return fn(__half{});
    case DType::kBF16:
      return fn(__nv_bfloat16{});
    case DType::kFp8E4M3:
    case DType::kFp8E5M2:
      return cudaErrorNotSupported;  // KvGeometry::validate refuses fp8 pools
  }
  return cudaErrorInvalidValue;
}

int device_attribute(cudaDeviceAttr attr, int fallback) {
  int device = 0;
  int value = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&value, attr, device) != cudaSuccess) {
    cudaGetLastError();
    return fallback;
  }
  return value;
}

// kVecElems<T> floats (exact values of T) back into a 16-byte vector of T.
template <typename T>
__device__ __forceinline__ uint4 float_to_vec(const float* x) {
  uint32_t w[4];
  if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int i = 0; i < 4; ++i) w[i] = __float_as_uint(x[i]);
  } else if constexpr (std::is_same_v<T, __half>) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const __half2 h = __floats2half2_rn(x[2 * i], x[2 * i + 1]);
      memcpy(&w[i], &h, 4);
    }
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const __nv_bfloat162 h = __floats2bfloat162_rn(x[2 * i], x[2 * i + 1]);
      memcpy(&w[i], &h, 4);
    }
  }
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// ---- key bounds ----

// grid: (write, layer). Thread i takes 16-byte vector i of the block's [num_kv_heads, head_dim]
// rows: min and max over the rows written (and what the block had, unless slot 0 was written),
// compared exactly as std::min / std::max compare.
template <typename T>
__global__ void __launch_bounds__(kBoundThreads)
    update_bounds_kernel(const PagedKv cache, const KeyBounds bounds, const BlockWrite* writes) {
  constexpr int V = kVecElems<T>;
  const BlockWrite w = writes[blockIdx.x];
  const int64_t layer = blockIdx.y;
  const T* k = static_cast<const T*>(cache.k) + layer * cache.layer_elements();
  T* out = static_cast<T*>(bounds.data) + layer * bounds.layer_elements();
  const int row_vecs = cache.head_dim / V;
  for (int i = threadIdx.x; i < cache.num_kv_heads * row_vecs; i += blockDim.x) {
    const int h = i / row_vecs;
    const int dim = (i % row_vecs) * V;
    uint4* lo_at = reinterpret_cast<uint4*>(out + bounds.index(w.block, h, 0, dim));
    uint4* hi_at = reinterpret_cast<uint4*>(out + bounds.index(w.block, h, 1, dim));
    float lo[V], hi[V];
    if (w.first == 0) {
      vec_to_float<T>(load_vec(k + cache.index(w.block, h, 0, dim)), lo);
#pragma unroll
      for (int e = 0; e < V; ++e) hi[e] = lo[e];
    } else {
      vec_to_float<T>(*lo_at, lo);
      vec_to_float<T>(*hi_at, hi);
    }
    for (int r = w.first; r <= w.last; ++r) {
      float x[V];
      vec_to_float<T>(load_vec(k + cache.index(w.block, h, r, dim)), x);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        lo[e] = x[e] < lo[e] ? x[e] : lo[e];
        hi[e] = hi[e] < x[e] ? x[e] : hi[e];
      }
    }
    *lo_at = float_to_vec<T>(lo);
    *hi_at = float_to_vec<T>(hi);
  }
}

// grid: (write). As update_bounds_kernel for one layer, the new rows taken from the step's
// tokens (and written into the pool) rather than read back from it.
template <typename T>
__global__ void __launch_bounds__(kBoundThreads)
    reshape_bounds_kernel(const PagedKv cache, const KeyBounds bounds, const NewKv tokens,
                          const BlockWrite* writes) {
  constexpr int V = kVecElems<T>;
  const BlockWrite w = writes[blockIdx.x];
  T* k = static_cast<T*>(cache.k);
  T* v = static_cast<T*>(cache.v);
  T* out = static_cast<T*>(bounds.data);
  const int row_vecs = cache.head_dim / V;
  const int64_t token_vecs = static_cast<int64_t>(cache.num_kv_heads) * row_vecs;
  const auto* key = static_cast<const uint4*>(tokens.key);
  const auto* value = static_cast<const uint4*>(tokens.value);
  for (int i = threadIdx.x; i < cache.num_kv_heads * row_vecs; i += blockDim.x) {
    const int h = i / row_vecs;
    const int dim = (i % row_vecs) * V;
    uint4* lo_at = reinterpret_cast<uint4*>(out + bounds.index(w.block, h, 0, dim));
    uint4* hi_at = reinterpret_cast<uint4*>(out + bounds.index(w.block, h, 1, dim));
    float lo[V], hi[V];
    if (w.first == 0) {
#pragma unroll
      for (int e = 0; e < V; ++e) {
        lo[e] = INFINITY;
        hi[e] = -INFINITY;
      }
    } else {
      vec_to_float<T>(*lo_at, lo);
      vec_to_float<T>(*hi_at, hi);
    }
    for (int t = w.token_begin; t < w.token_end; ++t) {
      const int64_t slot = tokens.slot_mapping[t];
      if (slot < 0 || slot / cache.block_size != w.block) continue;
      const auto r = static_cast<int32_t>(slot % cache.block_size);
      const uint4 kx = __ldcs(key + t * token_vecs + i);
      const uint4 vx = __ldcs(value + t * token_vecs + i);
      *reinterpret_cast<uint4*>(k + cache.index(w.block, h, r, dim)) = kx;
      *reinterpret_cast<uint4*>(v + cache.index(w.block, h, r, dim)) = vx;
      float x[V];
      vec_to_float<T>(kx, x);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        lo[e] = x[e] < lo[e] ? x[e] : lo[e];
        hi[e] = hi[e] < x[e] ? x[e] : hi[e];
      }
    }
    *lo_at = float_to_vec<T>(lo);
    *hi_at = float_to_vec<T>(hi);
  }
}

// grid: (copy, layer).
__global__ void __launch_bounds__(kBoundThreads)
    copy_bounds_kernel(const uint4* src, uint4* dst, const BlockCopy* copies, int64_t block_vecs,
                       int64_t src_layer_vecs, int64_t dst_layer_vecs) {
  const BlockCopy c = copies[blockIdx.x];
  const int64_t layer = blockIdx.y;
  const uint4* from = src + layer * src_layer_vecs + c.src * block_vecs;
  uint4* to = dst + layer * dst_layer_vecs + c.dst * block_vecs;
  for (int64_t i = threadIdx.x; i < block_vecs; i += blockDim.x) to[i] = from[i];
}

// ---- scores and top-K ----

struct ScoreArgs {
  const void* bounds;     // [num_blocks, num_kv_heads, 2, D] (one layer)
  const void* q;          // [batch, num_heads, D]
  const int32_t* tables;  // [batch, table_width]
  const int32_t* lens;    // [batch]
  const int32_t* counts;  // [batch]
  float* scores;          // [batch, num_kv_heads, max_blocks]
  int32_t* out_tables;    // [batch, num_kv_heads, max_selected]
  int32_t* out_logical;   // likewise, or null
  int32_t* tickets;       // [batch, num_kv_heads] (one launch)
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t group;
  int32_t block_size;
  int32_t table_width;
  int32_t max_blocks;
  int32_t max_selected;
  int32_t chunk;     // blocks scored per CTA
  int32_t max_rule;  // 1: GroupScore::kMax, 0: kSum
  float scale;
};

// The canonical layout (block_bound in core/execution/selection.cpp): V elements per 16-byte
// vector, L lanes per block row, VPL vectors per lane, R rows per warp.
template <typename T, int D>
struct ScoreShape {
  static constexpr int V = kVecElems<T>;
  static constexpr int L = D / V < 32 ? D / V : 32;
  static constexpr int VPL = D / (V * L);
  static constexpr int R = 32 / L;
  static constexpr int kRows = (kScoreThreads / 32) * R;  // block rows per CTA pass
};

// Order-preserving unsigned key of a score (-0 ranks as +0).
__device__ __forceinline__ uint32_t order_key(float x) {
  uint32_t u = __float_as_uint(x);
  if (u == 0x80000000u) u = 0;
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

struct SelectShared {
  uint32_t hist[256];
  int32_t warp_sum[32];
  uint32_t prefix;
  int32_t remaining;
  int32_t last;
};

// Exclusive prefix sum of x over the CTA; *total gets the sum. Every thread must call it.
__device__ int32_t cta_exclusive_scan(int32_t x, SelectShared& sh, int32_t* total) {
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  int32_t v = x;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int32_t y = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o) v += y;
  }
  if (lane == 31) sh.warp_sum[warp] = v;
  __syncthreads();
  if (warp == 0) {
    int32_t w = lane < warps ? sh.warp_sum[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int32_t y = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += y;
    }
    sh.warp_sum[lane] = w;
  }
  __syncthreads();
  const int32_t before = (warp > 0 ? sh.warp_sum[warp - 1] : 0) + v - x;
  *total = sh.warp_sum[31];
  __syncthreads();
  return before;
}

// Keeps `count` of the n blocks of one (sequence, KV head): 0, n - 1 and the count - 2 middle
// blocks with the largest keys, the lower index among equal keys; writes them in ascending order
// and pads the row to max_selected with -1. keys: [n] in shared memory.
__device__ void select_row(SelectShared& sh, const uint32_t* keys, int n, int count,
                           const int32_t* table, int32_t* out_tables, int32_t* out_logical,
                           int max_selected) {
  const int tid = threadIdx.x;
  const int nt = blockDim.x;
  const int lane = tid & 31;
  uint32_t prefix = 0xffffffffu;
  int remaining = count - 2;  // middle blocks still to take at the current prefix
  if (remaining > 0) {
    // Radix select of the remaining-th largest middle key, 8 bits at a time from the top.
    uint32_t mask = 0;
    prefix = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      for (int i = tid; i < 256; i += nt) sh.hist[i] = 0;
      __syncthreads();
      for (int base = 1; base < n - 1; base += nt) {
        const int j = base + tid;
        const uint32_t key = j < n - 1 ? keys[j] : 0u;
        const bool active = j < n - 1 && (key & mask) == prefix;
        const uint32_t digit = active ? (key >> shift) & 0xffu : 0x100u;
        const uint32_t peers = __match_any_sync(0xffffffffu, digit);
        if (active && lane == __ffs(peers) - 1) atomicAdd(&sh.hist[digit], __popc(peers));
      }
      __syncthreads();
      if (tid < 32) {
        // Lane l holds digits [8 (31 - l), 8 (31 - l) + 8): lane 0 the highest.
        uint32_t c[8];
        uint32_t own = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          c[i] = sh.hist[8 * (31 - lane) + i];
          own += c[i];
        }
        uint32_t incl = own;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const uint32_t y = __shfl_up_sync(0xffffffffu, incl, o);
          if (lane >= o) incl += y;
        }
        uint32_t above = incl - own;
        const auto want = static_cast<uint32_t>(remaining);
        if (above < want && want <= incl) {
#pragma unroll
          for (int i = 7; i >= 0; --i) {
            if (above + c[i] >= want) {
              sh.prefix = prefix | (static_cast<uint32_t>(8 * (31 - lane) + i) << shift);
              sh.remaining = remaining - static_cast<int>(above);
              break;
            }
            above += c[i];
          }
        }
      }
      __syncthreads();
      prefix = sh.prefix;
      remaining = sh.remaining;
      mask |= 0xffu << shift;
      __syncthreads();
    }
  }
  // Chosen: the first and the last block, keys above the threshold, and the first `remaining`
  // keys equal to it. Each thread takes a contiguous segment, so order is kept.
  const int seg = (n + nt - 1) / nt;
  const int j0 = min(n, tid * seg);
  const int j1 = min(n, j0 + seg);
  int32_t equal = 0;
  for (int j = max(j0, 1); j < min(j1, n - 1); ++j) equal += keys[j] == prefix;
  int32_t total = 0;
  const int32_t equal_before = cta_exclusive_scan(equal, sh, &total);
  const auto chosen = [&](int j, int32_t& seen) {
    if (j == 0 || j == n - 1) return true;
    const uint32_t key = keys[j];
    if (key > prefix) return true;
    return key == prefix && seen++ < remaining;
  };
  int32_t mine = 0;
  int32_t seen = equal_before;
  for (int j = j0; j < j1; ++j) mine += chosen(j, seen);
  int32_t at = cta_exclusive_scan(mine, sh, &total);
  seen = equal_before;
  for (int j = j0; j < j1; ++j) {
    if (chosen(j, seen)) {
      out_tables[at] = table[j];
      if (out_logical != nullptr) out_logical[at] = j;
      ++at;
    }
  }
  for (int j = count + tid; j < max_selected; j += nt) {
    out_tables[j] = -1;
    if (out_logical != nullptr) out_logical[j] = -1;
  }
}

// Selects (sequence b, KV head kv) from its scores (global) through shared-memory keys.
__device__ void select_from_scores(const ScoreArgs& a, SelectShared& sh, uint32_t* keys, int b,
                                   int kv, int n) {
  const int count = a.counts[b];
  const int64_t pair = static_cast<int64_t>(b) * a.num_kv_heads + kv;
  const int32_t* table = a.tables + static_cast<int64_t>(b) * a.table_width;
  int32_t* out_tables = a.out_tables + pair * a.max_selected;
  int32_t* out_logical = a.out_logical != nullptr ? a.out_logical + pair * a.max_selected : nullptr;
  if (count >= n) {
    for (int j = threadIdx.x; j < a.max_selected; j += blockDim.x) {
      out_tables[j] = j < n ? table[j] : -1;
      if (out_logical != nullptr) out_logical[j] = j < n ? j : -1;
    }
    return;
  }
  const float* scores = a.scores + pair * a.max_blocks;
  for (int j = threadIdx.x; j < n; j += blockDim.x) keys[j] = order_key(__ldcg(scores + j));
  __syncthreads();
  select_row(sh, keys, n, count, table, out_tables, out_logical, a.max_selected);
}

// grid: (chunk, KV head, sequence). Each CTA scores blocks [chunk * a.chunk, ...) of one
// (sequence, KV head); with kSelect, the CTA that finishes that pair's last chunk selects.
template <typename T, int D, int G, bool kSelect>
__global__ void __launch_bounds__(kScoreThreads) score_kernel(const ScoreArgs a) {
  using S = ScoreShape<T, D>;
  constexpr int V = S::V;
  constexpr int L = S::L;
  constexpr int VPL = S::VPL;
  constexpr int E = V * VPL;
  constexpr int U = kScoreUnroll;
  const int kv = blockIdx.y;
  const int b = blockIdx.z;
  const int n = (a.lens[b] + a.block_size - 1) / a.block_size;
  const int c0 = blockIdx.x * a.chunk;
  if (c0 >= n) return;
  const int c1 = min(c0 + a.chunk, n);
  const int lane = threadIdx.x & 31;
  const int sub = lane % L;
  const int row = (threadIdx.x >> 5) * S::R + lane / L;

  float q[G][E];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    if (g < a.group) {
      const T* qh = static_cast<const T*>(a.q) +
                    (static_cast<int64_t>(b) * a.num_heads + kv * a.group + g) * D;
#pragma unroll
      for (int v = 0; v < VPL; ++v) vec_to_float<T>(load_vec(qh + (v * L + sub) * V), &q[g][v * V]);
    } else {
#pragma unroll
      for (int e = 0; e < E; ++e) q[g][e] = 0.0f;
    }
  }
  const int32_t* table = a.tables + static_cast<int64_t>(b) * a.table_width;
  const T* bounds = static_cast<const T*>(a.bounds);
  const int64_t pair = static_cast<int64_t>(b) * a.num_kv_heads + kv;
  float* out = a.scores + pair * a.max_blocks;

  for (int base = c0; base < c1; base += S::kRows * U) {
    int32_t phys[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int j = base + u * S::kRows + row;
      phys[u] = j < c1 ? __ldg(table + j) : -1;
    }
    uint4 lo[U][VPL], hi[U][VPL];
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int v = 0; v < VPL; ++v) {
        if (phys[u] >= 0) {
          const T* at = bounds + (static_cast<int64_t>(phys[u]) * a.num_kv_heads + kv) * 2 * D +
                        (v * L + sub) * V;
          lo[u][v] = load_vec(at);
          hi[u][v] = load_vec(at + D);
        } else {
          lo[u][v] = hi[u][v] = make_uint4(0, 0, 0, 0);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float m[E], M[E];
#pragma unroll
      for (int v = 0; v < VPL; ++v) {
        vec_to_float<T>(lo[u][v], &m[v * V]);
        vec_to_float<T>(hi[u][v], &M[v * V]);
      }
      float combined = 0.0f;
#pragma unroll
      for (int g = 0; g < G; ++g) {
        if (g >= a.group) break;
        float s = 0.0f;
#pragma unroll
        for (int e = 0; e < E; ++e) {
          // max(q m, q M) is q M for q >= 0 and q m otherwise (the products round monotonically).
          const float bound = q[g][e] >= 0.0f ? M[e] : m[e];
          if constexpr (sizeof(T) == 4) {
            s = __fadd_rn(s, __fmul_rn(q[g][e], bound));
          } else {
            s = fmaf(q[g][e], bound, s);  // the product of two 16-bit values is exact in float
          }
        }
#pragma unroll
        for (int o = L / 2; o > 0; o >>= 1) s = __fadd_rn(s, __shfl_xor_sync(0xffffffffu, s, o));
        if (g == 0) {
          combined = s;
        } else if (a.max_rule != 0) {
          combined = combined < s ? s : combined;
        } else {
          combined = __fadd_rn(combined, s);
        }
      }
      const int j = base + u * S::kRows + row;
      if (phys[u] >= 0 && sub == 0) out[j] = __fmul_rn(combined, a.scale);
    }
  }

  if constexpr (kSelect) {
    extern __shared__ uint32_t keys[];
    __shared__ SelectShared sh;
    __threadfence();  // this CTA's scores, before the ticket
    __syncthreads();
    if (threadIdx.x == 0) {
      const int chunks = (n + a.chunk - 1) / a.chunk;
      const int ticket = atomicAdd(a.tickets + pair, 1);
      sh.last = ticket == chunks - 1;
      if (sh.last) a.tickets[pair] = 0;  // ready for the next launch
    }
    __syncthreads();
    if (!sh.last) return;
    __threadfence();
    select_from_scores(a, sh, keys, b, kv, n);
  }
}

// grid: (KV head, sequence).
__global__ void __launch_bounds__(kScoreThreads) select_kernel(const ScoreArgs a) {
  extern __shared__ uint32_t keys[];
  __shared__ SelectShared sh;
  const int kv = blockIdx.x;
  const int b = blockIdx.y;
  const int n = (a.lens[b] + a.block_size - 1) / a.block_size;
  select_from_scores(a, sh, keys, b, kv, n);
}

ScoreArgs score_args(const SelectLaunch& s) {
  ScoreArgs a{};
  a.bounds = s.bounds.data;
  a.q = s.batch.q;
  a.tables = s.batch.block_tables;
  a.lens = s.batch.context_lens;
  a.counts = s.counts;
  a.scores = s.scores;
  a.out_tables = s.tables;
  a.out_logical = s.logical;
  a.tickets = s.tickets;
  a.num_heads = s.batch.num_heads;
  a.num_kv_heads = s.bounds.num_kv_heads;
  a.group = s.bounds.num_kv_heads > 0 ? s.batch.num_heads / s.bounds.num_kv_heads : 0;
  a.block_size = s.block_size;
  a.table_width = s.batch.max_blocks_per_seq;
  a.max_blocks = s.max_blocks;
  a.max_selected = s.max_selected;
  a.max_rule = s.rule == GroupScore::kMax ? 1 : 0;
  a.scale = s.batch.scale;
  // Blocks per CTA: a power of two in [64, 1024], halved while the grid has fewer than four
  // CTAs per SM.
  const int64_t pairs = static_cast<int64_t>(s.batch.batch) * a.num_kv_heads;
  const int64_t target = 4LL * device_attribute(cudaDevAttrMultiProcessorCount, 132);
  a.chunk = 1024;
  while (a.chunk > 64 && pairs * ((s.max_blocks + a.chunk - 1) / a.chunk) < target) a.chunk /= 2;
  return a;
}

bool valid(const SelectLaunch& s, bool select) {
  const int32_t kv = s.bounds.num_kv_heads;
  const bool shape = s.bounds.num_layers == 1 && kv > 0 && s.batch.num_heads % kv == 0 &&
                     s.batch.num_heads / kv <= 8 && s.block_size >= 1 && s.max_blocks >= 1 &&
                     s.scores != nullptr && s.batch.table_head_stride == 0 &&
                     s.batch.max_blocks_per_seq >= 1 && s.batch.batch <= 65535 && kv <= 65535;
  if (!shape) return false;
  return !select || (s.counts != nullptr && s.tables != nullptr && s.max_selected >= 1);
}

size_t key_bytes(const SelectLaunch& s) {
  return sizeof(uint32_t) * static_cast<size_t>(s.max_blocks);
}

template <bool kSelect, typename T, int D>
cudaError_t launch_score_dim(const SelectLaunch& s, cudaStream_t stream) {
  const ScoreArgs a = score_args(s);
  const dim3 grid(static_cast<unsigned>((s.max_blocks + a.chunk - 1) / a.chunk),
                  static_cast<unsigned>(a.num_kv_heads), static_cast<unsigned>(s.batch.batch));
  const size_t smem = kSelect ? key_bytes(s) : 0;
  const auto launch = [&](auto kernel) -> cudaError_t {
    if (smem > 48 * 1024) {
      TS_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem)));
    }
    kernel<<<grid, kScoreThreads, smem, stream>>>(a);
    TS_CUDA_TRY_LAUNCH();
    return cudaSuccess;
  };
  if (a.group <= 1) return launch(score_kernel<T, D, 1, kSelect>);
  if (a.group <= 2) return launch(score_kernel<T, D, 2, kSelect>);
  if (a.group <= 4) return launch(score_kernel<T, D, 4, kSelect>);
  return launch(score_kernel<T, D, 8, kSelect>);
}

template <bool kSelect>
cudaError_t launch_score(const SelectLaunch& s, cudaStream_t stream) {
  if (s.batch.batch == 0) return cudaSuccess;
  if (!valid(s, kSelect) || (kSelect && s.tickets == nullptr)) return cudaErrorInvalidValue;
  if (kSelect && key_bytes(s) > static_cast<size_t>(device_attribute(
                                    cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024)) -
                                    sizeof(SelectShared)) {
    return cudaErrorInvalidValue;
  }
  return by_dtype(s.bounds.dtype, [&](auto t) -> cudaError_t {
    using T = decltype(t);
    switch (s.bounds.head_dim) {
      case 64:
        return launch_score_dim<kSelect, T, 64>(s, stream);
      case 128:
        return launch_score_dim<kSelect, T, 128>(s, stream);
      case 256:
        return launch_score_dim<kSelect, T, 256>(s, stream);
      default:
        return cudaErrorInvalidValue;
    }
  });
}

}  // namespace

cudaError_t update_key_bounds(const PagedKv& cache, const KeyBounds& bounds,
                              const BlockWrite* writes, int32_t num_writes, cudaStream_t stream) {
  if (num_writes == 0) return cudaSuccess;
  if (cache.num_layers != bounds.num_layers || cache.num_blocks != bounds.num_blocks ||
      cache.num_kv_heads != bounds.num_kv_heads || cache.head_dim != bounds.head_dim ||
      bounds.dtype != key_bounds_dtype(cache.dtype) || cache.num_layers > 65535 ||
      cache.head_dim % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  return by_dtype(cache.dtype, [&](auto t) -> cudaError_t {
    update_bounds_kernel<decltype(t)>
        <<<dim3(static_cast<unsigned>(num_writes), static_cast<unsigned>(cache.num_layers)),
           kBoundThreads, 0, stream>>>(cache, bounds, writes);
    TS_CUDA_TRY_LAUNCH();
    return cudaSuccess;
  });
}

cudaError_t reshape_and_update_bounds(const PagedKv& cache, const KeyBounds& bounds,
                                      const NewKv& tokens, const BlockWrite* writes,
                                      int32_t num_writes, cudaStream_t stream) {
  if (num_writes == 0) return cudaSuccess;
  if (cache.num_layers != 1 || bounds.num_layers != 1 || cache.num_blocks != bounds.num_blocks ||
      cache.num_kv_heads != bounds.num_kv_heads || cache.head_dim != bounds.head_dim ||
      bounds.dtype != cache.dtype || cache.head_dim % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  return by_dtype(cache.dtype, [&](auto t) -> cudaError_t {
    reshape_bounds_kernel<decltype(t)>
        <<<static_cast<unsigned>(num_writes), kBoundThreads, 0, stream>>>(cache, bounds, tokens,
                                                                          writes);
    TS_CUDA_TRY_LAUNCH();
    return cudaSuccess;
  });
}

cudaError_t copy_key_bounds(const KeyBounds& src, const KeyBounds& dst, const BlockCopy* copies,
                            int32_t num_copies, cudaStream_t stream) {
  if (num_copies == 0) return cudaSuccess;
  const int64_t block_bytes = src.block_elements() * dtype_size(src.dtype);
  if (src.num_layers != dst.num_layers || src.block_elements() != dst.block_elements() ||
      src.dtype != dst.dtype || block_bytes % 16 != 0 || src.num_layers > 65535) {
    return cudaErrorInvalidValue;
  }
  const int64_t block_vecs = block_bytes / 16;
  copy_bounds_kernel<<<dim3(static_cast<unsigned>(num_copies),
                            static_cast<unsigned>(src.num_layers)),
                       kBoundThreads, 0, stream>>>(
      static_cast<const uint4*>(src.data), static_cast<uint4*>(dst.data), copies, block_vecs,
      block_vecs * src.num_blocks, block_vecs * dst.num_blocks);
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

cudaError_t score_blocks(const SelectLaunch& s, cudaStream_t stream) {
  return launch_score<false>(s, stream);
}

cudaError_t score_and_select(const SelectLaunch& s, cudaStream_t stream) {
  return launch_score<true>(s, stream);
}

cudaError_t select_top_blocks(const SelectLaunch& s, cudaStream_t stream) {
  if (s.batch.batch == 0) return cudaSuccess;
  if (!valid(s, true)) return cudaErrorInvalidValue;
  const size_t smem = key_bytes(s);
  if (smem >
      static_cast<size_t>(device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024)) -
          sizeof(SelectShared)) {
    return cudaErrorInvalidValue;
  }
  if (smem > 48 * 1024) {
    TS_CUDA_TRY(cudaFuncSetAttribute(select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     static_cast<int>(smem)));
  }
  const ScoreArgs a = score_args(s);
  select_kernel<<<dim3(static_cast<unsigned>(a.num_kv_heads), static_cast<unsigned>(s.batch.batch)),
                  kScoreThreads, smem, stream>>>(a);
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

}  // namespace tinyserve::gpu
