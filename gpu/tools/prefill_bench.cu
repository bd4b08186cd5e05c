// `tinyserve bench prefill` (gpu/tools/prefill_bench.h).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/execution/kv_executor.h"
#include "gpu/cuda_check.h"
#include "gpu/decode_attention.h"
#include "gpu/device.h"
#include "gpu/dtype.cuh"
#include "gpu/tools/device_memory.h"
#include "gpu/tools/prefill_bench.h"
#ifdef TINYSERVE_HAVE_FLASHINFER_PREFILL
#include "gpu/tools/flashinfer_prefill_anchor.h"
#endif

namespace tinyserve::gpu {
namespace {

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

#define TS_CUBLAS_CHECK(call)                                                   \
  do {                                                                          \
    const cublasStatus_t ts_st_ = (call);                                       \
    if (ts_st_ != CUBLAS_STATUS_SUCCESS) {                                      \
      throw BenchError(cat(#call, " failed: ", cublasGetStatusString(ts_st_))); \
    }                                                                           \
  } while (0)

// Uniform fp16 values in [-1, 1) from a hash of (seed, index): never zeros, reproducible.
__global__ void fill_random_kernel(__half* p, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t x = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull));
    p[i] = __float2half_rn(static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) *
                           (1.0f / 8388608.0f));
  }
}

void fill_random(void* p, int64_t n, uint64_t seed) {
  fill_random_kernel<<<1024, 256>>>(static_cast<__half*>(p), n, seed);
  TS_CUDA_CHECK(cudaGetLastError());
}

// The same values as fill_random's, as e4m3 elements of a pool with scale 1 / inv_scale.
__global__ void fill_random_fp8_kernel(__nv_fp8_e4m3* p, int64_t n, uint64_t seed,
                                       float inv_scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t x = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull));
    p[i] = __nv_fp8_e4m3(static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) *
                         (1.0f / 8388608.0f) * inv_scale);
  }
}

void fill_random_pool(const PagedKv& cache, void* p, int64_t n, uint64_t seed) {
  if (cache.dtype == DType::kFp8E4M3) {
    fill_random_fp8_kernel<<<1024, 256>>>(static_cast<__nv_fp8_e4m3*>(p), n, seed,
                                          1.0f / cache.scales.k);
    TS_CUDA_CHECK(cudaGetLastError());
  } else {
    fill_random(p, n, seed);
  }
}

class Timer {
 public:
  Timer() {
    TS_CUDA_CHECK(cudaEventCreate(&start_));
    TS_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  // Median milliseconds of `reps` timed runs after `warmup` untimed ones. Inputs stay where the
  // previous run left them (these kernels are compute-bound; their K/V mostly exceed L2).
  double median_ms(const std::function<cudaError_t()>& launch, int warmup, int reps) {
    for (int i = 0; i < warmup; ++i) TS_CUDA_CHECK(launch());
    TS_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> times;
    for (int i = 0; i < reps; ++i) {
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

 private:
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

constexpr int32_t kHeads = 32;
constexpr int32_t kKvHeads = 8;
constexpr int32_t kHeadDim = 128;
constexpr int32_t kBlock = 16;

struct Config {
  std::string name;
  std::vector<int32_t> counts, prefixes;  // prefill chunks
  std::vector<int32_t> decode_lens;       // decodes (P4)
  std::string what;
  DType dtype = DType::kF16;  // the pool's (q and out fp16 either way)
};

Config reference_config(const std::string& name, uint64_t seed) {
  Config c;
  c.name = name;
  if (name == "P1" || name == "P2" || name == "P1-fp8") {
    c.counts.assign(16, 1024);
    c.prefixes.assign(16, name == "P2" ? 8192 : 0);
    c.what = name == "P1"   ? "16 x 1024-token chunks, no prefix"
             : name == "P2" ? "16 x 1024-token chunks after 8192 cached tokens"
                            : "16 x 1024-token chunks, no prefix, fp8 e4m3 pool (scale 2^-8)";
    if (name == "P1-fp8") c.dtype = DType::kFp8E4M3;
  } else if (name == "P3") {
    c.counts = {16384};
    c.prefixes = {0};
    c.what = "one 16384-token chunk";
  } else if (name == "P4") {
    c.counts.assign(4, 512);
    c.prefixes.assign(4, 0);
    Rng rng(seed);
    for (int i = 0; i < 128; ++i)
      c.decode_lens.push_back(static_cast<int32_t>(rng.uniform_int(2048, 8192)));
    c.what = "4 x 512-token chunks + 128 decodes of context 2k-8k";
  } else {
    throw BenchError(cat("unknown configuration '", name, "' (P1, P2, P3, P4 or P1-fp8)"));
  }
  return c;
}

// One step's attention inputs on the device: a pool with every sequence's blocks scattered, the
// chunks' queries then the decodes' (one each), block tables and offsets.
struct Problem {
  int32_t num_prefills = 0, num_decodes = 0, num_queries = 0, prefill_queries = 0;
  int32_t max_blocks = 0;
  std::vector<int32_t> query_start, lens, tables;  // host, every entry
  DeviceMemory k, v, q, out, out2, d_query_start, d_lens, d_tables;
  PagedKv cache;
  int64_t prefill_pairs = 0, decode_pairs = 0;  // keys attended, summed over queries (one head)
};

Problem make_problem(const Config& c, uint64_t seed) {
  Problem p;
  p.num_prefills = static_cast<int32_t>(c.counts.size());
  p.num_decodes = static_cast<int32_t>(c.decode_lens.size());
  p.query_start.push_back(0);
  for (size_t b = 0; b < c.counts.size(); ++b) {
    p.lens.push_back(c.prefixes[b] + c.counts[b]);
    p.query_start.push_back(p.query_start.back() + c.counts[b]);
    for (int32_t j = 0; j < c.counts[b]; ++j) p.prefill_pairs += c.prefixes[b] + j + 1;
  }
  p.prefill_queries = p.query_start.back();
  for (int32_t len : c.decode_lens) {
    p.lens.push_back(len);
    p.query_start.push_back(p.query_start.back() + 1);
    p.decode_pairs += len;
  }
  p.num_queries = p.query_start.back();
  const int32_t max_len = *std::max_element(p.lens.begin(), p.lens.end());
  p.max_blocks = (max_len + kBlock - 1) / kBlock;
  int64_t needed = 0;
  for (int32_t len : p.lens) needed += (len + kBlock - 1) / kBlock;
  const auto num_blocks = static_cast<int32_t>(needed + needed / 4 + 8);
  Rng rng(seed);
  std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
  p.tables.assign(p.lens.size() * static_cast<size_t>(p.max_blocks), -1);
  size_t next = 0;
  for (size_t b = 0; b < p.lens.size(); ++b) {
    for (int32_t i = 0; i < (p.lens[b] + kBlock - 1) / kBlock; ++i) {
      p.tables[b * p.max_blocks + i] = perm[next++];
    }
  }
  p.cache.dtype = c.dtype;
  p.cache.num_blocks = num_blocks;
  p.cache.num_kv_heads = kKvHeads;
  p.cache.block_size = kBlock;
  p.cache.head_dim = kHeadDim;
  p.cache.scales.k = kDefaultFp8Scale;
  p.cache.scales.v = kDefaultFp8Scale;
  const int64_t elems = p.cache.layer_elements();
  p.k = DeviceMemory(static_cast<size_t>(elems) * dtype_size(c.dtype));
  p.v = DeviceMemory(p.k.bytes());
  fill_random_pool(p.cache, p.k.get(), elems, seed * 3 + 1);
  fill_random_pool(p.cache, p.v.get(), elems, seed * 3 + 2);
  p.cache.k = p.k.get();
  p.cache.v = p.v.get();
  const int64_t q_elems = static_cast<int64_t>(p.num_queries) * kHeads * kHeadDim;
  p.q = DeviceMemory(static_cast<size_t>(q_elems) * 2);
  p.out = DeviceMemory(p.q.bytes());
  p.out2 = DeviceMemory(p.q.bytes());
  fill_random(p.q.get(), q_elems, seed * 3 + 3);
  p.d_query_start = upload(p.query_start);
  p.d_lens = upload(p.lens);
  p.d_tables = upload(p.tables);
  return p;
}

// The prefill entries [0, entries) of the problem (all of them: decodes as one-query chunks).
PrefillBatch prefill_batch(const Problem& p, int32_t entries, void* out) {
  PrefillBatch b;
  b.q = p.q.get();
  b.out = out;
  b.query_start = p.d_query_start.get<int32_t>();
  b.context_lens = p.d_lens.get<int32_t>();
  b.block_tables = p.d_tables.get<int32_t>();
  b.batch = entries;
  b.num_queries = p.query_start[entries];
  b.num_heads = kHeads;
  b.max_blocks_per_seq = p.max_blocks;
  b.scale = attention_scale(kHeadDim);
  return b;
}

PrefillShape prefill_shape(const Problem& p, int32_t entries) {
  PrefillShape s;
  s.dtype = p.cache.dtype;
  s.num_heads = kHeads;
  s.num_kv_heads = kKvHeads;
  s.head_dim = kHeadDim;
  s.batch = entries;
  s.query_start = p.query_start.data();
  s.context_lens = p.lens.data();
  return s;
}

// A planned prefill launch with its index and workspace on the device.
struct PrefillLaunch {
  PrefillPlan plan;
  DeviceMemory index, workspace;
  PrefillBatch batch;
  const Problem* p = nullptr;
  cudaError_t operator()(cudaStream_t stream = nullptr) const {
    return prefill_attention(plan, index.get<int32_t>(), p->cache, batch, workspace.get(), stream);
  }
};

PrefillLaunch plan_launch(const Problem& p, int32_t entries, PrefillKernel k, void* out,
                          bool pingpong = false, bool prefetch_rows = true) {
  PrefillLaunch l;
  PrefillOptions options;
  options.kernel = k;
  options.pingpong = pingpong;
  options.prefetch_rows = prefetch_rows;
  l.plan = plan_prefill(prefill_shape(p, entries), options);
  l.index = upload(l.plan.index);
  l.workspace = DeviceMemory(l.plan.workspace_bytes);
  l.batch = prefill_batch(p, entries, out);
  l.p = &p;
  return l;
}

// The decodes (entries after the prefill chunks) through decode kernel v5.
struct DecodeLaunch {
  AttentionPlan plan;
  DecodeBatch batch;
  DeviceMemory workspace;
  const Problem* p = nullptr;
  cudaError_t operator()(cudaStream_t stream = nullptr) const {
    return paged_attention(plan, p->cache, batch, workspace.get(), stream);
  }
};

DecodeLaunch plan_decodes(const Problem& p, void* out) {
  DecodeLaunch d;
  d.p = &p;
  const size_t row = static_cast<size_t>(kHeads) * kHeadDim;
  d.batch.q = static_cast<const __half*>(p.q.get()) + row * p.prefill_queries;
  d.batch.out = static_cast<__half*>(out) + row * p.prefill_queries;
  d.batch.block_tables =
      p.d_tables.get<int32_t>() + static_cast<size_t>(p.num_prefills) * p.max_blocks;
  d.batch.context_lens = p.d_lens.get<int32_t>() + p.num_prefills;
  d.batch.batch = p.num_decodes;
  d.batch.num_heads = kHeads;
  d.batch.max_blocks_per_seq = p.max_blocks;
  d.batch.max_context_len = *std::max_element(p.lens.begin() + p.num_prefills, p.lens.end());
  d.batch.scale = attention_scale(kHeadDim);
  AttentionOptions options;
  options.host_context_lens = p.lens.data() + p.num_prefills;
  d.plan = plan_attention(KernelVersion::kV5, DType::kF16, d.batch, kKvHeads, kHeadDim, options);
  d.workspace = DeviceMemory(d.plan.workspace_bytes);
  return d;
}

std::vector<float> download(const void* ptr, int64_t offset, int64_t n) {
  std::vector<__half> raw(static_cast<size_t>(n));
  TS_CUDA_CHECK(cudaMemcpy(raw.data(), static_cast<const __half*>(ptr) + offset, raw.size() * 2,
                           cudaMemcpyDeviceToHost));
  std::vector<float> out(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) out[i] = __half2float(raw[i]);
  return out;
}

double relative_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    diff += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
    norm += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(diff / std::max(norm, 1e-30));
}

struct Row {
  std::string config, what;
  double ms = 0.0, tflops = 0.0, percent = 0.0;
  std::string note;
};

class Bench {
 public:
  Bench(const PrefillBenchOptions& o, std::ostream& out, const DeviceInfo& device)
      : o_(o), out_(out), device_(device) {}

  void run() {
    measure_peak();
    for (const std::string& name : o_.configs) config(reference_config(name, o_.seed));
    table();
  }

 private:
  double median(const std::function<cudaError_t()>& launch) {
    return timer_.median_ms(launch, o_.warmup, o_.repetitions);
  }

  void add(const std::string& config, const std::string& what, double ms, int64_t pairs,
           std::string note = {}) {
    Row r{config, what, ms, 0.0, 0.0, std::move(note)};
    r.tflops = 4.0 * kHeadDim * kHeads * static_cast<double>(pairs) / (ms * 1e-3) * 1e-12;
    r.percent = 100.0 * r.tflops / peak_tflops_;
    out_ << "  " << what << ": " << fmt("%.4f", ms) << " ms, " << fmt("%.1f", r.tflops)
         << " TFLOP/s, " << fmt("%.1f", r.percent) << "% of the GEMM peak"
         << (r.note.empty() ? "" : " (" + r.note + ")") << std::endl;
    rows_.push_back(std::move(r));
  }

  // cuBLAS fp16 GEMM (fp32 accumulation, as attention accumulates), 8192^3, random data.
  void measure_peak() {
    constexpr int n = 8192;
    DeviceMemory a(size_t{n} * n * 2), b(a.bytes()), c(a.bytes());
    fill_random(a.get(), int64_t{n} * n, 11);
    fill_random(b.get(), int64_t{n} * n, 12);
    cublasHandle_t handle = nullptr;
    TS_CUBLAS_CHECK(cublasCreate(&handle));
    const float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
    const double ms = median([&] {
      status = cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.get(), CUDA_R_16F,
                            n, b.get(), CUDA_R_16F, n, &beta, c.get(), CUDA_R_16F, n,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
      return status == CUBLAS_STATUS_SUCCESS ? cudaGetLastError() : cudaErrorUnknown;
    });
    cublasDestroy(handle);
    TS_CUBLAS_CHECK(status);
    peak_tflops_ = 2.0 * n * n * static_cast<double>(n) / (ms * 1e-3) * 1e-12;
    out_ << "cuBLAS fp16 GEMM (fp32 accumulation) 8192^3: " << fmt("%.3f", ms) << " ms, "
         << fmt("%.1f", peak_tflops_) << " TFLOP/s: the dense tensor-core peak of this run"
         << std::endl;
  }

  std::vector<PrefillKernel> kernels(DType dtype = DType::kF16) const {
    std::vector<PrefillKernel> ks;
    for (PrefillKernel k : o_.kernels) {
      if (prefill_kernel_available(k, dtype)) {
        ks.push_back(k);
      } else {
        out_ << "  (" << prefill_kernel_name(k) << ": not available on this device)\n";
      }
    }
    return ks;
  }

  void config(const Config& c) {
    out_ << "=== " << c.name << ": " << c.what << std::endl;
    const Problem p = make_problem(c, o_.seed + std::hash<std::string>{}(c.name));
    const int64_t prefill_elems = static_cast<int64_t>(p.prefill_queries) * kHeads * kHeadDim;
    std::vector<float> reference;  // the first kernel's output, the others compared with it
    std::string reference_name;
    double best_prefill_ms = 0.0;
    for (PrefillKernel k : kernels(c.dtype)) {
      PrefillLaunch l = plan_launch(p, p.num_prefills, k, p.out.get());
      TS_CUDA_CHECK(cudaMemset(p.out.get(), 0xff, p.out.bytes()));
      const double ms = median([&] { return l(); });
      const std::vector<float> got = download(p.out.get(), 0, prefill_elems);
      std::string note =
          cat(l.plan.num_items, " items x ", kKvHeads, " KV heads, ", l.plan.grid, " CTAs",
              l.plan.kv_chunk > 0 ? cat(", split every ", l.plan.kv_chunk) : "");
      if (reference.empty()) {
        reference = got;
        reference_name = std::string(prefill_kernel_name(k));
        if (!std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); })) {
          throw BenchError(cat(c.name, ": ", prefill_kernel_name(k), " left outputs unwritten"));
        }
      } else {
        note += cat("; differs from ", reference_name, " by ",
                    fmt("%.1e", relative_diff(got, reference)));
      }
      add(c.name, cat("prefill ", prefill_kernel_name(k)), ms, p.prefill_pairs, note);
      if (best_prefill_ms == 0.0) best_prefill_ms = ms;
      if (k == PrefillKernel::kWgmma && c.dtype == DType::kF16) {
        // Its consumers taking turns; its table reads per copy.
        PrefillLaunch turns = plan_launch(p, p.num_prefills, k, p.out2.get(), true);
        const double turns_ms = median([&] { return turns(); });
        add(c.name, "prefill wgmma, ping-pong", turns_ms, p.prefill_pairs,
            cat("differs by ",
                fmt("%.1e", relative_diff(download(p.out2.get(), 0, prefill_elems), got))));
        TS_CUDA_CHECK(cudaMemset(p.out2.get(), 0xff, p.out2.bytes()));
        PrefillLaunch plain = plan_launch(p, p.num_prefills, k, p.out2.get(), false, false);
        const double plain_ms = median([&] { return plain(); });
        add(c.name, "prefill wgmma, table read per copy", plain_ms, p.prefill_pairs,
            cat("differs by ",
                fmt("%.1e", relative_diff(download(p.out2.get(), 0, prefill_elems), got))));
      }
    }
#ifdef TINYSERVE_HAVE_FLASHINFER_PREFILL
    if (o_.flashinfer && device_.compute_capability == 90 && c.dtype == DType::kF16) {
      flashinfer_prefill(c, p, p.num_prefills, "FlashInfer prefill (fa3)", reference);
    }
#endif
    if (p.num_decodes > 0) mixed(c, p, best_prefill_ms);
  }

  // P4: the decodes alone, the step as the executor runs it (prefill launch, then decode
  // launch), and everything through the prefill kernel in one launch.
  void mixed(const Config& c, const Problem& p, double prefill_ms) {
    const PrefillKernel k = kernels().front();
    DecodeLaunch d = plan_decodes(p, p.out.get());
    const double decode_ms = median([&] { return d(); });
    add(c.name, "decodes alone (v5)", decode_ms, p.decode_pairs);
    PrefillLaunch l = plan_launch(p, p.num_prefills, k, p.out.get());
    const double step_ms = median([&] {
      const cudaError_t e = l();
      return e != cudaSuccess ? e : d();
    });
    const double sum = prefill_ms + decode_ms;
    add(c.name, "step: prefill then decode", step_ms, p.prefill_pairs + p.decode_pairs,
        cat("sum of the parts ", fmt("%.4f", sum),
            " ms; step / sum = ", fmt("%.3f", step_ms / sum)));
    const int32_t entries = p.num_prefills + p.num_decodes;
    PrefillLaunch one = plan_launch(p, entries, k, p.out2.get());
    const double one_ms = median([&] { return one(); });
    const int64_t elems = static_cast<int64_t>(p.num_queries) * kHeads * kHeadDim;
    const double diff =
        relative_diff(download(p.out2.get(), 0, elems), download(p.out.get(), 0, elems));
    add(c.name, cat("step in one prefill launch (", prefill_kernel_name(k), ")"), one_ms,
        p.prefill_pairs + p.decode_pairs,
        cat("one / two launches = ", fmt("%.3f", one_ms / step_ms), "; differs by ",
            fmt("%.1e", diff)));
#ifdef TINYSERVE_HAVE_FLASHINFER_PREFILL
    if (o_.flashinfer && device_.compute_capability == 90) {
      flashinfer_prefill(c, p, entries, "FlashInfer prefill (fa3), whole step", {});
    }
#endif
  }

#ifdef TINYSERVE_HAVE_FLASHINFER_PREFILL
  void flashinfer_prefill(const Config& c, const Problem& p, int32_t entries,
                          const std::string& what, const std::vector<float>& reference) {
    FlashInferPrefillInput in;
    in.q = p.q.get();
    in.out = p.out2.get();
    in.k = p.cache.k;
    in.v = p.cache.v;
    in.page_size = kBlock;
    in.num_heads = kHeads;
    in.num_kv_heads = kKvHeads;
    in.sm_scale = attention_scale(kHeadDim);
    in.kv_indptr.push_back(0);
    for (int32_t b = 0; b < entries; ++b) {
      const int32_t pages = (p.lens[b] + kBlock - 1) / kBlock;
      for (int32_t i = 0; i < pages; ++i) in.kv_indices.push_back(p.tables[b * p.max_blocks + i]);
      in.kv_indptr.push_back(static_cast<int32_t>(in.kv_indices.size()));
      in.kv_lens.push_back(p.lens[b]);
    }
    in.qo_indptr.assign(p.query_start.begin(), p.query_start.begin() + entries + 1);
    FlashInferPrefill fi;
    if (const std::string why = fi.plan(in); !why.empty()) {
      out_ << "  FlashInfer: " << why << "\n";
      return;
    }
    TS_CUDA_CHECK(cudaMemset(p.out2.get(), 0xff, p.out2.bytes()));
    const double ms = median([&] { return fi.run(nullptr); });
    int64_t pairs = p.prefill_pairs;
    if (entries > p.num_prefills) pairs += p.decode_pairs;
    std::string note;
    if (!reference.empty()) {
      const int64_t elems = static_cast<int64_t>(p.prefill_queries) * kHeads * kHeadDim;
      note = cat("differs from ours by ",
                 fmt("%.1e", relative_diff(download(p.out2.get(), 0, elems), reference)));
    }
    add(c.name, what, ms, pairs, note);
  }
#endif

  void table() {
    out_ << "\n=== summary (" << device_.name
         << "; fp16 (P1-fp8: an e4m3 pool, q and out fp16), 32 q / 8 KV heads, head dim 128, "
            "block 16, "
         << "blocks scattered; median of " << o_.repetitions << " runs; TFLOP/s = 4 x 128 x 32 x "
         << "keys attended summed over queries / time; peak: cuBLAS fp16 GEMM "
         << fmt("%.1f", peak_tflops_) << " TFLOP/s)\n";
    out_ << "| config | what | ms | TFLOP/s | % of peak | notes |\n| --- | --- | --- | --- | --- | "
            "--- |\n";
    for (const Row& r : rows_) {
      out_ << "| " << r.config << " | " << r.what << " | " << fmt("%.4f", r.ms) << " | "
           << fmt("%.1f", r.tflops) << " | " << fmt("%.1f", r.percent) << " | " << r.note << " |\n";
    }
  }

  const PrefillBenchOptions& o_;
  std::ostream& out_;
  DeviceInfo device_;
  Timer timer_;
  double peak_tflops_ = 0.0;
  std::vector<Row> rows_;
};

}  // namespace

bool prefill_bench_has_flashinfer() {
#ifdef TINYSERVE_HAVE_FLASHINFER_PREFILL
  return true;
#else
  return false;
#endif
}

int run_prefill_bench(const PrefillBenchOptions& options, std::ostream& out) {
  const DeviceInfo device = query_device();
  if (!device.available) {
    out << "no CUDA device: " << device.reason << "\n";
    return 1;
  }
  out << device.name << ", " << device.multiprocessors << " SMs\n";
  try {
    Bench(options, out, device).run();
  } catch (const std::exception& e) {
    out << "prefill bench failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tinyserve::gpu
