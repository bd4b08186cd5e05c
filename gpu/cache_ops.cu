#include <algorithm>

#include "gpu/cache_ops.h"
#include "gpu/cuda_check.h"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu {
namespace {

inline constexpr int kCopyThreads = 256;
inline constexpr int kPerThread = 4;  // 16-byte vectors in flight per thread

struct ReshapeArgs {
  const uint4* key;      // [num_tokens, num_kv_heads, row_vecs]
  const uint4* value;    // likewise
  uint4* k_cache;        // [num_blocks, num_kv_heads, block_size, row_vecs]
  uint4* v_cache;        // likewise
  const int64_t* slots;  // [num_tokens]
  int32_t num_tokens;
  int32_t num_kv_heads;
  int32_t row_shift;    // log2(16-byte vectors per head row)
  int32_t block_shift;  // log2(block_size)
};

// Thread i moves vector i of the flattened [token, head, vec] input, for K and for V.
__global__ void __launch_bounds__(kCopyThreads) reshape_and_cache_kernel(const ReshapeArgs a) {
  const uint32_t token_vecs = static_cast<uint32_t>(a.num_kv_heads) << a.row_shift;
  const uint32_t total = static_cast<uint32_t>(a.num_tokens) * token_vecs;
  const uint32_t first = blockIdx.x * (kCopyThreads * kPerThread) + threadIdx.x;
  uint4 k[kPerThread];
  uint4 v[kPerThread];
  int64_t dst[kPerThread];
#pragma unroll
  for (int r = 0; r < kPerThread; ++r) {
    const uint32_t i = first + r * kCopyThreads;
    dst[r] = -1;
    if (i >= total) continue;
    const uint32_t token = i / token_vecs;
    const uint32_t rest = i - token * token_vecs;
    const int64_t slot = a.slots[token];
    if (slot < 0) continue;
    const uint32_t head = rest >> a.row_shift;
    const uint32_t vec = rest & ((1u << a.row_shift) - 1);
    const int64_t block = slot >> a.block_shift;
    const int64_t offset = slot & ((1 << a.block_shift) - 1);
    dst[r] = ((((block * a.num_kv_heads + head) << a.block_shift) + offset) << a.row_shift) + vec;
    k[r] = __ldcs(a.key + i);
    v[r] = __ldcs(a.value + i);
  }
#pragma unroll
  for (int r = 0; r < kPerThread; ++r) {
    if (dst[r] < 0) continue;
    a.k_cache[dst[r]] = k[r];
    a.v_cache[dst[r]] = v[r];
  }
}

struct ReshapeFp8Args {
  const uint4* key;    // [num_tokens, num_kv_heads, row_vecs, 2]: fp16, 16 elements per pair
  const uint4* value;  // likewise
  uint4* k_cache;      // [num_blocks, num_kv_heads, block_size, row_vecs]: 16 fp8 per vector
  uint4* v_cache;
  const int64_t* slots;  // [num_tokens]
  KvScales scales;       // device pointers for per-head scales
  int32_t num_tokens;
  int32_t num_kv_heads;
  int32_t row_shift;  // log2(16-byte fp8 vectors per head row)
  int32_t block_shift;
};

// One fp16 value (bits h) / scale, as float: NaN stays NaN with its sign (the device's
// arithmetic would make it the canonical, positive NaN; the host keeps the sign).
__device__ __forceinline__ float scaled(uint32_t h, float scale) {
  if ((h & 0x7fffu) > 0x7c00u) return __uint_as_float((h & 0x8000u) ? 0xffc00000u : 0x7fc00000u);
  return __fdiv_rn(__half2float(__ushort_as_half(static_cast<unsigned short>(h))), scale);
}

// 16 fp16 values (two vectors) / scale as 16 fp8 elements.
template <typename T>
__device__ __forceinline__ uint4 quantize16(uint4 lo, uint4 hi, float scale) {
  const uint32_t in[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
  uint32_t out[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    uint32_t bytes[2];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const uint32_t w = in[2 * i + j];
      bytes[j] = float2_to_fp8x2_bits<T>(scaled(w & 0xffffu, scale), scaled(w >> 16, scale));
    }
    out[i] = bytes[0] | (bytes[1] << 16);
  }
  return make_uint4(out[0], out[1], out[2], out[3]);
}

// fp8 pools: thread i quantizes output vector i of the flattened [token, head, vec] for K and V.
template <typename T>
__global__ void __launch_bounds__(kCopyThreads)
    reshape_and_cache_fp8_kernel(const ReshapeFp8Args a) {
  constexpr int kPer = 2;
  const uint32_t token_vecs = static_cast<uint32_t>(a.num_kv_heads) << a.row_shift;
  const uint32_t total = static_cast<uint32_t>(a.num_tokens) * token_vecs;
  const uint32_t first = blockIdx.x * (kCopyThreads * kPer) + threadIdx.x;
  uint4 k[kPer][2];
  uint4 v[kPer][2];
  int64_t dst[kPer];
  uint32_t head[kPer];
#pragma unroll
  for (int r = 0; r < kPer; ++r) {
    const uint32_t i = first + r * kCopyThreads;
    dst[r] = -1;
    head[r] = 0;
    if (i >= total) continue;
    const uint32_t token = i / token_vecs;
    const uint32_t rest = i - token * token_vecs;
    const int64_t slot = a.slots[token];
    if (slot < 0) continue;
    head[r] = rest >> a.row_shift;
    const uint32_t vec = rest & ((1u << a.row_shift) - 1);
    const int64_t block = slot >> a.block_shift;
    const int64_t offset = slot & ((1 << a.block_shift) - 1);
    dst[r] =
        ((((block * a.num_kv_heads + head[r]) << a.block_shift) + offset) << a.row_shift) + vec;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      k[r][j] = __ldcs(a.key + 2 * i + j);
      v[r][j] = __ldcs(a.value + 2 * i + j);
    }
  }
#pragma unroll
  for (int r = 0; r < kPer; ++r) {
    if (dst[r] < 0) continue;
    a.k_cache[dst[r]] =
        quantize16<T>(k[r][0], k[r][1], a.scales.k_of(static_cast<int32_t>(head[r])));
    a.v_cache[dst[r]] =
        quantize16<T>(v[r][0], v[r][1], a.scales.v_of(static_cast<int32_t>(head[r])));
  }
}

struct CopyArgs {
  const uint4* src_k;  // [num_layers, src_blocks, block_vecs]
  const uint4* src_v;
  uint4* dst_k;  // [num_layers, dst_blocks, block_vecs]
  uint4* dst_v;
  const BlockCopy* copies;
  int64_t block_vecs;
  int64_t src_layer_vecs;
  int64_t dst_layer_vecs;
};

// grid: (copy, layer, K or V).
__global__ void __launch_bounds__(kCopyThreads) copy_blocks_kernel(const CopyArgs a) {
  const BlockCopy c = a.copies[blockIdx.x];
  const int64_t layer = blockIdx.y;
  const uint4* src =
      (blockIdx.z == 0 ? a.src_k : a.src_v) + layer * a.src_layer_vecs + c.src * a.block_vecs;
  uint4* dst =
      (blockIdx.z == 0 ? a.dst_k : a.dst_v) + layer * a.dst_layer_vecs + c.dst * a.block_vecs;
  for (int64_t base = threadIdx.x; base < a.block_vecs; base += kCopyThreads * kPerThread) {
    uint4 x[kPerThread];
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int64_t i = base + r * kCopyThreads;
      if (i < a.block_vecs) x[r] = src[i];
    }
#pragma unroll
    for (int r = 0; r < kPerThread; ++r) {
      const int64_t i = base + r * kCopyThreads;
      if (i < a.block_vecs) dst[i] = x[r];
    }
  }
}

template <typename T>
__global__ void synthesize_kernel(const SyntheticRows r) {
  const int i = blockIdx.x;
  const int32_t token = r.tokens[i];
  const int32_t position = r.positions[i];
  T* out = static_cast<T*>(r.out) + static_cast<int64_t>(i) * r.heads * r.head_dim;
  const SyntheticSpec spec{r.seed, r.pattern, r.head_dim, r.group};
  for (int e = threadIdx.x; e < r.heads * r.head_dim; e += blockDim.x) {
    const int h = e / r.head_dim;
    const uint64_t row = synthetic_row(r.seed, r.kind, token, position, r.layer, h);
    out[e] = from_float<T>(
        synthetic_element(spec, row, r.kind, position, r.layer, h, e - h * r.head_dim));
  }
}

// out[i]: the fp8 bits of the float with bit pattern first + i (pairs, as reshape converts).
template <typename T>
__global__ void fp8_bits_kernel(uint32_t first, int64_t count, uint8_t* out) {
  for (int64_t i = 2 * (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x); i < count;
       i += 2 * static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float lo = __uint_as_float(first + static_cast<uint32_t>(i));
    const float hi = __uint_as_float(first + static_cast<uint32_t>(i) + 1u);
    const uint32_t bits = float2_to_fp8x2_bits<T>(lo, hi);
    out[i] = static_cast<uint8_t>(bits);
    if (i + 1 < count) out[i + 1] = static_cast<uint8_t>(bits >> 8);
  }
}

int32_t log2_exact(int64_t x) {
  int32_t s = 0;
  while ((int64_t{1} << s) < x) ++s;
  return (int64_t{1} << s) == x ? s : -1;
}

cudaError_t reshape_and_cache_fp8(const PagedKv& cache, const NewKv& tokens, cudaStream_t stream) {
  ReshapeFp8Args a{};
  a.k_cache = static_cast<uint4*>(cache.k);
  a.v_cache = static_cast<uint4*>(cache.v);
  a.scales = cache.scales;
  a.num_kv_heads = cache.num_kv_heads;
  a.row_shift = log2_exact(cache.head_dim / 16);
  a.block_shift = log2_exact(cache.block_size);
  if (cache.num_layers != 1 || cache.head_dim % 16 != 0 || a.row_shift < 0 || a.block_shift < 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t token_vecs = static_cast<int64_t>(cache.num_kv_heads) << a.row_shift;
  const auto chunk = static_cast<int32_t>(std::max<int64_t>(1, (int64_t{1} << 30) / token_vecs));
  for (int32_t first = 0; first < tokens.num_tokens; first += chunk) {
    a.num_tokens = std::min(chunk, tokens.num_tokens - first);
    a.key = static_cast<const uint4*>(tokens.key) + 2 * first * token_vecs;
    a.value = static_cast<const uint4*>(tokens.value) + 2 * first * token_vecs;
    a.slots = tokens.slot_mapping + first;
    const int64_t total = a.num_tokens * token_vecs;
    const auto blocks = static_cast<unsigned>((total + kCopyThreads * 2 - 1) / (kCopyThreads * 2));
    if (cache.dtype == DType::kFp8E4M3) {
      reshape_and_cache_fp8_kernel<__nv_fp8_e4m3><<<blocks, kCopyThreads, 0, stream>>>(a);
    } else {
      reshape_and_cache_fp8_kernel<__nv_fp8_e5m2><<<blocks, kCopyThreads, 0, stream>>>(a);
    }
    TS_CUDA_TRY_LAUNCH();
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t reshape_and_cache(const PagedKv& cache, const NewKv& tokens, cudaStream_t stream) {
  if (tokens.num_tokens == 0) return cudaSuccess;
  if (is_fp8(cache.dtype)) return reshape_and_cache_fp8(cache, tokens, stream);
  const int64_t row_bytes = static_cast<int64_t>(cache.head_dim) * dtype_size(cache.dtype);
  ReshapeArgs a{};
  a.k_cache = static_cast<uint4*>(cache.k);
  a.v_cache = static_cast<uint4*>(cache.v);
  a.num_kv_heads = cache.num_kv_heads;
  a.row_shift = log2_exact(row_bytes / 16);
  a.block_shift = log2_exact(cache.block_size);
  if (cache.num_layers != 1 || row_bytes % 16 != 0 || a.row_shift < 0 || a.block_shift < 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t token_vecs = static_cast<int64_t>(cache.num_kv_heads) << a.row_shift;
  // Chunks of tokens whose vector count fits 32-bit indexing.
  const auto chunk = static_cast<int32_t>(std::max<int64_t>(1, (int64_t{1} << 30) / token_vecs));
  for (int32_t first = 0; first < tokens.num_tokens; first += chunk) {
    a.num_tokens = std::min(chunk, tokens.num_tokens - first);
    a.key = static_cast<const uint4*>(tokens.key) + first * token_vecs;
    a.value = static_cast<const uint4*>(tokens.value) + first * token_vecs;
    a.slots = tokens.slot_mapping + first;
    const int64_t total = a.num_tokens * token_vecs;
    const auto blocks = static_cast<unsigned>((total + kCopyThreads * kPerThread - 1) /
                                              (kCopyThreads * kPerThread));
    reshape_and_cache_kernel<<<blocks, kCopyThreads, 0, stream>>>(a);
    TS_CUDA_TRY_LAUNCH();
  }
  return cudaSuccess;
}

cudaError_t copy_blocks(const PagedKv& src, const PagedKv& dst, const BlockCopy* copies,
                        int32_t num_copies, cudaStream_t stream) {
  if (num_copies == 0) return cudaSuccess;
  const int64_t block_bytes = src.block_elements() * dtype_size(src.dtype);
  if (src.num_layers != dst.num_layers || src.block_elements() != dst.block_elements() ||
      block_bytes % 16 != 0 || src.num_layers > 65535) {
    return cudaErrorInvalidValue;
  }
  CopyArgs a{};
  a.src_k = static_cast<const uint4*>(src.k);
  a.src_v = static_cast<const uint4*>(src.v);
  a.dst_k = static_cast<uint4*>(dst.k);
  a.dst_v = static_cast<uint4*>(dst.v);
  a.copies = copies;
  a.block_vecs = block_bytes / 16;
  a.src_layer_vecs = a.block_vecs * src.num_blocks;
  a.dst_layer_vecs = a.block_vecs * dst.num_blocks;
  copy_blocks_kernel<<<dim3(static_cast<unsigned>(num_copies),
                            static_cast<unsigned>(src.num_layers), 2),
                       kCopyThreads, 0, stream>>>(a);
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

cudaError_t fp8_bits_of_floats(DType t, uint32_t first, int64_t count, uint8_t* out,
                               cudaStream_t stream) {
  if (!is_fp8(t) || count < 0) return cudaErrorInvalidValue;
  if (count == 0) return cudaSuccess;
  if (t == DType::kFp8E4M3) {
    fp8_bits_kernel<__nv_fp8_e4m3><<<1024, 256, 0, stream>>>(first, count, out);
  } else {
    fp8_bits_kernel<__nv_fp8_e5m2><<<1024, 256, 0, stream>>>(first, count, out);
  }
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

cudaError_t synthesize_rows(const SyntheticRows& rows, cudaStream_t stream) {
  if (rows.count == 0) return cudaSuccess;
  const int threads = 128;
  switch (rows.dtype) {
    case DType::kF32:
      synthesize_kernel<float><<<rows.count, threads, 0, stream>>>(rows);
      break;
    case DType::kF16:
      synthesize_kernel<__half><<<rows.count, threads, 0, stream>>>(rows);
      break;
    case DType::kBF16:
      synthesize_kernel<__nv_bfloat16><<<rows.count, threads, 0, stream>>>(rows);
      break;
    case DType::kFp8E4M3:
    case DType::kFp8E5M2:
      return cudaErrorNotSupported;  // KvGeometry::validate refuses fp8 pools
  }
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

}  // namespace tinyserve::gpu
