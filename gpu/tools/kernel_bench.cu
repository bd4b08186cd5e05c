#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "gpu/decode_attention.h"
#include "gpu/cache_ops.h"
#include "gpu/cuda_check.h"
#include "gpu/device.h"
#include "gpu/dtype.cuh"
#include "gpu/tools/kernel_bench.h"

namespace tinyserve::gpu {
namespace {

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class DeviceMemory {
 public:
  DeviceMemory() = default;
  explicit DeviceMemory(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) TS_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
  }
  DeviceMemory(DeviceMemory&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr; }
  DeviceMemory& operator=(DeviceMemory&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~DeviceMemory() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

template <typename T>
DeviceMemory upload(const std::vector<T>& host) {
  DeviceMemory d(host.size() * sizeof(T));
  if (!host.empty()) {
    TS_CUDA_CHECK(cudaMemcpy(d.get(), host.data(), d.bytes(), cudaMemcpyHostToDevice));
  }
  return d;
}

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
      throw BenchError("fill_random: fp8 is not supported");
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

  // The version the layout comparisons use: v5 if asked for, else v4.
  KernelVersion fast() const {
    const auto& v = o_.versions;
    return std::find(v.begin(), v.end(), KernelVersion::kV5) != v.end() ? KernelVersion::kV5
                                                                        : KernelVersion::kV4;
  }
  std::string fast_name() const { return std::string(kernel_version_name(fast())); }

  void attention_config(const Config& c) {
    const std::vector<int32_t> lens = lengths(c);
    out_ << "\nconfig " << c.name << ": batch " << c.batch << ", context " << c.min_len << ".."
         << c.max_len << ", " << c.heads << " q heads / " << c.kv_heads << " KV heads, head dim "
         << c.head_dim << ", " << dtype_name(c.dtype) << ", block size " << c.block_size << "\n";
    PagedSetup p = make_paged(c, lens, c.block_size, o_.seed);
    const int64_t out_elems = static_cast<int64_t>(c.batch) * c.heads * c.head_dim;
    DeviceMemory workspace(
        plan_attention(KernelVersion::kV4, c.dtype, p.batch, c.kv_heads, c.head_dim, {128})
            .workspace_bytes);
    std::vector<float> fast_out;
    std::vector<std::pair<std::string, std::vector<float>>> outputs;
    double fast_ms = 0.0;
    AttentionOptions auto_options;
    auto_options.host_context_lens = lens.data();
    for (KernelVersion v : o_.versions) {
      const AttentionPlan plan =
          plan_attention(v, c.dtype, p.batch, c.kv_heads, c.head_dim, auto_options);
      const auto launch = [&] {
        return paged_attention(plan, p.cache, p.batch, workspace.get(), nullptr);
      };
      TS_CUDA_CHECK(cudaMemset(p.out.get(), 0xff, p.out.bytes()));
      const double estimate = timer_.once_ms(launch);
      outputs.emplace_back(std::string(kernel_version_name(v)),
                           download(p.out.get(), c.dtype, out_elems));
      const int reps = reps_for(v, estimate);
      const int warmup = reps < o_.repetitions ? 0 : o_.warmup;
      const double ms = timer_.median_ms(launch, warmup, reps);
      std::string note =
          plan.max_splits > 1 ? cat("partition ", plan.partition_tokens, " tokens") : "";
      if (const int32_t ctas = attention_ctas_per_sm(plan, p.cache, p.batch); ctas > 0) {
        note += cat(note.empty() ? "" : ", ", ctas, " CTAs/SM");
      }
      row(c.name, cat(kernel_version_name(v), " paged"), ms, p.bytes, reps, note);
      if (v == fast()) {
        fast_ms = ms;
        fast_out = outputs.back().second;
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
    const AttentionPlan plan =
        plan_attention(fast(), c.dtype, p.batch, c.kv_heads, c.head_dim, contiguous_options);
    for (bool padded : {false, true}) {
      contiguous.read_padded = padded;
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
        row(c.name, fast_name() + " padded batch", ms, p.bytes, o_.repetitions,
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
            plan_attention(fast(), c.dtype, p.batch, c.kv_heads, c.head_dim, options);
        DeviceMemory ws(pp.workspace_bytes);
        const double ms = timer_.median_ms(
            [&] { return paged_attention(pp, p.cache, p.batch, ws.get(), nullptr); }, o_.warmup,
            o_.repetitions);
        row(c.name, cat(fast_name(), " paged, partition ", part), ms, p.bytes, o_.repetitions,
            "sweep");
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
      DeviceMemory ws(plan.workspace_bytes);
      const double ms = timer_.median_ms(
          [&] { return paged_attention(plan, p.cache, p.batch, ws.get(), nullptr); }, o_.warmup,
          o_.repetitions);
      const std::string note =
          contiguous_ms > 0 ? cat("paged / contiguous ", fmt("%.4f", ms / contiguous_ms)) : "";
      row(cat("B bs", bs), fast_name() + " paged", ms, p.bytes, o_.repetitions, note);
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
