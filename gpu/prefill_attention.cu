// Paged prefill attention: the host plan (work items, split-KV), the simt kernel, the merge of
// split partials, and the dispatch to the tensor-core kernels (prefill_mma.cuh, and
// prefill_wgmma_sm90.cu when built for sm_90a).
#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>

#include "gpu/cuda_check.h"
#include "gpu/dtype.cuh"
#include "gpu/prefill_attention.h"
#include "gpu/prefill_common.cuh"
#include "gpu/prefill_mma.cuh"
#ifdef TINYSERVE_HAVE_SM90A
#include "gpu/prefill_wgmma.h"
#endif

namespace tinyserve::gpu {

using prefill::Args;

namespace {

struct DeviceProps {
  int major = 0;
  int minor = 0;
  int sms = 0;
};

const DeviceProps& device_props() {
  static const DeviceProps props = [] {
    DeviceProps p;
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&p.major, cudaDevAttrComputeCapabilityMajor, device) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&p.minor, cudaDevAttrComputeCapabilityMinor, device) !=
            cudaSuccess ||
        cudaDeviceGetAttribute(&p.sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      cudaGetLastError();
      return DeviceProps{};
    }
    return p;
  }();
  return props;
}

// A pool element as float (fp8: the element, unscaled; exact).
template <typename TC>
__device__ __forceinline__ float element_to_float(TC x) {
  if constexpr (kIsFp8<TC>) {
    return static_cast<float>(x);
  } else {
    return to_float(x);
  }
}

// The simt kernel: one warp per (query, head), lanes split the head dim, keys one at a time
// with an online softmax. fp32 pools (no tensor cores at full precision) and the fallback.
// TC: the pool's element type; q and out are QueryT<TC> (fp16 for fp8 pools, whose K scale goes
// into the score scale and V scale into the output's normalisation).
template <typename TC, int D>
__global__ void __launch_bounds__(128) prefill_simt_kernel(const Args a, int batch) {
  using T = QueryT<TC>;
  constexpr int E = D / 32;
  const int w = static_cast<int>(blockIdx.x) * 4 + static_cast<int>(threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (w >= a.num_queries * a.num_heads) return;
  const int query = w / a.num_heads;
  const int head = w - query * a.num_heads;
  int lo = 0;  // the entry: the last b with query_start[b] <= query
  int hi = batch;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (a.query_start[mid] <= query) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const int q0 = a.query_start[lo];
  const int count = a.query_start[lo + 1] - q0;
  const int pos = a.context_lens[lo] - count + (query - q0);
  const int kv_head = head / a.group;
  const int32_t* table = a.block_tables + static_cast<int64_t>(lo) * a.max_blocks_per_seq;
  const TC* k_head = static_cast<const TC*>(a.k) + kv_head * a.head_stride;
  const TC* v_head = static_cast<const TC*>(a.v) + kv_head * a.head_stride;
  const float score_scale = kIsFp8<TC> ? a.scale_log2 * a.k_scale_of(kv_head) : a.scale_log2;
  const float v_scale = kIsFp8<TC> ? a.v_scale_of(kv_head) : 1.0f;
  const int mask = (1 << a.block_shift) - 1;
  const T* qp = static_cast<const T*>(a.q) + (static_cast<int64_t>(query) * a.num_heads + head) * D;
  float q[E], acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) {
    q[e] = to_float(qp[lane + 32 * e]);
    acc[e] = 0.0f;
  }
  float m = -INFINITY;
  float l = 0.0f;
  for (int key = 0; key <= pos; ++key) {
    const int64_t row =
        table[key >> a.block_shift] * a.block_stride + static_cast<int64_t>(key & mask) * D;
    float dot = 0.0f;
#pragma unroll
    for (int e = 0; e < E; ++e) dot += q[e] * element_to_float(k_head[row + lane + 32 * e]);
#pragma unroll
    for (int x = 16; x > 0; x >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, x);
    const float s = dot * score_scale;
    const float m_new = fmaxf(m, s);
    const float alpha = exp2f(m - m_new);
    const float p = exp2f(s - m_new);
    l = l * alpha + p;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      acc[e] = acc[e] * alpha + p * element_to_float(v_head[row + lane + 32 * e]);
    }
    m = m_new;
  }
  T* op = static_cast<T*>(a.out) + (static_cast<int64_t>(query) * a.num_heads + head) * D;
#pragma unroll
  for (int e = 0; e < E; ++e) op[lane + 32 * e] = from_float<T>(acc[e] * v_scale / l);
}

// Merges the split partials of each merged query: one CTA per query, every head. T: the
// output's type.
template <typename T, int D>
__global__ void __launch_bounds__(128) prefill_merge_kernel(const Args a) {
  const int4 r = __ldg(reinterpret_cast<const int4*>(a.merge) + blockIdx.x);
  const int query = r.x, first = r.y, stride = r.z, splits = r.w;
  for (int i = threadIdx.x; i < a.num_heads * D; i += blockDim.x) {
    const int h = i / D;
    const int d = i - h * D;
    float mx = -INFINITY;
    for (int s = 0; s < splits; ++s) {
      mx = fmaxf(mx, a.part_ml[(static_cast<int64_t>(first + s * stride) * a.num_heads + h) * 2]);
    }
    float sum = 0.0f;
    float o = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const int64_t row = static_cast<int64_t>(first + s * stride) * a.num_heads + h;
      const float m = a.part_ml[2 * row];
      const float w = m == -INFINITY ? 0.0f : exp2f(m - mx) * a.part_ml[2 * row + 1];
      sum += w;
      o = fmaf(w, a.part_out[row * D + d], o);
    }
    static_cast<T*>(a.out)[(static_cast<int64_t>(query) * a.num_heads + h) * D + d] =
        from_float<T>(o / sum);
  }
}

template <typename T>
struct TypeTag {
  using type = T;
};

// fn(TypeTag<pool element type>).
template <typename Fn>
cudaError_t by_dtype(DType dtype, Fn fn) {
  switch (dtype) {
    case DType::kF32:
      return fn(TypeTag<float>{});
    case DType::kF16:
      return fn(TypeTag<__half>{});
    case DType::kBF16:
      return fn(TypeTag<__nv_bfloat16>{});
    case DType::kFp8E4M3:
      return fn(TypeTag<__nv_fp8_e4m3>{});
    case DType::kFp8E5M2:
      return fn(TypeTag<__nv_fp8_e5m2>{});
  }
  return cudaErrorNotSupported;
}

template <typename Fn>
cudaError_t by_head_dim(int head_dim, Fn fn) {
  switch (head_dim) {
    case 64:
      return fn(std::integral_constant<int, 64>{});
    case 128:
      return fn(std::integral_constant<int, 128>{});
    case 256:
      return fn(std::integral_constant<int, 256>{});
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename TC, int D>
cudaError_t launch_mma(const Args& a, int grid, cudaStream_t stream) {
  constexpr int kSmem = prefill::MmaShape<D>::kSmemBytes;
  static const cudaError_t configured = cudaFuncSetAttribute(
      prefill::prefill_mma_kernel<TC, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  TS_CUDA_TRY(configured);
  prefill::prefill_mma_kernel<TC, D><<<grid, 128, kSmem, stream>>>(a);
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

int tile_rows(PrefillKernel k) {
#ifdef TINYSERVE_HAVE_SM90A
  if (k == PrefillKernel::kWgmma) return prefill::wgmma_tile_rows();
#endif
  return k == PrefillKernel::kMma ? prefill::MmaShape<128>::kRows : 0;
}

int kv_tile(PrefillKernel k, int head_dim) {
#ifdef TINYSERVE_HAVE_SM90A
  if (k == PrefillKernel::kWgmma) return prefill::wgmma_kv_tile(head_dim);
#endif
  (void)head_dim;
  return k == PrefillKernel::kMma ? prefill::MmaShape<128>::kKv : 0;
}

// Resident CTAs per SM the split choice assumes.
int ctas_per_sm(PrefillKernel k, int head_dim) {
  if (k == PrefillKernel::kMma) return head_dim <= 128 ? 2 : 1;
  return 1;
}

}  // namespace

std::string_view prefill_kernel_name(PrefillKernel kernel) {
  switch (kernel) {
    case PrefillKernel::kAuto:
      return "auto";
    case PrefillKernel::kSimt:
      return "simt";
    case PrefillKernel::kMma:
      return "mma";
    case PrefillKernel::kWgmma:
      return "wgmma";
  }
  return "?";
}

bool prefill_kernel_available(PrefillKernel kernel, DType dtype) {
  // fp8 pools run on the tensor cores as fp16 (their elements converted exactly).
  const bool tensor_dtype = dtype == DType::kF16 || dtype == DType::kBF16 || is_fp8(dtype);
  switch (kernel) {
    case PrefillKernel::kSimt:
      return dtype == DType::kF32 || tensor_dtype;
    case PrefillKernel::kMma:
      return tensor_dtype && device_props().major >= 8;
    case PrefillKernel::kWgmma:
#ifdef TINYSERVE_HAVE_SM90A
      return tensor_dtype && device_props().major == 9 && device_props().minor == 0;
#else
      return false;
#endif
    case PrefillKernel::kAuto:
      return true;
  }
  return false;
}

PrefillPlan plan_prefill(const PrefillShape& shape, const PrefillOptions& options) {
  PrefillPlan plan;
  PrefillKernel k = options.kernel;
  if (k == PrefillKernel::kAuto) k = PrefillKernel::kWgmma;
  if (k == PrefillKernel::kWgmma && !prefill_kernel_available(k, shape.dtype)) {
    k = PrefillKernel::kMma;
  }
  if (k == PrefillKernel::kMma && !prefill_kernel_available(k, shape.dtype)) {
    k = PrefillKernel::kSimt;
  }
  plan.kernel = k;
  plan.pingpong = options.pingpong;
  plan.prefetch_rows = options.prefetch_rows;
  const int32_t group = shape.num_heads / std::max(1, shape.num_kv_heads);
  for (int32_t b = 0; b < shape.batch; ++b) {
    const int64_t count = shape.query_start[b + 1] - shape.query_start[b];
    const int64_t prefix = shape.context_lens[b] - count;
    plan.attended_pairs += count * prefix + count * (count + 1) / 2;
  }
  const int32_t num_queries = shape.batch > 0 ? shape.query_start[shape.batch] : 0;
  if (k == PrefillKernel::kSimt) {
    plan.grid = static_cast<int32_t>((static_cast<int64_t>(num_queries) * shape.num_heads + 3) / 4);
    return plan;
  }
  const int32_t rows = tile_rows(k);
  const int32_t n = kv_tile(k, shape.head_dim);
  plan.tile_rows = rows;
  plan.kv_tile = n;

  struct Tile {
    int32_t entry, row0, kv_end;
  };
  std::vector<Tile> tiles;
  int32_t max_kv = 1;
  for (int32_t b = 0; b < shape.batch; ++b) {
    const int32_t count = shape.query_start[b + 1] - shape.query_start[b];
    const int32_t prefix = shape.context_lens[b] - count;
    const int32_t packed = count * group;
    for (int32_t row0 = 0; row0 < packed; row0 += rows) {
      const int32_t last = std::min(row0 + rows, packed) - 1;
      tiles.push_back({b, row0, prefix + last / group + 1});
      max_kv = std::max(max_kv, tiles.back().kv_end);
    }
  }
  const auto splits_of = [&](int32_t entry, int32_t chunk) {
    return chunk > 0 ? (shape.context_lens[entry] + chunk - 1) / chunk : 1;
  };
  const auto count_items = [&](int32_t chunk) {
    int64_t items = 0;
    for (const Tile& t : tiles) {
      items += splits_of(t.entry, chunk) > 1 ? (t.kv_end + chunk - 1) / chunk : 1;
    }
    return items;
  };

  // Split only while the unsplit items would leave CTA slots idle: among chunks of n * 2^i
  // tokens, the least waves x (the longest item + two tiles of fixed cost).
  const int64_t slots = std::max(1, device_props().sms) * ctas_per_sm(k, shape.head_dim);
  int32_t chunk = 0;
  if (options.kv_chunk > 0) {
    chunk = (options.kv_chunk + n - 1) / n * n;
  } else if (options.kv_chunk == 0 &&
             static_cast<int64_t>(tiles.size()) * shape.num_kv_heads < slots) {
    const auto cost = [&](int32_t c) {
      const int64_t ctas = count_items(c) * shape.num_kv_heads;
      return (ctas + slots - 1) / slots * (std::min(c > 0 ? c : max_kv, max_kv) + 2 * n);
    };
    int64_t best = cost(0);
    for (int32_t c = n; c < max_kv; c *= 2) {
      if (const int64_t x = cost(c); x < best) {
        best = x;
        chunk = c;
      }
    }
  }
  bool any_split = false;
  for (int32_t b = 0; b < shape.batch && chunk > 0; ++b) any_split |= splits_of(b, chunk) > 1;
  if (!any_split) chunk = 0;
  plan.kv_chunk = chunk;

  // Items (longest KV range first) and, for split entries, the merge rows of their queries.
  std::vector<int32_t> part_base(static_cast<size_t>(shape.batch), -1);
  int64_t parts = 0;
  std::vector<int32_t> merge;
  for (int32_t b = 0; b < shape.batch; ++b) {
    if (splits_of(b, chunk) <= 1) continue;
    const int32_t count = shape.query_start[b + 1] - shape.query_start[b];
    const int32_t prefix = shape.context_lens[b] - count;
    part_base[b] = static_cast<int32_t>(parts);
    for (int32_t j = 0; j < count; ++j) {
      merge.insert(merge.end(), {shape.query_start[b] + j, part_base[b] + j, count,
                                 (prefix + j + chunk) / chunk});
    }
    parts += static_cast<int64_t>(count) * splits_of(b, chunk);
  }
  std::vector<std::array<int32_t, prefill::kItemInts>> items;
  for (const Tile& t : tiles) {
    if (part_base[t.entry] < 0) {
      items.push_back({t.entry, t.row0, 0, t.kv_end, -1, 0, 0, 0});
      continue;
    }
    const int32_t count = shape.query_start[t.entry + 1] - shape.query_start[t.entry];
    for (int32_t s = 0; s * chunk < t.kv_end; ++s) {
      items.push_back({t.entry, t.row0, s * chunk, std::min((s + 1) * chunk, t.kv_end),
                       part_base[t.entry] + s * count, 0, 0, 0});
    }
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& x, const auto& y) { return x[3] - x[2] > y[3] - y[2]; });
  plan.num_items = static_cast<int32_t>(items.size());
  plan.num_merged = static_cast<int32_t>(merge.size() / prefill::kMergeInts);
  plan.index.reserve(items.size() * prefill::kItemInts + merge.size());
  for (const auto& item : items) plan.index.insert(plan.index.end(), item.begin(), item.end());
  plan.index.insert(plan.index.end(), merge.begin(), merge.end());
  plan.workspace_bytes = sizeof(float) * static_cast<size_t>(parts) * shape.num_heads *
                         (static_cast<size_t>(shape.head_dim) + 2);
  const int64_t ctas = static_cast<int64_t>(plan.num_items) * shape.num_kv_heads;
  plan.grid = static_cast<int32_t>(
      k == PrefillKernel::kWgmma ? std::min<int64_t>(ctas, std::max(1, device_props().sms)) : ctas);
  return plan;
}

cudaError_t prefill_attention(const PrefillPlan& plan, const int32_t* device_index,
                              const PagedKv& cache, const PrefillBatch& batch, void* workspace,
                              cudaStream_t stream) {
  if (batch.batch == 0 || batch.num_queries == 0) return cudaSuccess;
  if (cache.num_layers != 1 || batch.num_heads % cache.num_kv_heads != 0 ||
      (plan.kernel != PrefillKernel::kSimt && device_index == nullptr && plan.num_items > 0) ||
      (plan.workspace_bytes > 0 && workspace == nullptr)) {
    return cudaErrorInvalidValue;
  }
  Args a{};
  a.q = batch.q;
  a.out = batch.out;
  a.k = cache.k;
  a.v = cache.v;
  a.query_start = batch.query_start;
  a.context_lens = batch.context_lens;
  a.block_tables = batch.block_tables;
  a.items = device_index;
  a.merge = device_index + static_cast<size_t>(plan.num_items) * prefill::kItemInts;
  if (plan.workspace_bytes > 0) {
    a.part_out = static_cast<float*>(workspace);
    a.part_ml = a.part_out + plan.workspace_bytes / sizeof(float) /
                                 (static_cast<size_t>(cache.head_dim) + 2) * cache.head_dim;
  }
  a.block_stride = cache.block_elements();
  a.head_stride = static_cast<int64_t>(cache.block_size) * cache.head_dim;
  a.num_heads = batch.num_heads;
  a.num_kv_heads = cache.num_kv_heads;
  a.group = batch.num_heads / cache.num_kv_heads;
  a.block_shift = 0;
  while ((1 << a.block_shift) < cache.block_size) ++a.block_shift;
  if ((1 << a.block_shift) != cache.block_size) return cudaErrorInvalidValue;
  a.max_blocks_per_seq = batch.max_blocks_per_seq;
  a.num_items = plan.num_items;
  a.num_queries = batch.num_queries;
  a.pingpong = plan.pingpong ? 1 : 0;
  a.prefetch_rows = plan.prefetch_rows ? 1 : 0;
  a.scale_log2 = batch.scale * 1.4426950408889634f;
  a.k_scale = cache.scales.k;
  a.v_scale = cache.scales.v;
  a.k_head_scales = cache.scales.k_heads;
  a.v_head_scales = cache.scales.v_heads;

  if (plan.kernel == PrefillKernel::kSimt) {
    const int grid =
        static_cast<int>((static_cast<int64_t>(batch.num_queries) * batch.num_heads + 3) / 4);
    return by_dtype(cache.dtype, [&](auto tag) {
      using TC = typename decltype(tag)::type;
      return by_head_dim(cache.head_dim, [&](auto d) -> cudaError_t {
        constexpr int D = decltype(d)::value;
        prefill_simt_kernel<TC, D><<<grid, 128, 0, stream>>>(a, batch.batch);
        TS_CUDA_TRY_LAUNCH();
        return cudaSuccess;
      });
    });
  }
  if (cache.dtype == DType::kF32) return cudaErrorNotSupported;
  if (plan.num_items > 0) {
    if (plan.kernel == PrefillKernel::kWgmma) {
#ifdef TINYSERVE_HAVE_SM90A
      TS_CUDA_TRY(prefill::launch_wgmma(a, cache.dtype, cache.head_dim, plan.grid, stream));
#else
      return cudaErrorNotSupported;
#endif
    } else {
      TS_CUDA_TRY(by_dtype(cache.dtype, [&](auto tag) -> cudaError_t {
        using TC = typename decltype(tag)::type;
        if constexpr (std::is_same_v<TC, float>) {
          return cudaErrorNotSupported;
        } else {
          return by_head_dim(cache.head_dim, [&](auto d) {
            return launch_mma<TC, decltype(d)::value>(a, plan.grid, stream);
          });
        }
      }));
    }
  }
  if (plan.num_merged > 0) {
    TS_CUDA_TRY(by_dtype(cache.dtype, [&](auto tag) -> cudaError_t {
      using T = QueryT<typename decltype(tag)::type>;
      if constexpr (std::is_same_v<T, float>) {
        return cudaErrorNotSupported;
      } else {
        return by_head_dim(cache.head_dim, [&](auto d) -> cudaError_t {
          prefill_merge_kernel<T, decltype(d)::value><<<plan.num_merged, 128, 0, stream>>>(a);
          TS_CUDA_TRY_LAUNCH();
          return cudaSuccess;
        });
      }
    }));
  }
  return cudaSuccess;
}

}  // namespace tinyserve::gpu
