#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "gpu/cache_ops.h"
#include "gpu/cuda_check.h"
#include "gpu/decode_attention.h"
#include "gpu/device.h"
#include "gpu/dtype.cuh"
#include "gpu/tools/anchors.h"
#include "gpu/tools/device_memory.h"
#include "gpu/tools/kernel_bench.h"

namespace tinyserve::gpu {
namespace {

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Uniform values in [-1, 1) from a hash of (seed, index): fast, reproducible, never all zeros.
template <typename T>
__global__ void fill_random_kernel(T* p, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t x = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull));
    p[i] = from_float<T>(static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) *
                         (1.0f / 8388608.0f));
  }
}

void fill_random(void* p, DType t, int64_t n, uint64_t seed) {
  switch (t) {
    case DType::kF32:
      fill_random_kernel<<<1024, 256>>>(static_cast<float*>(p), n, seed);
      break;
    case DType::kF16:
      fill_random_kernel<<<1024, 256>>>(static_cast<__half*>(p), n, seed);
      break;
    case DType::kBF16:
      fill_random_kernel<<<1024, 256>>>(static_cast<__nv_bfloat16*>(p), n, seed);
      break;
    case DType::kFp8E4M3:
    case DType::kFp8E5M2:
      throw BenchError("fill_random: fp8 pools are quantized from fp16 ones (quantize_pool)");
  }
  TS_CUDA_CHECK(cudaGetLastError());
}

// dst[i] = fp8 of src[i] / scale (src fp16): the same data as an fp8 pool, as reshape_and_cache
// would have stored it.
template <typename T>
__global__ void quantize_kernel(const __half* src, uint8_t* dst, int64_t n, float scale) {
  for (int64_t i = 2 * (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x); i + 1 < n;
       i += 2 * static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint32_t bits =
        float2_to_fp8x2_bits<T>(__half2float(src[i]) / scale, __half2float(src[i + 1]) / scale);
    dst[i] = static_cast<uint8_t>(bits);
    dst[i + 1] = static_cast<uint8_t>(bits >> 8);
  }
}

void quantize_pool(const void* src, DType t, void* dst, int64_t n, float scale) {
  if (t == DType::kFp8E4M3) {
    quantize_kernel<__nv_fp8_e4m3>
        <<<1024, 256>>>(static_cast<const __half*>(src), static_cast<uint8_t*>(dst), n, scale);
  } else {
    quantize_kernel<__nv_fp8_e5m2>
        <<<1024, 256>>>(static_cast<const __half*>(src), static_cast<uint8_t*>(dst), n, scale);
  }
  TS_CUDA_CHECK(cudaGetLastError());
}

// Copies each sequence's K/V rows from the paged pool into the contiguous layout.
// grid: (kv head, sequence).
__global__ void gather_kernel(ContiguousKv dst, PagedKv src, const int32_t* tables,
                              const int32_t* lens, int32_t max_blocks) {
  const int h = blockIdx.x;
  const int b = blockIdx.y;
  const int row_vecs = src.head_dim * dtype_size(src.dtype) / 16;
  const int n = lens[b] * row_vecs;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int t = i / row_vecs;
    const int vec = i % row_vecs;
    const int64_t from =
        src.index(tables[static_cast<int64_t>(b) * max_blocks + t / src.block_size], h,
                  t % src.block_size, 0) *
        dtype_size(src.dtype) / 16;
    const int64_t to = dst.index(b, h, t, 0) * dtype_size(dst.dtype) / 16;
    static_cast<uint4*>(dst.k)[to + vec] = static_cast<const uint4*>(src.k)[from + vec];
    static_cast<uint4*>(dst.v)[to + vec] = static_cast<const uint4*>(src.v)[from + vec];
  }
}

// Reads n 16-byte vectors once, four in flight per thread: the read-only bandwidth ceiling.
__global__ void __launch_bounds__(256) read_kernel(const uint4* p, int64_t n, uint4* sink) {
  uint32_t acc = 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    uint4 x[4];
#pragma unroll
    for (int r = 0; r < 4; ++r) x[r] = __ldcs(p + i + r * stride);
#pragma unroll
    for (int r = 0; r < 4; ++r) acc ^= x[r].x ^ x[r].y ^ x[r].z ^ x[r].w;
  }
  for (; i < n; i += stride) {
    const uint4 x = __ldcs(p + i);
    acc ^= x.x ^ x.y ^ x.z ^ x.w;
  }
  if (acc == 0x9e3779b9u) sink[0] = make_uint4(acc, 0, 0, 0);  // keeps the loads
}

class Timer {
 public:
  explicit Timer(size_t flush_bytes) : flush_(flush_bytes) {
    TS_CUDA_CHECK(cudaEventCreate(&start_));
    TS_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }

  // Median milliseconds of `reps` timed runs after `warmup` untimed ones; L2 is overwritten
  // before every timed run so no run starts with its inputs cached.
  double median_ms(const std::function<cudaError_t()>& launch, int warmup, int reps) {
    for (int i = 0; i < warmup; ++i) TS_CUDA_CHECK(launch());
    TS_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> times;
    for (int i = 0; i < reps; ++i) {
      TS_CUDA_CHECK(cudaMemsetAsync(flush_.get(), i & 0xff, flush_.bytes()));
      TS_CUDA_CHECK(cudaEventRecord(start_));
      TS_CUDA_CHECK(launch());
      TS_CUDA_CHECK(cudaEventRecord(stop_));
      TS_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0.0f;
      TS_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const size_t n = times.size();
    return n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  }

  double once_ms(const std::function<cudaError_t()>& launch) { return median_ms(launch, 0, 1); }

 private:
  DeviceMemory flush_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

struct Row {
  std::string config;
  std::string kernel;
  double ms = 0.0;
  double gbps = 0.0;
  double percent = 0.0;  // of the copy bandwidth
  int reps = 0;
  std::string note;
};

struct Config {
  std::string name;
  int32_t batch, min_len, max_len, heads, kv_heads;
  int32_t head_dim = 128;
  int32_t block_size = 16;
  DType dtype = DType::kF16;
};

Config reference_config(const std::string& name) {
  if (name == "A") return {"A", 64, 1024, 4096, 32, 32};
  if (name == "B") return {"B", 64, 1024, 4096, 32, 8};
  if (name == "C") return {"C", 8, 32768, 32768, 32, 8};
  throw BenchError(cat("unknown configuration '", name, "' (A, B or C)"));
}

// A paged pool holding the batch's K/V in randomly scattered blocks (a quarter more blocks than
// needed, so the scatter covers a larger range than the data).
struct PagedSetup {
  DeviceMemory k, v, tables, lens, q, out;
  PagedKv cache;
  DecodeBatch batch;
  int64_t bytes = 0;  // K/V over the real lengths, plus q and out
  std::vector<int32_t> host_tables, host_lens;
};

PagedSetup make_paged(const Config& c, const std::vector<int32_t>& lens, int32_t block_size,
                      uint64_t seed) {
  PagedSetup s;
  const int32_t max_len = *std::max_element(lens.begin(), lens.end());
  const int32_t max_blocks = (max_len + block_size - 1) / block_size;
  int64_t needed = 0;
  for (int32_t len : lens) needed += (len + block_size - 1) / block_size;
  const auto num_blocks = static_cast<int32_t>(needed + needed / 4 + 8);
  Rng rng(seed);
  std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  std::vector<int32_t> tables(static_cast<size_t>(c.batch) * max_blocks, -1);
  size_t next = 0;
  for (int32_t b = 0; b < c.batch; ++b) {
    for (int32_t i = 0; i < (lens[b] + block_size - 1) / block_size; ++i) {
      tables[static_cast<size_t>(b) * max_blocks + i] = perm[next++];
    }
  }
  s.cache.dtype = c.dtype;
  s.cache.num_blocks = num_blocks;
  s.cache.num_kv_heads = c.kv_heads;
  s.cache.block_size = block_size;
  s.cache.head_dim = c.head_dim;
  const int64_t elems = s.cache.layer_elements();
  s.k = DeviceMemory(static_cast<size_t>(elems * dtype_size(c.dtype)));
  s.v = DeviceMemory(s.k.bytes());
  fill_random(s.k.get(), c.dtype, elems, seed * 3 + 1);
  fill_random(s.v.get(), c.dtype, elems, seed * 3 + 2);
  s.cache.k = s.k.get();
  s.cache.v = s.v.get();
  const int64_t q_elems = static_cast<int64_t>(c.batch) * c.heads * c.head_dim;
  s.q = DeviceMemory(static_cast<size_t>(q_elems * dtype_size(c.dtype)));
  s.out = DeviceMemory(s.q.bytes());
  fill_random(s.q.get(), c.dtype, q_elems, seed * 3 + 3);
  s.tables = upload(tables);
  s.lens = upload(lens);
  s.host_tables = tables;
  s.host_lens = lens;
  s.batch.q = s.q.get();
  s.batch.out = s.out.get();
  s.batch.block_tables = s.tables.get<int32_t>();
  s.batch.context_lens = s.lens.get<int32_t>();
  s.batch.batch = c.batch;
  s.batch.num_heads = c.heads;
  s.batch.max_blocks_per_seq = max_blocks;
  s.batch.max_context_len = max_len;
  s.batch.scale = attention_scale(c.head_dim);
  const int64_t tokens = std::accumulate(lens.begin(), lens.end(), int64_t{0});
  s.bytes = (2 * tokens * c.kv_heads * c.head_dim + 2 * q_elems) * dtype_size(c.dtype);
  return s;
}

std::vector<float> download(const void* p, DType t, int64_t n) {
  std::vector<uint8_t> raw(static_cast<size_t>(n * dtype_size(t)));
  TS_CUDA_CHECK(cudaMemcpy(raw.data(), p, raw.size(), cudaMemcpyDeviceToHost));
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = load_element(raw.data(), t, i);
  return out;
}

double relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

class Bench {
 public:
  Bench(const KernelBenchOptions& o, std::ostream& out, const DeviceInfo& device)
      : o_(o), out_(out), timer_(std::max<size_t>(2 * device.l2_bytes, size_t{128} << 20)) {}

  void run() {
    measure_ceilings();
    for (const std::string& name : o_.configs) attention_config(reference_config(name));
    if (o_.block_size_sweep) block_size_sweep();
    if (o_.reshape) reshape();
    if (o_.copies) copies();
    table();
  }

 private:
  Row row(const std::string& config, const std::string& kernel, double ms, int64_t bytes, int reps,
          std::string note = {}) {
    Row r{config, kernel, ms, bytes / ms * 1e-6, 0.0, reps, std::move(note)};
    r.percent = 100.0 * r.gbps / copy_gbps_;
    out_ << "  " << kernel << ": " << fmt("%.4f", ms) << " ms, " << fmt("%.0f", r.gbps) << " GB/s, "
         << fmt("%.1f", r.percent) << "% of copy (" << reps << " runs"
         << (r.note.empty() ? "" : "; " + r.note) << ")\n";
    rows_.push_back(r);
    return r;
  }

  void measure_ceilings() {
    const size_t bytes = size_t{1} << 30;
    DeviceMemory a(bytes), b(bytes);
    TS_CUDA_CHECK(cudaMemset(a.get(), 1, bytes));
    const double copy_ms = timer_.median_ms(
        [&] { return cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice); }, 3, 30);
    copy_gbps_ = 2.0 * bytes / copy_ms * 1e-6;
    out_ << "device-to-device copy of 1 GiB: " << fmt("%.3f", copy_ms) << " ms, "
         << fmt("%.0f", copy_gbps_) << " GB/s (bytes read + written)\n";
    const double read_ms = timer_.median_ms(
        [&] {
          read_kernel<<<4 * 132 * 8, 256>>>(a.get<uint4>(), static_cast<int64_t>(bytes / 16),
                                            b.get<uint4>());
          return cudaGetLastError();
        },
        3, 30);
    read_gbps_ = bytes / read_ms * 1e-6;
    out_ << "read-only kernel over 1 GiB: " << fmt("%.3f", read_ms) << " ms, "
         << fmt("%.0f", read_gbps_) << " GB/s (" << fmt("%.1f", 100.0 * read_gbps_ / copy_gbps_)
         << "% of copy)\n";
  }

  int reps_for(KernelVersion v, double estimate_ms) const {
    if (v != KernelVersion::kV1 && v != KernelVersion::kV2) return o_.repetitions;
    const auto fit = static_cast<int>(o_.slow_budget_ms / std::max(estimate_ms, 1e-3));
    return std::clamp(fit, 3, o_.repetitions);
  }

  std::vector<int32_t> lengths(const Config& c) const {
    Rng rng(o_.seed);
    std::vector<int32_t> lens(static_cast<size_t>(c.batch));
    for (int32_t& len : lens) len = static_cast<int32_t>(rng.uniform_int(c.min_len, c.max_len));
    return lens;
  }

  // The version the layout comparisons use: the newest asked for, v4 at least.
  KernelVersion fast() const {
    const auto& v = o_.versions;
    for (KernelVersion k : {KernelVersion::kV6, KernelVersion::kV5}) {
      if (std::find(v.begin(), v.end(), k) != v.end()) return k;
    }
    return KernelVersion::kV4;
  }
  bool has(KernelVersion k) const {
    return std::find(o_.versions.begin(), o_.versions.end(), k) != o_.versions.end();
  }

  // Times one plan on a paged setup (optionally on another pool of the same blocks); returns
  // the median ms and the output (query dtype).
  std::pair<double, std::vector<float>> time_paged(const AttentionPlan& plan, const PagedSetup& p,
                                                   int reps, int warmup,
                                                   const PagedKv* pool = nullptr) {
    const PagedKv& cache = pool != nullptr ? *pool : p.cache;
    DeviceMemory ws(plan.workspace_bytes);
    TS_CUDA_CHECK(stage_attention_plan(plan, ws.get(), nullptr));
    const auto launch = [&] { return paged_attention(plan, cache, p.batch, ws.get(), nullptr); };
    TS_CUDA_CHECK(cudaMemset(p.out.get(), 0xff, p.out.bytes()));
    TS_CUDA_CHECK(launch());
    const DType qt = query_dtype(cache.dtype);
    std::vector<float> out =
        download(p.out.get(), qt, static_cast<int64_t>(p.out.bytes() / dtype_size(qt)));
    return {timer_.median_ms(launch, warmup, reps), std::move(out)};
  }

  // The anchors (FlashInfer, when built with it) on the same pool, tables, q and lengths.
  void anchors(const Config& c, const PagedSetup& p, const std::vector<float>& reference) {
    for (const auto& anchor : flashinfer_decode_anchors()) {
      const DecodeProblem problem{p.cache, p.batch, p.host_tables.data(), p.host_lens.data()};
      if (const std::string why = anchor->prepare(problem); !why.empty()) {
        out_ << "  " << anchor->name() << ": not run (" << why << ")\n";
        continue;
      }
      const auto launch = [&] { return anchor->run(nullptr); };
      TS_CUDA_CHECK(cudaMemset(p.out.get(), 0xff, p.out.bytes()));
      TS_CUDA_CHECK(launch());
      const std::vector<float> values =
          download(p.out.get(), c.dtype, static_cast<int64_t>(p.out.bytes() / dtype_size(c.dtype)));
      const double ms = timer_.median_ms(launch, o_.warmup, o_.repetitions);
      row(c.name, anchor->name(), ms, p.bytes, o_.repetitions,
          reference.empty()
              ? ""
              : cat("output vs ", fast_name(), " ", fmt("%.1e", relative_diff(values, reference))));
    }
  }

  // The same K/V quantized to fp8 (scale 2^-8, the executors' default), the same q: time, the
  // bandwidth of the bytes read, and the speedup over the same kernel on the fp16 pool.
  void fp8_rows(const Config& c, const PagedSetup& p, const std::map<KernelVersion, double>& fp16,
                const std::vector<float>& fp16_out) {
    if (c.dtype != DType::kF16) return;
    for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
      PagedKv cache = p.cache;
      cache.dtype = t;
      cache.scales.k = cache.scales.v = kDefaultFp8Scale;
      const int64_t elems = p.cache.layer_elements();
      DeviceMemory k(static_cast<size_t>(elems)), v(static_cast<size_t>(elems));
      quantize_pool(p.cache.k, t, k.get(), elems, kDefaultFp8Scale);
      quantize_pool(p.cache.v, t, v.get(), elems, kDefaultFp8Scale);
      cache.k = k.get();
      cache.v = v.get();
      const int64_t q_bytes = 2 * static_cast<int64_t>(c.batch) * c.heads * c.head_dim * 2;
      const int64_t bytes = (p.bytes - q_bytes) / 2 + q_bytes;  // K/V bytes halve
      AttentionOptions options;
      options.host_context_lens = p.host_lens.data();
      for (KernelVersion version : {KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
        if (!has(version) || (t == DType::kFp8E5M2 && version != fast())) continue;
        const AttentionPlan plan =
            plan_attention(version, t, p.batch, c.kv_heads, c.head_dim, options);
        auto [ms, values] = time_paged(plan, p, o_.repetitions, o_.warmup, &cache);
        std::string note;
        if (auto it = fp16.find(version); it != fp16.end()) {
          note = cat("x", fmt("%.2f", it->second / ms), " vs fp16 ", kernel_version_name(version),
                     ", fp16-equivalent ", fmt("%.0f", p.bytes / ms * 1e-6), " GB/s (",
                     fmt("%.0f", 100.0 * p.bytes / ms * 1e-6 / copy_gbps_), "% of copy)");
        }
        if (!fp16_out.empty()) {
          note += cat("; output vs fp16 ", fmt("%.1e", relative_diff(values, fp16_out)));
        }
        row(c.name, cat(kernel_version_name(version), " paged ", dtype_name(t)), ms, bytes,
            o_.repetitions, note);
      }
    }
  }

  std::string plan_note(const AttentionPlan& plan, const PagedSetup& p) const {
    std::string note;
    if (plan.version == KernelVersion::kV6) {
      note = cat(plan.work.num_warps, " warps, ", plan.work.num_parts, " parts of ",
                 plan.work.num_items, " items");
    } else if (plan.max_splits > 1) {
      note = cat("partition ", plan.partition_tokens, " tokens");
    }
    if (const int32_t ctas = attention_ctas_per_sm(plan, p.cache, p.batch); ctas > 0) {
      note += cat(note.empty() ? "" : ", ", ctas, " CTAs/SM");
    }
    return note;
  }
  std::string fast_name() const { return std::string(kernel_version_name(fast())); }

  void attention_config(const Config& c) {
    const std::vector<int32_t> lens = lengths(c);
    out_ << "\nconfig " << c.name << ": batch " << c.batch << ", context " << c.min_len << ".."
         << c.max_len << ", " << c.heads << " q heads / " << c.kv_heads << " KV heads, head dim "
         << c.head_dim << ", " << dtype_name(c.dtype) << ", block size " << c.block_size << "\n";
    PagedSetup p = make_paged(c, lens, c.block_size, o_.seed);
    const int64_t out_elems = static_cast<int64_t>(c.batch) * c.heads * c.head_dim;
    std::vector<float> fast_out;
    std::vector<std::pair<std::string, std::vector<float>>> outputs;
    double fast_ms = 0.0;
    std::map<KernelVersion, double> fp16_ms;
    AttentionOptions auto_options;
    auto_options.host_context_lens = lens.data();
    for (KernelVersion v : o_.versions) {
      const AttentionPlan plan =
          plan_attention(v, c.dtype, p.batch, c.kv_heads, c.head_dim, auto_options);
      const double estimate = time_paged(plan, p, 1, 0).first;
      const int reps = reps_for(v, estimate);
      const int warmup = reps < o_.repetitions ? 0 : o_.warmup;
      auto [ms, values] = time_paged(plan, p, reps, warmup);
      outputs.emplace_back(std::string(kernel_version_name(v)), std::move(values));
      row(c.name, cat(kernel_version_name(v), " paged"), ms, p.bytes, reps, plan_note(plan, p));
      fp16_ms[v] = ms;
      if (v == fast()) {
        fast_ms = ms;
        fast_out = outputs.back().second;
      }
    }
    anchors(c, p, fast_out);
    if (o_.fp8) fp8_rows(c, p, fp16_ms, fast_out);
    if (o_.v6_sweep && has(KernelVersion::kV6)) {
      const int32_t resident =
          plan_attention(KernelVersion::kV6, c.dtype, p.batch, c.kv_heads, c.head_dim, auto_options)
              .work.num_warps;
      for (double waves : {0.5, 0.75, 1.5, 2.0, 3.0}) {
        AttentionOptions options = auto_options;
        options.v6_warps = static_cast<int32_t>(resident * waves);
        const AttentionPlan plan =
            plan_attention(KernelVersion::kV6, c.dtype, p.batch, c.kv_heads, c.head_dim, options);
        const double ms = time_paged(plan, p, o_.repetitions, o_.warmup).first;
        row(c.name, cat("v6 paged, ", fmt("%.2f", waves), " waves"), ms, p.bytes, o_.repetitions,
            cat(plan.work.num_warps, " warps; sweep"));
      }
      for (int32_t cost : {0, 3, 8}) {
        AttentionOptions options = auto_options;
        options.v6_item_cost = cost;
        const AttentionPlan plan =
            plan_attention(KernelVersion::kV6, c.dtype, p.batch, c.kv_heads, c.head_dim, options);
        const double ms = time_paged(plan, p, o_.repetitions, o_.warmup).first;
        row(c.name, cat("v6 paged, item cost ", cost), ms, p.bytes, o_.repetitions, "sweep");
      }
    }
    for (const auto& [name, values] : outputs) {
      const std::vector<float>& ref = fast_out.empty() ? outputs.front().second : fast_out;
      out_ << "  check: " << name << " output vs "
           << (fast_out.empty() ? outputs.front().first : fast_name()) << ": relative difference "
           << fmt("%.2e", relative_diff(values, ref)) << "\n";
    }
    if (fast_out.empty()) return;

    // The same kernel over the contiguous layout, then over the padded batch.
    const int32_t max_len = p.batch.max_context_len;
    ContiguousKv contiguous;
    contiguous.dtype = c.dtype;
    contiguous.batch = c.batch;
    contiguous.num_kv_heads = c.kv_heads;
    contiguous.max_len = max_len;
    contiguous.head_dim = c.head_dim;
    const auto bytes =
        static_cast<size_t>(c.batch) * c.kv_heads * max_len * c.head_dim * dtype_size(c.dtype);
    DeviceMemory ck(bytes), cv(bytes);
    TS_CUDA_CHECK(cudaMemset(ck.get(), 0, bytes));
    TS_CUDA_CHECK(cudaMemset(cv.get(), 0, bytes));
    contiguous.k = ck.get();
    contiguous.v = cv.get();
    gather_kernel<<<dim3(c.kv_heads, c.batch), 256>>>(contiguous, p.cache, p.batch.block_tables,
                                                      p.batch.context_lens,
                                                      p.batch.max_blocks_per_seq);
    TS_CUDA_CHECK(cudaGetLastError());
    AttentionOptions contiguous_options;
    contiguous_options.host_context_lens = lens.data();
    for (bool padded : {false, true}) {
      contiguous.read_padded = padded;
      // v6 reads real lengths only: the padded batch runs v5.
      const KernelVersion version =
          padded && fast() == KernelVersion::kV6 ? KernelVersion::kV5 : fast();
      const AttentionPlan plan =
          plan_attention(version, c.dtype, p.batch, c.kv_heads, c.head_dim, contiguous_options);
      DeviceMemory workspace(plan.workspace_bytes);
      TS_CUDA_CHECK(stage_attention_plan(plan, workspace.get(), nullptr));
      const auto launch = [&] {
        return contiguous_attention(plan, contiguous, p.batch, workspace.get(), nullptr);
      };
      TS_CUDA_CHECK(cudaMemset(p.out.get(), 0xff, p.out.bytes()));
      TS_CUDA_CHECK(launch());
      const std::vector<float> values = download(p.out.get(), c.dtype, out_elems);
      const double ms = timer_.median_ms(launch, o_.warmup, o_.repetitions);
      const double diff = relative_diff(values, fast_out);
      if (!padded) {
        const bool same = values == fast_out;
        row(c.name, fast_name() + " contiguous", ms, p.bytes, o_.repetitions,
            same ? "output identical to paged" : cat("output differs: ", fmt("%.2e", diff)));
        out_ << "  paged / contiguous time: " << fmt("%.4f", fast_ms / ms) << "\n";
        ratios_.push_back(
            cat(c.name, ": ", fast_name(), " paged / contiguous = ", fmt("%.4f", fast_ms / ms)));
      } else {
        row(c.name, std::string(kernel_version_name(version)) + " padded batch", ms, p.bytes,
            o_.repetitions,
            cat("reads ", max_len, " positions per sequence; output vs paged ", fmt("%.2e", diff)));
        ratios_.push_back(
            cat(c.name, ": padded batch / ", fast_name(), " paged = ", fmt("%.3f", ms / fast_ms)));
      }
    }

    if (o_.partition_sweep) {
      for (int32_t part : {256, 512, 1024, 2048, 4096, 8192}) {
        AttentionOptions options;
        options.partition_tokens = part;
        const AttentionPlan pp =
            plan_attention(KernelVersion::kV5, c.dtype, p.batch, c.kv_heads, c.head_dim, options);
        const double ms = time_paged(pp, p, o_.repetitions, o_.warmup).first;
        row(c.name, cat("v5 paged, partition ", part), ms, p.bytes, o_.repetitions, "sweep");
      }
    }
  }

  void block_size_sweep() {
    Config c = reference_config("B");
    const std::vector<int32_t> lens = lengths(c);
    out_ << "\nblock-size sweep (config B, " << fast_name() << "): paged vs contiguous\n";
    double contiguous_ms = 0.0;
    for (const Row& r : rows_) {
      if (r.config == "B" && r.kernel == fast_name() + " contiguous") contiguous_ms = r.ms;
    }
    for (int32_t bs : {8, 16, 32, 64, 128}) {
      PagedSetup p = make_paged(c, lens, bs, o_.seed);
      AttentionOptions options;
      options.host_context_lens = lens.data();
      const AttentionPlan plan =
          plan_attention(fast(), c.dtype, p.batch, c.kv_heads, c.head_dim, options);
      const double ms = time_paged(plan, p, o_.repetitions, o_.warmup).first;
      const std::string note =
          contiguous_ms > 0 ? cat("paged / contiguous ", fmt("%.4f", ms / contiguous_ms)) : "";
      row(cat("B bs", bs), fast_name() + " paged", ms, p.bytes, o_.repetitions, note);
      if (o_.fp8) {  // the same blocks in fp8: a (block, KV head) tile is half as many bytes
        PagedKv cache = p.cache;
        cache.dtype = DType::kFp8E4M3;
        cache.scales.k = cache.scales.v = kDefaultFp8Scale;
        const int64_t elems = p.cache.layer_elements();
        DeviceMemory k(static_cast<size_t>(elems)), v(static_cast<size_t>(elems));
        quantize_pool(p.cache.k, cache.dtype, k.get(), elems, kDefaultFp8Scale);
        quantize_pool(p.cache.v, cache.dtype, v.get(), elems, kDefaultFp8Scale);
        cache.k = k.get();
        cache.v = v.get();
        const AttentionPlan plan8 =
            plan_attention(fast(), cache.dtype, p.batch, c.kv_heads, c.head_dim, options);
        const double ms8 = time_paged(plan8, p, o_.repetitions, o_.warmup, &cache).first;
        const int64_t q_bytes = 2 * static_cast<int64_t>(c.batch) * c.heads * c.head_dim * 2;
        row(cat("B bs", bs), fast_name() + " paged fp8_e4m3", ms8,
            (p.bytes - q_bytes) / 2 + q_bytes, o_.repetitions,
            cat("x", fmt("%.2f", ms / ms8), " vs fp16"));
      }
    }
  }

  void reshape() {
    const int32_t seqs = 64, seq_len = 2048, kv_heads = 8, head_dim = 128, bs = 16;
    const DType t = DType::kF16;
    const int32_t tokens = seqs * seq_len;
    out_ << "\nreshape_and_cache: " << seqs << " x " << seq_len << " prefill tokens, " << kv_heads
         << " KV heads, head dim " << head_dim << ", " << dtype_name(t) << ", block size " << bs
         << "\n";
    const int32_t blocks_per_seq = seq_len / bs;
    const int32_t num_blocks = seqs * blocks_per_seq * 5 / 4;
    Rng rng(o_.seed + 7);
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    std::vector<int64_t> slots(static_cast<size_t>(tokens));
    for (int32_t s = 0; s < seqs; ++s) {
      for (int32_t pos = 0; pos < seq_len; ++pos) {
        slots[static_cast<size_t>(s) * seq_len + pos] =
            static_cast<int64_t>(perm[static_cast<size_t>(s) * blocks_per_seq + pos / bs]) * bs +
            pos % bs;
      }
    }
    PagedKv cache;
    cache.dtype = t;
    cache.num_blocks = num_blocks;
    cache.num_kv_heads = kv_heads;
    cache.block_size = bs;
    cache.head_dim = head_dim;
    const auto pool_bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
    DeviceMemory k(pool_bytes), v(pool_bytes);
    cache.k = k.get();
    cache.v = v.get();
    const int64_t elems = static_cast<int64_t>(tokens) * kv_heads * head_dim;
    DeviceMemory key(static_cast<size_t>(elems * dtype_size(t))), value(key.bytes());
    fill_random(key.get(), t, elems, 11);
    fill_random(value.get(), t, elems, 12);
    DeviceMemory d_slots = upload(slots);
    const NewKv new_kv{key.get(), value.get(), d_slots.get<int64_t>(), tokens};
    const double ms = timer_.median_ms([&] { return reshape_and_cache(cache, new_kv, nullptr); },
                                       o_.warmup, o_.repetitions);
    const int64_t bytes = 2 * 2 * elems * dtype_size(t) + tokens * int64_t{8};
    row("prefill", "reshape_and_cache", ms, bytes, o_.repetitions, "bytes read + written");
  }

  void copies() {
    // Config A's geometry: 32 KV heads x 16 tokens x 128 dims in fp16, 128 KiB per K block.
    const int32_t n = 4096;
    PagedKv gpu;
    gpu.dtype = DType::kF16;
    gpu.num_blocks = 2 * n;
    gpu.num_kv_heads = 32;
    gpu.block_size = 16;
    gpu.head_dim = 128;
    const auto pool_bytes = static_cast<size_t>(gpu.layer_elements() * 2);
    DeviceMemory k(pool_bytes), v(pool_bytes);
    gpu.k = k.get();
    gpu.v = v.get();
    fill_random(k.get(), gpu.dtype, gpu.layer_elements(), 21);
    fill_random(v.get(), gpu.dtype, gpu.layer_elements(), 22);
    Rng rng(o_.seed + 9);
    std::vector<int32_t> perm(static_cast<size_t>(2 * n));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    std::vector<BlockCopy> cow, out, in;
    for (int32_t i = 0; i < n; ++i) {
      cow.push_back({perm[i], perm[n + i]});
      out.push_back({perm[i], i});
      in.push_back({i, perm[n + i]});
    }
    const int64_t moved = 2 * int64_t{n} * gpu.block_elements() * 2;  // K and V
    out_ << "\nblock copies: " << n << " blocks of " << gpu.block_elements() * 2 * 2
         << " bytes (K and V)\n";
    DeviceMemory d_cow = upload(cow), d_out = upload(out), d_in = upload(in);
    double ms =
        timer_.median_ms([&] { return copy_blocks(gpu, gpu, d_cow.get<BlockCopy>(), n, nullptr); },
                         o_.warmup, o_.repetitions);
    row("copies", "copy_blocks GPU->GPU", ms, 2 * moved, o_.repetitions, "bytes read + written");

    PagedKv cpu = gpu;
    cpu.num_blocks = n;
    void* host_k = nullptr;
    void* host_v = nullptr;
    TS_CUDA_CHECK(cudaHostAlloc(&host_k, pool_bytes / 2, cudaHostAllocMapped));
    TS_CUDA_CHECK(cudaHostAlloc(&host_v, pool_bytes / 2, cudaHostAllocMapped));
    TS_CUDA_CHECK(cudaHostGetDevicePointer(&cpu.k, host_k, 0));
    TS_CUDA_CHECK(cudaHostGetDevicePointer(&cpu.v, host_v, 0));
    const int reps = std::min(o_.repetitions, 10);
    ms = timer_.median_ms([&] { return copy_blocks(gpu, cpu, d_out.get<BlockCopy>(), n, nullptr); },
                          1, reps);
    row("copies", "swap-out GPU->pinned", ms, moved, reps, "one launch, mapped pinned memory");
    ms = timer_.median_ms([&] { return copy_blocks(cpu, gpu, d_in.get<BlockCopy>(), n, nullptr); },
                          1, reps);
    row("copies", "swap-in pinned->GPU", ms, moved, reps, "one launch, mapped pinned memory");
    cudaFreeHost(host_k);
    cudaFreeHost(host_v);
  }

  void table() {
    char line[256];
    out_ << "\n=== summary (copy " << fmt("%.0f", copy_gbps_) << " GB/s, read-only kernel "
         << fmt("%.0f", read_gbps_) << " GB/s) ===\n";
    std::snprintf(line, sizeof line, "%-8s %-28s %10s %8s %7s %5s  %s\n", "config", "kernel", "ms",
                  "GB/s", "%copy", "runs", "note");
    out_ << line;
    for (const Row& r : rows_) {
      std::snprintf(line, sizeof line, "%-8s %-28s %10.4f %8.0f %6.1f%% %5d  %s\n",
                    r.config.c_str(), r.kernel.c_str(), r.ms, r.gbps, r.percent, r.reps,
                    r.note.c_str());
      out_ << line;
    }
    for (const std::string& r : ratios_) out_ << r << "\n";
  }

  const KernelBenchOptions& o_;
  std::ostream& out_;
  Timer timer_;
  double copy_gbps_ = 1.0;
  double read_gbps_ = 0.0;
  std::vector<Row> rows_;
  std::vector<std::string> ratios_;
};

}  // namespace

#ifndef TINYSERVE_HAVE_FLASHINFER
std::vector<std::unique_ptr<DecodeAnchor>> flashinfer_decode_anchors() {
  return {};
}
#endif

int run_kernel_bench(const KernelBenchOptions& options, std::ostream& out) {
  const DeviceInfo device = query_device();
  if (!device.available) {
    out << "no CUDA device: " << device.reason << "\n";
    return 1;
  }
  out << "device: " << device.name << ", " << device.multiprocessors << " SMs, "
      << device.l2_bytes / (1 << 20) << " MiB L2, " << device.total_memory / (1 << 20)
      << " MiB memory (" << device.free_memory / (1 << 20) << " MiB free)\n";
  try {
    Bench bench(options, out, device);
    bench.run();
  } catch (const std::exception& e) {
    out << "kernel bench failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tinyserve::gpu
