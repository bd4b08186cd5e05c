// Decode attention: the seed's first two kernels (v1, v2), the split planning, and the dispatch
// of every version over dtypes. The vectorised kernels (v3, v4, v5) live in decode_v3_v4.cuh.
#include <algorithm>
#include <cmath>

#include "gpu/cuda_check.h"
#include "gpu/decode_attention.h"
#include "gpu/decode_v3_v4.cuh"
#include "gpu/decode_v6.cuh"
#include "gpu/dtype.cuh"

namespace tinyserve::gpu {

namespace fast {
extern template cudaError_t launch<float>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__half>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_bfloat16>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_fp8_e4m3>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_fp8_e5m2>(const Launch&, cudaStream_t);
}  // namespace fast

namespace v6 {
extern template cudaError_t launch<__half>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_bfloat16>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_fp8_e4m3>(const Launch&, cudaStream_t);
extern template cudaError_t launch<__nv_fp8_e5m2>(const Launch&, cudaStream_t);
}  // namespace v6

namespace {

inline constexpr int kMaxHeadDim = 256;

struct BasicArgs {
  const void* k;                // [num_blocks, num_kv_heads, block_size, head_dim]
  const void* v;                // likewise
  const void* q;                // [batch, num_heads, head_dim]
  void* out;                    // [batch, num_heads, head_dim]
  const int32_t* block_tables;  // [batch, max_blocks_per_seq]
  const int32_t* context_lens;  // [batch]
  int32_t batch, num_heads, num_kv_heads, group, head_dim, block_size, max_blocks_per_seq;
  float scale;
};

__device__ __forceinline__ int64_t row_offset(const BasicArgs& a, const int32_t* table, int t,
                                              int kv_head) {
  const int64_t block = table[t / a.block_size];
  return ((block * a.num_kv_heads + kv_head) * a.block_size + t % a.block_size) * a.head_dim;
}

// v1: one thread per (sequence, head) walks the whole context with scalar loads.
template <typename T>
__global__ void attention_v1(const BasicArgs a) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= a.batch * a.num_heads) return;
  const int b = idx / a.num_heads;
  const int kv_head = (idx % a.num_heads) / a.group;
  const T* q = static_cast<const T*>(a.q) + static_cast<int64_t>(idx) * a.head_dim;
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  float acc[kMaxHeadDim];
  for (int d = 0; d < a.head_dim; ++d) acc[d] = 0.0f;
  float m = -INFINITY;
  float l = 0.0f;
  for (int t = 0; t < a.context_lens[b]; ++t) {
    const int64_t row = row_offset(a, table, t, kv_head);
    const T* k = static_cast<const T*>(a.k) + row;
    const T* v = static_cast<const T*>(a.v) + row;
    float s = 0.0f;
    for (int d = 0; d < a.head_dim; ++d) s += to_float(q[d]) * to_float(k[d]);
    s *= a.scale;
    const float m_new = fmaxf(m, s);
    const float alpha = expf(m - m_new);
    const float p = expf(s - m_new);
    l = l * alpha + p;
    for (int d = 0; d < a.head_dim; ++d) acc[d] = acc[d] * alpha + p * to_float(v[d]);
    m = m_new;
  }
  T* out = static_cast<T*>(a.out) + static_cast<int64_t>(idx) * a.head_dim;
  for (int d = 0; d < a.head_dim; ++d) out[d] = from_float<T>(acc[d] / l);
}

inline constexpr int kV2Threads = 128;
inline constexpr int kV2Chunk = 1024;

// Tree reduction through shared memory; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float x, float* scratch) {
  scratch[threadIdx.x] = x;
  __syncthreads();
  for (int stride = kV2Threads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      const float y = scratch[threadIdx.x + stride];
      scratch[threadIdx.x] = kMax ? fmaxf(scratch[threadIdx.x], y) : scratch[threadIdx.x] + y;
    }
    __syncthreads();
  }
  const float result = scratch[0];
  __syncthreads();
  return result;
}

// v2: one CTA per (sequence, head). Per chunk of the context, each thread scores whole tokens,
// shared-memory reductions give the chunk's max and sum, then each thread accumulates one or two
// output dims over the chunk.
template <typename T>
__global__ void __launch_bounds__(kV2Threads) attention_v2(const BasicArgs a) {
  __shared__ float q_s[kMaxHeadDim];
  __shared__ float scores[kV2Chunk];
  __shared__ float scratch[kV2Threads];
  const int head = blockIdx.x;
  const int b = blockIdx.y;
  const int kv_head = head / a.group;
  const int64_t qo = (static_cast<int64_t>(b) * a.num_heads + head) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += kV2Threads) {
    q_s[d] = to_float(static_cast<const T*>(a.q)[qo + d]) * a.scale;
  }
  __syncthreads();
  const int32_t* table = a.block_tables + static_cast<int64_t>(b) * a.max_blocks_per_seq;
  const int len = a.context_lens[b];
  const int d0 = threadIdx.x;
  const int d1 = threadIdx.x + kV2Threads;
  float acc0 = 0.0f;
  float acc1 = 0.0f;
  float m = -INFINITY;
  float l = 0.0f;
  for (int c0 = 0; c0 < len; c0 += kV2Chunk) {
    const int n = min(kV2Chunk, len - c0);
    float local = -INFINITY;
    for (int i = threadIdx.x; i < n; i += kV2Threads) {
      const T* k = static_cast<const T*>(a.k) + row_offset(a, table, c0 + i, kv_head);
      float s = 0.0f;
      for (int d = 0; d < a.head_dim; ++d) s += q_s[d] * to_float(k[d]);
      scores[i] = s;
      local = fmaxf(local, s);
    }
    const float m_new = fmaxf(m, block_reduce<true>(local, scratch));
    float local_sum = 0.0f;
    for (int i = threadIdx.x; i < n; i += kV2Threads) {
      scores[i] = expf(scores[i] - m_new);
      local_sum += scores[i];
    }
    const float chunk_sum = block_reduce<false>(local_sum, scratch);  // also orders scores[]
    const float alpha = expf(m - m_new);
    l = l * alpha + chunk_sum;
    acc0 *= alpha;
    acc1 *= alpha;
    for (int i = 0; i < n; ++i) {
      const T* v = static_cast<const T*>(a.v) + row_offset(a, table, c0 + i, kv_head);
      if (d0 < a.head_dim) acc0 += scores[i] * to_float(v[d0]);
      if (d1 < a.head_dim) acc1 += scores[i] * to_float(v[d1]);
    }
    m = m_new;
    __syncthreads();
  }
  T* out = static_cast<T*>(a.out) + qo;
  if (d0 < a.head_dim) out[d0] = from_float<T>(acc0 / l);
  if (d1 < a.head_dim) out[d1] = from_float<T>(acc1 / l);
}

template <typename T>
cudaError_t launch_basic(KernelVersion version, const BasicArgs& a, cudaStream_t stream) {
  if (version == KernelVersion::kV1) {
    const int threads = 128;
    const int blocks = (a.batch * a.num_heads + threads - 1) / threads;
    attention_v1<T><<<blocks, threads, 0, stream>>>(a);
  } else {
    attention_v2<T><<<dim3(a.num_heads, a.batch), kV2Threads, 0, stream>>>(a);
  }
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

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
      return fn(__nv_fp8_e4m3{});
    case DType::kFp8E5M2:
      return fn(__nv_fp8_e5m2{});
  }
  return cudaErrorInvalidValue;
}

int multiprocessors() {
  static const int count = [] {
    int device = 0;
    int n = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      cudaGetLastError();
      return 132;
    }
    return n;
  }();
  return count;
}

// Tokens per partition.
// v4 (CUDA cores, ~6 resident CTAs per SM): 512, small enough that the last wave of CTAs is
// short, large enough that each CTA's prologue and merge stay a few percent of its work; halved
// down to 128 while the grid would give fewer than 16 CTAs per SM.
// v5's tensor-core kernel (2 resident CTAs per SM, fixed by its launch bounds) pays more per CTA,
// so it weighs the waves of CTAs against their length: the power of two in [256, 8192] with the
// least ceil(ctas / slots) * (partition * bytes per element + 512), where 512 bytes per head
// dim (256 fp16 tokens) stand for a CTA's fixed cost; fp8 tokens weigh half as much
// (fitted to the H200 sweeps in docs/kernel_notes.md). CTAs are counted from the host's context
// lengths when given, else from max_len for every sequence.
int32_t auto_partition(bool tensor_cores, int32_t elem_bytes, int64_t num_kv_heads,
                       const DecodeBatch& batch, int32_t max_len,
                       const int32_t* host_context_lens) {
  const auto ctas = [&](int32_t part) {
    if (host_context_lens == nullptr) {
      return num_kv_heads * batch.batch * ((max_len + part - 1) / part);
    }
    int64_t n = 0;
    for (int32_t b = 0; b < batch.batch; ++b) n += (host_context_lens[b] + part - 1) / part;
    return num_kv_heads * n;
  };
  if (tensor_cores) {
    const int64_t slots = 2LL * multiprocessors();
    int32_t best = 8192;
    int64_t best_cost = -1;
    for (int32_t part = 8192; part >= 256; part /= 2) {
      // A CTA's time: its bytes (an fp8 token is half an fp16 one) plus the fixed cost.
      const int64_t cost = (ctas(part) + slots - 1) / slots * (part * elem_bytes + 512);
      if (best_cost < 0 || cost < best_cost) {
        best = part;
        best_cost = cost;
      }
    }
    return best;
  }
  const int64_t target = 16LL * multiprocessors();
  int32_t part = 512;
  while (part > 128 && ctas(part) < target) part /= 2;
  return part;
}

fast::Args fast_args(const AttentionPlan& plan, const DecodeBatch& batch, int32_t num_kv_heads,
                     DType dtype, const KvScales& scales, void* workspace) {
  fast::Args a{};
  a.k_scale = 1.0f;
  a.v_scale = 1.0f;
  if (is_fp8(dtype)) {
    a.k_scale = scales.k;
    a.v_scale = scales.v;
    a.k_head_scales = scales.k_heads;
    a.v_head_scales = scales.v_heads;
  }
  a.q = batch.q;
  a.out = batch.out;
  a.block_tables = batch.block_tables;
  a.context_lens = batch.context_lens;
  a.num_heads = batch.num_heads;
  a.group = batch.num_heads / num_kv_heads;
  a.max_blocks_per_seq = batch.max_blocks_per_seq;
  a.partition = plan.partition_tokens;
  a.max_splits = plan.max_splits;
  if (plan.max_splits > 1) {
    a.part_out = static_cast<float*>(workspace);
    a.part_ml = a.part_out + plan.workspace_bytes / sizeof(float) -
                static_cast<size_t>(2) * batch.batch * batch.num_heads * plan.max_splits;
  }
  a.scale_log2 = batch.scale * 1.4426950408889634f;
  return a;
}

size_t align256(size_t n) {
  return (n + 255) & ~size_t{255};
}

// v6's resident CTAs per SM for a dtype and head dim (what one wave of warps is).
int32_t v6_ctas_per_sm(DType dtype, int32_t head_dim) {
  int ctas = 0;
  const cudaError_t err = by_dtype(dtype, [&](auto t) {
    if constexpr (std::is_same_v<decltype(t), float>) {
      return cudaErrorNotSupported;
    } else {
      v6::Launch l{};
      l.head_dim = head_dim;
      l.paged = true;
      l.occupancy = &ctas;
      return v6::launch<decltype(t)>(l, nullptr);
    }
  });
  if (err != cudaSuccess) {
    cudaGetLastError();
    return 2;
  }
  return std::max(ctas, 1);
}

bool plan_fits(const AttentionPlan& plan, const DecodeBatch& batch, bool has_workspace) {
  return plan.partition_tokens >= 1 && batch.max_context_len >= 1 &&
         static_cast<int64_t>(plan.partition_tokens) * plan.max_splits >= batch.max_context_len &&
         (plan.max_splits == 1 || has_workspace);
}

}  // namespace

bool v6_runs(DType dtype, int32_t head_dim) {
  return dtype != DType::kF32 && head_dim <= 128;
}

bool uses_tensor_cores(KernelVersion version, DType dtype, int32_t head_dim, int32_t group) {
  return version == KernelVersion::kV5 && dtype != DType::kF32 && head_dim <= 128 && group >= 2 &&
         group <= 8;
}

AttentionPlan plan_attention(KernelVersion version, DType dtype, const DecodeBatch& batch,
                             int32_t num_kv_heads, int32_t head_dim,
                             const AttentionOptions& options) {
  AttentionPlan plan;
  plan.version = version;
  const int32_t max_len = std::max(1, batch.max_context_len);
  plan.partition_tokens = max_len;
  if (version == KernelVersion::kV6 && !v6_runs(dtype, head_dim)) {
    version = plan.version = KernelVersion::kV4;
  }
  if (version == KernelVersion::kV6) {
    const int32_t tile = is_fp8(dtype) ? 32 : 16;
    const int32_t warps =
        options.v6_warps > 0
            ? options.v6_warps
            : v6::default_v6_warps(v6_ctas_per_sm(dtype, head_dim), multiprocessors());
    plan.work = v6::build_work_list(options.host_context_lens, std::max(1, batch.batch), max_len,
                                    std::max(1, num_kv_heads), tile, warps, options.v6_item_cost);
    const size_t group = static_cast<size_t>(batch.num_heads / std::max(1, num_kv_heads));
    plan.workspace_bytes = align256(plan.work.image_bytes()) +
                           align256(sizeof(float) * 2 * plan.work.num_parts * group) +
                           sizeof(float) * plan.work.num_parts * group * head_dim;
    return plan;
  }
  if (version != KernelVersion::kV4 && version != KernelVersion::kV5) return plan;
  int32_t part = options.partition_tokens;
  if (part <= 0) {
    const bool tc =
        uses_tensor_cores(version, dtype, head_dim, batch.num_heads / std::max(1, num_kv_heads));
    part = auto_partition(tc, dtype_size(dtype), num_kv_heads, batch, max_len,
                          options.host_context_lens);
  }
  if (part >= max_len) return plan;
  plan.partition_tokens = part;
  plan.max_splits = (max_len + part - 1) / part;
  plan.workspace_bytes = sizeof(float) * static_cast<size_t>(batch.batch) * batch.num_heads *
                         plan.max_splits * (static_cast<size_t>(head_dim) + 2);
  return plan;
}

namespace {

cudaError_t launch_paged(const AttentionPlan& plan, const PagedKv& cache, const DecodeBatch& batch,
                         void* workspace, cudaStream_t stream, int* occupancy);

}  // namespace

cudaError_t stage_attention_plan(const AttentionPlan& plan, void* workspace, cudaStream_t stream) {
  if (plan.version != KernelVersion::kV6 || plan.work.image.empty()) return cudaSuccess;
  if (workspace == nullptr) return cudaErrorInvalidValue;
  return cudaMemcpyAsync(workspace, plan.work.image.data(), plan.work.image_bytes(),
                         cudaMemcpyHostToDevice, stream);
}

cudaError_t paged_attention(const AttentionPlan& plan, const PagedKv& cache,
                            const DecodeBatch& batch, void* workspace, cudaStream_t stream) {
  return launch_paged(plan, cache, batch, workspace, stream, nullptr);
}

int32_t attention_ctas_per_sm(const AttentionPlan& plan, const PagedKv& cache,
                              const DecodeBatch& batch) {
  int ctas = 0;
  if (launch_paged(plan, cache, batch, nullptr, nullptr, &ctas) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return ctas;
}

namespace {

// v6's arguments for a plan, a batch and a workspace (staged); the layout's fields are the
// caller's.
v6::Args v6_args(const AttentionPlan& plan, const DecodeBatch& batch, int32_t num_kv_heads,
                 DType dtype, const KvScales& scales, void* workspace) {
  const v6::WorkList& w = plan.work;
  v6::Args a{};
  a.q = batch.q;
  a.out = batch.out;
  a.block_tables = batch.block_tables;
  a.context_lens = batch.context_lens;
  auto* words = static_cast<int32_t*>(workspace);
  a.warp_begin = words + w.warp_begin_offset;
  a.warp_item = words + w.warp_item_offset;
  a.items = reinterpret_cast<const v6::WorkItem*>(words + w.items_offset);
  a.counters = words + w.counters_offset;
  const size_t group = static_cast<size_t>(batch.num_heads / num_kv_heads);
  a.part_ml = reinterpret_cast<float*>(static_cast<char*>(workspace) + align256(w.image_bytes()));
  a.part_out = reinterpret_cast<float*>(reinterpret_cast<char*>(a.part_ml) +
                                        align256(sizeof(float) * 2 * group * w.num_parts));
  a.table_head_stride = batch.table_head_stride;
  a.table_seq_stride = static_cast<int64_t>(batch.max_blocks_per_seq) *
                       (batch.table_head_stride > 0 ? num_kv_heads : 1);
  a.num_heads = batch.num_heads;
  a.group = batch.num_heads / num_kv_heads;
  a.num_warps = w.num_warps;
  a.scale_log2 = batch.scale * 1.4426950408889634f;
  a.k_scale = 1.0f;
  a.v_scale = 1.0f;
  if (is_fp8(dtype)) {
    a.k_scale = scales.k;
    a.v_scale = scales.v;
    a.k_head_scales = scales.k_heads;
    a.v_head_scales = scales.v_heads;
  }
  return a;
}

bool v6_plan_fits(const AttentionPlan& plan, const DecodeBatch& batch, int32_t num_kv_heads,
                  bool has_workspace) {
  return has_workspace && plan.work.num_items == batch.batch * num_kv_heads &&
         plan.work.num_warps >= 1;
}

cudaError_t launch_paged(const AttentionPlan& plan, const PagedKv& cache, const DecodeBatch& batch,
                         void* workspace, cudaStream_t stream, int* occupancy) {
  if (batch.batch == 0) return cudaSuccess;
  if (plan.version == KernelVersion::kV6) {
    if (!v6_plan_fits(plan, batch, cache.num_kv_heads,
                      occupancy != nullptr || workspace != nullptr) ||
        cache.num_layers != 1 || batch.num_heads % cache.num_kv_heads != 0 ||
        batch.num_heads / cache.num_kv_heads > 8 || !v6_runs(cache.dtype, cache.head_dim)) {
      return cudaErrorInvalidValue;
    }
    v6::Launch l{};
    l.occupancy = occupancy;
    l.head_dim = cache.head_dim;
    l.paged = true;
    if (occupancy == nullptr) {
      l.args = v6_args(plan, batch, cache.num_kv_heads, cache.dtype, cache.scales, workspace);
    }
    l.args.k = cache.k;
    l.args.v = cache.v;
    l.args.outer_stride = cache.block_elements();
    l.args.head_stride = static_cast<int64_t>(cache.block_size) * cache.head_dim;
    l.args.num_blocks = cache.num_blocks;
    while ((1 << l.args.block_shift) < cache.block_size) ++l.args.block_shift;
    if ((1 << l.args.block_shift) != cache.block_size) return cudaErrorInvalidValue;
    l.args.row_capacity = batch.max_blocks_per_seq << l.args.block_shift;
    return by_dtype(cache.dtype, [&](auto t) {
      if constexpr (std::is_same_v<decltype(t), float>) {
        return cudaErrorNotSupported;
      } else {
        return v6::launch<decltype(t)>(l, stream);
      }
    });
  }
  // An occupancy query launches nothing, so it needs no workspace.
  const bool has_workspace = occupancy != nullptr || workspace != nullptr;
  if (!plan_fits(plan, batch, has_workspace) || cache.num_layers != 1 ||
      batch.num_heads % cache.num_kv_heads != 0 || cache.head_dim > kMaxHeadDim) {
    return cudaErrorInvalidValue;
  }
  if (plan.version == KernelVersion::kV1 || plan.version == KernelVersion::kV2) {
    if (batch.table_head_stride != 0) return cudaErrorInvalidValue;  // one row per sequence
    if (is_fp8(cache.dtype)) return cudaErrorNotSupported;  // the seed's kernels read fp16/bf16/f32
    BasicArgs a{cache.k,
                cache.v,
                batch.q,
                batch.out,
                batch.block_tables,
                batch.context_lens,
                batch.batch,
                batch.num_heads,
                cache.num_kv_heads,
                batch.num_heads / cache.num_kv_heads,
                cache.head_dim,
                cache.block_size,
                batch.max_blocks_per_seq,
                batch.scale};
    if (occupancy != nullptr) return cudaSuccess;  // not reported for v1, v2
    return by_dtype(cache.dtype, [&](auto t) {
      if constexpr (kIsFp8<decltype(t)>) {
        return cudaErrorNotSupported;
      } else {
        return launch_basic<decltype(t)>(plan.version, a, stream);
      }
    });
  }
  fast::Launch l{};
  l.occupancy = occupancy;
  l.args = fast_args(plan, batch, cache.num_kv_heads, cache.dtype, cache.scales, workspace);
  l.args.k = cache.k;
  l.args.v = cache.v;
  l.args.outer_stride = cache.block_elements();
  l.args.head_stride = static_cast<int64_t>(cache.block_size) * cache.head_dim;
  l.args.num_blocks = cache.num_blocks;
  l.args.table_head_stride = batch.table_head_stride;
  l.args.table_seq_stride = static_cast<int64_t>(batch.max_blocks_per_seq) *
                            (batch.table_head_stride > 0 ? cache.num_kv_heads : 1);
  l.args.block_shift = 0;
  while ((1 << l.args.block_shift) < cache.block_size) ++l.args.block_shift;
  if ((1 << l.args.block_shift) != cache.block_size) return cudaErrorInvalidValue;
  l.head_dim = cache.head_dim;
  l.batch = batch.batch;
  l.num_kv_heads = cache.num_kv_heads;
  l.paged = true;
  l.grouped = plan.version == KernelVersion::kV4 || plan.version == KernelVersion::kV5;
  l.tensor_cores = plan.version == KernelVersion::kV5;
  return by_dtype(cache.dtype, [&](auto t) { return fast::launch<decltype(t)>(l, stream); });
}

}  // namespace

cudaError_t contiguous_attention(const AttentionPlan& plan, const ContiguousKv& cache,
                                 const DecodeBatch& batch, void* workspace, cudaStream_t stream) {
  if (batch.batch == 0) return cudaSuccess;
  if (plan.version == KernelVersion::kV6) {
    if (cache.read_padded) return cudaErrorNotSupported;
    if (!v6_plan_fits(plan, batch, cache.num_kv_heads, workspace != nullptr) ||
        batch.batch > cache.batch || batch.num_heads % cache.num_kv_heads != 0 ||
        batch.num_heads / cache.num_kv_heads > 8 || !v6_runs(cache.dtype, cache.head_dim)) {
      return cudaErrorInvalidValue;
    }
    v6::Launch l{};
    l.head_dim = cache.head_dim;
    l.paged = false;
    l.args = v6_args(plan, batch, cache.num_kv_heads, cache.dtype, cache.scales, workspace);
    l.args.k = cache.k;
    l.args.v = cache.v;
    l.args.head_stride = static_cast<int64_t>(cache.max_len) * cache.head_dim;
    l.args.outer_stride = l.args.head_stride * cache.num_kv_heads;
    l.args.row_capacity = cache.max_len;
    return by_dtype(cache.dtype, [&](auto t) {
      if constexpr (std::is_same_v<decltype(t), float>) {
        return cudaErrorNotSupported;
      } else {
        return v6::launch<decltype(t)>(l, stream);
      }
    });
  }
  if ((plan.version != KernelVersion::kV4 && plan.version != KernelVersion::kV5) ||
      !plan_fits(plan, batch, workspace != nullptr) || batch.batch > cache.batch ||
      batch.num_heads % cache.num_kv_heads != 0 ||
      (cache.read_padded && batch.max_context_len != cache.max_len)) {
    return cudaErrorInvalidValue;
  }
  fast::Launch l{};
  l.args = fast_args(plan, batch, cache.num_kv_heads, cache.dtype, cache.scales, workspace);
  l.args.k = cache.k;
  l.args.v = cache.v;
  l.args.head_stride = static_cast<int64_t>(cache.max_len) * cache.head_dim;
  l.args.outer_stride = l.args.head_stride * cache.num_kv_heads;
  l.args.padded_len = cache.read_padded ? cache.max_len : 0;
  l.args.row_capacity = cache.max_len;
  l.head_dim = cache.head_dim;
  l.batch = batch.batch;
  l.num_kv_heads = cache.num_kv_heads;
  l.paged = false;
  l.grouped = true;
  l.tensor_cores = plan.version == KernelVersion::kV5;
  return by_dtype(cache.dtype, [&](auto t) { return fast::launch<decltype(t)>(l, stream); });
}

}  // namespace tinyserve::gpu
