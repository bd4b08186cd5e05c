#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/config/hardware.h"
#include "core/config/model.h"
#include "core/text/text_file.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_executor.h"
#include "gpu/device.h"
#include "gpu/dtype.cuh"
#include "gpu/tools/calibrate.h"
#include "gpu/tools/device_memory.h"

#define TS_CUBLAS_CHECK(call)                                                                 \
  do {                                                                                        \
    const cublasStatus_t ts_st_ = (call);                                                     \
    if (ts_st_ != CUBLAS_STATUS_SUCCESS) {                                                    \
      throw ::tinyserve::gpu::CudaError(::tinyserve::cat(                                     \
          __FILE__, ":", __LINE__, ": ", #call, " failed: ", cublasGetStatusString(ts_st_))); \
    }                                                                                         \
  } while (0)

namespace tinyserve::gpu {
namespace {

// Uniform values in [-scale, scale) from a hash of (seed, index): reproducible, never zeros.
template <typename T>
__global__ void fill_random_kernel(T* p, int64_t n, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t x = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull));
    const float u = static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) / 8388608.0f;
    p[i] = from_float<T>(u * scale);
  }
}

void fill_random(void* p, DType t, int64_t n, uint64_t seed, float scale, cudaStream_t stream) {
  if (t == DType::kF16) {
    fill_random_kernel<<<1024, 256, 0, stream>>>(static_cast<__half*>(p), n, seed, scale);
  } else {
    fill_random_kernel<<<1024, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(p), n, seed, scale);
  }
  TS_CUDA_CHECK(cudaGetLastError());
}

__global__ void empty_kernel() {}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 == 1 ? v[h] : (v[h - 1] + v[h]) / 2;
}

// Four significant digits: what the profile keeps (the repetitions spread more than that).
double round4(double v) {
  if (v <= 0) return v;
  const double scale = std::pow(10.0, 3 - std::floor(std::log10(v)));
  return std::round(v * scale) / scale;
}

cudaDataType cuda_type(DType t) {
  return t == DType::kF16 ? CUDA_R_16F : CUDA_R_16BF;
}

class Events {
 public:
  Events() {
    TS_CUDA_CHECK(cudaEventCreate(&start_));
    TS_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Events() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  Events(const Events&) = delete;
  Events& operator=(const Events&) = delete;
  void start(cudaStream_t s) { TS_CUDA_CHECK(cudaEventRecord(start_, s)); }
  double stop_ms(cudaStream_t s) {
    TS_CUDA_CHECK(cudaEventRecord(stop_, s));
    TS_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    TS_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// One GEMM of a layer as launched: `groups` weights of [n, k], each over m tokens.
struct Launch {
  int32_t n = 0, k = 0, groups = 1, weight_groups = 1, m = 0;
};

// The dense layers' GEMMs with cuBLAS on dummy random weights. Each weight shape has enough
// copies that together they exceed the L2 cache three times, and successive launches rotate
// through them: every launch reads its weights from device memory, as a model's layers do.
class GemmRunner {
 public:
  explicit GemmRunner(size_t l2_bytes) : l2_bytes_(std::max<size_t>(l2_bytes, 32u << 20)) {
    TS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    TS_CUBLAS_CHECK(cublasCreate(&handle_));
    TS_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
  }
  ~GemmRunner() {
    if (handle_ != nullptr) cublasDestroy(handle_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  GemmRunner(const GemmRunner&) = delete;
  GemmRunner& operator=(const GemmRunner&) = delete;

  void release() {
    weights_.clear();
    x_ = DeviceMemory();
    y_ = DeviceMemory();
  }

  // Median microseconds of one launch (groups > 1: a strided-batched GEMM).
  double time_gemm_us(DType t, const Launch& l, int32_t repetitions) {
    return time_us(t, std::vector<Launch>{l}, repetitions);
  }

  // Median microseconds of one layer's launches in order, each layer on its own weights.
  double time_us(DType t, const std::vector<Launch>& layer, int32_t repetitions) {
    size_t x_elems = 0, y_elems = 0;
    for (const Launch& l : layer) {
      x_elems = std::max(x_elems, static_cast<size_t>(l.groups) * l.m * l.k);
      y_elems = std::max(y_elems, static_cast<size_t>(l.groups) * l.m * l.n);
    }
    ensure_activations(t, x_elems, y_elems);
    std::vector<const std::vector<DeviceMemory>*> sets;
    for (const Launch& l : layer) sets.push_back(&weights(t, l.n, l.k, l.weight_groups));
    const auto run = [&](int32_t layers) {
      for (int32_t i = 0; i < layers; ++i, ++turn_) {
        for (size_t j = 0; j < layer.size(); ++j) {
          const auto& copies = *sets[j];
          launch(t, layer[j], copies[turn_ % copies.size()].get());
        }
      }
    };
    run(2);
    events_.start(stream_);
    run(1);
    const double pilot_ms = events_.stop_ms(stream_);
    // About a millisecond per timed batch, so that launches queue ahead of the GPU.
    const auto inner = static_cast<int32_t>(std::clamp(1.0 / std::max(pilot_ms, 1e-4), 1.0, 64.0));
    const int32_t reps = pilot_ms > 2.0 ? std::min(repetitions, 3) : repetitions;
    std::vector<double> us;
    for (int32_t r = 0; r < reps; ++r) {
      events_.start(stream_);
      run(inner);
      us.push_back(events_.stop_ms(stream_) * 1e3 / inner);
    }
    return median(us);
  }

 private:
  void launch(DType t, const Launch& l, const void* w) {
    const float alpha = 1.0f, beta = 0.0f;
    const cudaDataType type = cuda_type(t);
    if (l.groups == 1) {
      TS_CUBLAS_CHECK(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, l.n, l.m, l.k, &alpha, w,
                                   type, l.k, x_.get(), type, l.k, &beta, y_.get(), type, l.n,
                                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    } else {
      TS_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
          handle_, CUBLAS_OP_T, CUBLAS_OP_N, l.n, l.m, l.k, &alpha, w, type, l.k,
          static_cast<long long>(l.n) * l.k, x_.get(), type, l.k, static_cast<long long>(l.m) * l.k,
          &beta, y_.get(), type, l.n, static_cast<long long>(l.m) * l.n, l.groups,
          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
  }

  const std::vector<DeviceMemory>& weights(DType t, int32_t n, int32_t k, int32_t groups) {
    const auto key = std::make_tuple(t, n, k, groups);
    auto it = weights_.find(key);
    if (it != weights_.end()) return it->second;
    const size_t elems = static_cast<size_t>(n) * k * groups;
    const size_t bytes = elems * 2;
    const size_t copies = std::clamp<size_t>((3 * l2_bytes_ + bytes - 1) / bytes, 2, 16);
    std::vector<DeviceMemory> set;
    for (size_t c = 0; c < copies; ++c) {
      set.emplace_back(bytes);
      // Weights of a trained layer's scale: outputs stay finite in fp16 for any k here.
      fill_random(set.back().get(), t, static_cast<int64_t>(elems), seed_++, 0.05f, stream_);
    }
    TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return weights_.emplace(key, std::move(set)).first->second;
  }

  void ensure_activations(DType t, size_t x_elems, size_t y_elems) {
    if (x_elems * 2 > x_.bytes() || t != x_type_) {
      x_ = DeviceMemory();
      x_ = DeviceMemory(std::max<size_t>(x_elems * 2, 1u << 20));
      fill_random(x_.get(), t, static_cast<int64_t>(x_.bytes() / 2), seed_++, 1.0f, stream_);
      x_type_ = t;
    }
    if (y_elems * 2 > y_.bytes()) {
      y_ = DeviceMemory();
      y_ = DeviceMemory(std::max<size_t>(y_elems * 2, 1u << 20));
    }
    TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  size_t l2_bytes_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  Events events_;
  std::map<std::tuple<DType, int32_t, int32_t, int32_t>, std::vector<DeviceMemory>> weights_;
  DeviceMemory x_, y_;
  DType x_type_ = DType::kF32;
  uint64_t seed_ = 0x5eed;
  size_t turn_ = 0;
};

// The step's attention and block moves through the CUDA executor, one layer. Each timed run
// first overwrites a buffer of twice the L2 cache, so that K/V come from device memory as they
// do in a model whose other layers ran in between.
class AttentionRunner {
 public:
  AttentionRunner(const KvGeometry& g, size_t l2_bytes) {
    auto made = CudaExecutor::create(g);
    if (!made.ok()) throw CudaError(made.status.error);
    executor_ = std::move(made.value);
    TS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    flush_ = DeviceMemory(std::max<size_t>(2 * l2_bytes, 64u << 20));
  }
  ~AttentionRunner() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  AttentionRunner(const AttentionRunner&) = delete;
  AttentionRunner& operator=(const AttentionRunner&) = delete;

  const KvGeometry& geometry() const { return executor_->geometry(); }

  // Writes synthetic K/V into every slot of the pool (the executor starts from zeros, and
  // timing must not run on zeros), through plans with new tokens and no attention.
  void fill_pool() {
    const KvGeometry& g = geometry();
    const int64_t slots = static_cast<int64_t>(g.num_gpu_blocks) * g.block_size;
    const int64_t chunk = 16384;
    for (int64_t first = 0; first < slots; first += chunk) {
      StepPlan plan;
      plan.block_size = g.block_size;
      for (int64_t s = first; s < std::min(slots, first + chunk); ++s) {
        plan.slot_mapping.push_back(s);
        plan.new_tokens.push_back(static_cast<TokenId>(s % 32000));
        plan.new_positions.push_back(static_cast<int32_t>(s % 4096));
      }
      run(plan);
    }
  }

  StageTimes run(const StepPlan& plan) {
    const StepResult r = executor_->execute(plan);
    if (!r.ok()) throw CudaError("calibration plan failed: " + r.status.error);
    return r.times;
  }

  // Medians over the repetitions of each stage's time (ms), after one untimed run.
  // Long runs (over 5 ms) get at most 3 repetitions.
  KernelTimes time(const StepPlan& plan, int32_t repetitions) {
    const StageTimes warm = run(plan);
    if (warm.total_ms() > 5) repetitions = std::min(repetitions, 3);
    std::vector<double> prefill, decode, copy, swap, write;
    for (int32_t i = 0; i < repetitions; ++i) {
      TS_CUDA_CHECK(cudaMemsetAsync(flush_.get(), i & 0xff, flush_.bytes(), stream_));
      TS_CUDA_CHECK(cudaStreamSynchronize(stream_));
      const StageTimes t = run(plan);
      prefill.push_back(t.prefill_attention_ms);
      decode.push_back(t.decode_attention_ms);
      copy.push_back(t.copy_blocks_ms);
      swap.push_back(t.swap_in_ms + t.swap_out_ms);
      write.push_back(t.write_kv_ms);
    }
    KernelTimes k;
    k.prefill_attention_ms = median(prefill);
    k.decode_attention_ms = median(decode);
    k.attention_ms = k.prefill_attention_ms + k.decode_attention_ms;
    k.copy_ms = median(copy);
    k.swap_ms = median(swap);
    k.write_ms = median(write);
    return k;
  }

  const std::string& device_name() const { return executor_->device_name(); }

 private:
  std::unique_ptr<CudaExecutor> executor_;
  cudaStream_t stream_ = nullptr;
  DeviceMemory flush_;
};

// Synthetic plans over a shuffled pool: sequences get distinct blocks, scattered as a long-running
// pool scatters them.
class PlanMaker {
 public:
  PlanMaker(int32_t num_blocks, int32_t block_size, uint64_t seed)
      : block_size_(block_size), order_(static_cast<size_t>(num_blocks)) {
    std::iota(order_.begin(), order_.end(), 0);
    Rng rng(seed);
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i)]);
  }

  int64_t tokens() const { return static_cast<int64_t>(order_.size()) * block_size_; }

  // `batch` decodes of `context` tokens each.
  StepPlan decode(int32_t batch, int32_t context) const { return make(0, 0, 0, batch, context); }
  // `chunks` chunks of `length` tokens after `prefix` cached ones.
  StepPlan prefill(int32_t chunks, int32_t length, int32_t prefix) const {
    return make(chunks, length, prefix, 0, 0);
  }

 private:
  StepPlan make(int32_t chunks, int32_t length, int32_t prefix, int32_t decodes,
                int32_t context) const {
    StepPlan p;
    p.block_size = block_size_;
    p.max_blocks_per_seq = std::max((prefix + length + block_size_ - 1) / block_size_,
                                    (context + block_size_ - 1) / block_size_);
    size_t next = 0;
    p.query_start.push_back(0);
    const auto add = [&](int32_t first, int32_t count, int32_t len) {
      std::vector<int32_t> table(static_cast<size_t>(p.max_blocks_per_seq), -1);
      for (int32_t b = 0; b < (len + block_size_ - 1) / block_size_; ++b) table[b] = order_[next++];
      for (int32_t pos = first; pos < first + count; ++pos) {
        p.slot_mapping.push_back(int64_t{table[pos / block_size_]} * block_size_ +
                                 pos % block_size_);
        p.new_tokens.push_back(pos % 32000);
        p.new_positions.push_back(pos);
      }
      p.block_tables.insert(p.block_tables.end(), table.begin(), table.end());
      p.context_lens.push_back(len);
      p.batch_seqs.push_back(static_cast<SeqId>(p.context_lens.size()));
      p.query_start.push_back(static_cast<int32_t>(p.slot_mapping.size()));
    };
    for (int32_t c = 0; c < chunks; ++c) add(prefix, length, prefix + length);
    p.num_prefills = chunks;
    for (int32_t d = 0; d < decodes; ++d) add(context - 1, 1, context);
    return p;
  }

  int32_t block_size_;
  std::vector<int32_t> order_;
};

// Token counts from 1 to max: every power of two, and `per_octave` - 1 points between them from
// 16 on (multiples of 8 above 64).
std::vector<int32_t> token_grid(int32_t max, int32_t per_octave) {
  std::set<int32_t> out;
  for (int32_t v : {1, 2, 3, 4, 6, 8, 12}) {
    if (v <= max) out.insert(v);
  }
  for (int64_t base = 16; base <= max; base *= 2) {
    for (int32_t i = 0; i < per_octave; ++i) {
      auto v = static_cast<int64_t>(
          std::llround(static_cast<double>(base) * std::exp2(static_cast<double>(i) / per_octave)));
      if (v > 64) v = (v + 7) / 8 * 8;
      if (v <= max) out.insert(static_cast<int32_t>(v));
    }
  }
  out.insert(max);
  return {out.begin(), out.end()};
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
  return buf;
}

// The GPU preset whose name's parts all appear in the device's name; the longest such name.
std::string preset_for_device(const std::string& device) {
  const std::string name = ascii_lower(device);
  std::string best;
  for (const GpuSpec& g : gpu_presets()) {
    const std::string preset = ascii_lower(g.name);
    bool all = true;
    size_t start = 0;
    while (start <= preset.size()) {
      const size_t dash = std::min(preset.find('-', start), preset.size());
      if (name.find(preset.substr(start, dash - start)) == std::string::npos) all = false;
      start = dash + 1;
    }
    if (all && preset.size() > best.size()) best = preset;
  }
  return best.empty() ? ascii_lower(device) : best;
}

std::vector<Launch> layer_launches(const std::vector<WeightGemm>& gemms, int64_t tokens) {
  std::vector<Launch> out;
  for (const WeightGemm& g : gemms) {
    Launch l;
    l.n = g.n;
    l.k = g.k;
    if (g.routed()) {
      const int64_t routed = tokens * g.experts_per_token;
      l.groups = static_cast<int32_t>(std::min<int64_t>(g.experts, routed));
      l.weight_groups = g.experts;
      l.m = static_cast<int32_t>((routed + l.groups - 1) / l.groups);
    } else {
      l.m = static_cast<int32_t>(tokens);
    }
    out.push_back(l);
  }
  return out;
}

// The models calibrate covers by default: every preset with standard attention.
std::vector<std::string> default_models() {
  std::vector<std::string> out;
  for (const ModelSpec& m : model_presets()) {
    if (!m.is_mla()) out.push_back(m.name);
  }
  return out;
}

struct GemmKey {
  DType dtype;
  int32_t n, k, groups, max_m;
  bool operator<(const GemmKey& o) const {
    return std::tie(dtype, n, k, groups) < std::tie(o.dtype, o.n, o.k, o.groups);
  }
};

}  // namespace

GpuProfile calibrate(const CalibrateOptions& options, std::ostream& log) {
  const DeviceInfo device = query_device();
  if (!device.available) throw CudaError("no CUDA device: " + device.reason);
  GpuProfile p;
  p.device = device.name;
  p.gpu = options.gpu_name.empty() ? preset_for_device(device.name) : ascii_lower(options.gpu_name);
  p.date = today();
  p.command = options.command;
  const int32_t reps = std::max(options.repetitions, 1);
  log << "calibrating " << device.name << " as \"" << p.gpu << "\"" << std::endl;

  std::vector<ModelSpec> models;
  for (const std::string& name : options.models.empty() ? default_models() : options.models) {
    models.push_back(find_model(name));
  }

  // (c) An empty kernel's launch, back to back: the floor of every step's kernels.
  {
    cudaStream_t stream;
    TS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    Events events;
    for (int i = 0; i < 100; ++i) empty_kernel<<<1, 32, 0, stream>>>();
    TS_CUDA_CHECK(cudaGetLastError());
    std::vector<double> us;
    for (int r = 0; r < reps; ++r) {
      events.start(stream);
      for (int i = 0; i < 2000; ++i) empty_kernel<<<1, 32, 0, stream>>>();
      TS_CUDA_CHECK(cudaGetLastError());
      us.push_back(events.stop_ms(stream) * 1e3 / 2000);
    }
    TS_CUDA_CHECK(cudaStreamDestroy(stream));
    p.launch_us = round4(median(us));
    log << "empty kernel launch: " << p.launch_us << " us" << std::endl;
  }

  // (a) The dense layers' GEMMs of every model, one table per weight shape.
  std::set<GemmKey> keys;
  for (const ModelSpec& m : models) {
    const ModelShapes s = model_shapes(m);
    for (const WeightGemm& g : s.gemms) {
      GemmKey key{s.dtype, g.n, g.k, g.routed() ? g.experts : 1, 16384};
      if (g.routed()) key.max_m = std::max(1, 16384 * g.experts_per_token / g.experts);
      auto [it, added] = keys.insert(key);
      if (!added && it->max_m < key.max_m) {
        keys.erase(it);
        keys.insert(key);
      }
    }
    if (s.lm_head.n > 0) keys.insert({s.dtype, s.lm_head.n, s.lm_head.k, 1, 4096});
    log << m.name << ": an empty step launches "
        << s.attention_layers * (static_cast<int64_t>(s.gemms.size()) + 2) + 1 << " kernels ("
        << (s.attention_layers * (static_cast<int64_t>(s.gemms.size()) + 2) + 1) * p.launch_us *
               1e-3
        << " ms)" << std::endl;
  }
  {
    GemmRunner gemms(device.l2_bytes);
    for (const GemmKey& key : keys) {
      // Large weights get one point per octave (their time is linear in m well before 16k).
      const double size = static_cast<double>(key.n) * key.k * key.groups;
      const int32_t per_octave = options.quick ? 1 : size > 2.7e8 ? 1 : 3;
      GemmTable t;
      t.dtype = key.dtype;
      t.n = key.n;
      t.k = key.k;
      t.groups = key.groups;
      t.tokens = token_grid(options.quick ? std::min(key.max_m, 1024) : key.max_m, per_octave);
      for (int32_t m : t.tokens) {
        Launch l{key.n, key.k, key.groups, key.groups, m};
        t.us.push_back(round4(gemms.time_gemm_us(key.dtype, l, reps)));
      }
      const double peak_tflops = 2.0 * size * t.tokens.back() / (t.us.back() * 1e-6) / 1e12;
      log << "gemm " << dtype_name(key.dtype) << " n=" << key.n << " k=" << key.k
          << " groups=" << key.groups << ": " << t.us.front() << " us at m=1, " << t.us.back()
          << " us at m=" << t.tokens.back() << " (" << peak_tflops << " TFLOP/s)" << std::endl;
      p.gemms.push_back(std::move(t));
      gemms.release();
    }
  }

  // (b) Attention from the executor's kernels, per attention shape; copies and swaps once.
  std::vector<AttentionShape> shapes;
  std::map<std::string, std::vector<std::string>> users;
  for (const ModelSpec& m : models) {
    if (m.is_mla()) continue;
    AttentionShape a{m.dtype == DType::kF16 ? DType::kF16 : DType::kBF16, m.num_heads,
                     m.num_kv_heads, m.head_dim, 16};
    if (std::find(shapes.begin(), shapes.end(), a) == shapes.end()) shapes.push_back(a);
  }
  const std::vector<int32_t> batches =
      options.quick ? std::vector<int32_t>{1, 8, 64, 512}
                    : std::vector<int32_t>{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  const std::vector<int32_t> contexts =
      options.quick ? std::vector<int32_t>{64, 1024, 16384}
                    : std::vector<int32_t>{16,   32,   64,   128,   256,   512,   1024,
                                           2048, 4096, 8192, 16384, 32768, 65536, 131072};
  const std::vector<int32_t> chunk_counts =
      options.quick ? std::vector<int32_t>{1, 16} : std::vector<int32_t>{1, 4, 16, 64, 256};
  const std::vector<int32_t> prefixes =
      options.quick ? std::vector<int32_t>{0, 2048}
                    : std::vector<int32_t>{0, 256, 1024, 4096, 16384, 65536};
  const std::vector<int32_t> lengths = token_grid(16384, 1);
  bool moved = false;
  for (const AttentionShape& a : shapes) {
    KvGeometry g;
    g.num_layers = 1;
    g.model_layers = 1;
    g.num_heads = a.num_heads;
    g.num_kv_heads = a.num_kv_heads;
    g.head_dim = a.head_dim;
    g.block_size = a.block_size;
    g.dtype = a.dtype;
    g.num_cpu_blocks = 1024;
    const int64_t token_bytes = g.block_bytes() * 2 / g.block_size;
    const DeviceInfo now = query_device();
    const int64_t budget =
        std::min<int64_t>(static_cast<int64_t>(now.free_memory) / 2, int64_t{24} << 30);
    const int64_t pool_tokens =
        std::min<int64_t>(options.quick ? 1 << 20 : 1536 << 10, budget / token_bytes);
    g.num_gpu_blocks = static_cast<int32_t>(pool_tokens / g.block_size);
    g.seed = 7;
    AttentionRunner runner(g, device.l2_bytes);
    runner.fill_pool();
    const PlanMaker plans(g.num_gpu_blocks, g.block_size, 11);
    const std::string label = cat(dtype_name(a.dtype), " ", a.num_heads, "/", a.num_kv_heads, "x",
                                  a.head_dim, " block ", a.block_size);

    DecodeTable d;
    d.shape = a;
    for (int32_t b : batches) {
      DecodeRow row;
      row.batch = b;
      for (int32_t c : contexts) {
        if (int64_t{b} * ((c + g.block_size - 1) / g.block_size * g.block_size) > plans.tokens())
          break;
        row.context.push_back(c);
        row.us.push_back(round4(runner.time(plans.decode(b, c), reps).decode_attention_ms * 1e3));
      }
      if (!row.context.empty()) d.rows.push_back(std::move(row));
    }
    log << "decode " << label << ": " << d.rows.size() << " batch sizes, "
        << (d.rows.empty() ? 0 : d.rows.front().us.front()) << " us at batch "
        << (d.rows.empty() ? 0 : d.rows.front().batch) << " x "
        << (d.rows.empty() ? 0 : d.rows.front().context.front()) << " tokens" << std::endl;
    p.decodes.push_back(std::move(d));

    PrefillTable t;
    t.shape = a;
    const double flops_per_pair = 4.0 * a.num_heads * a.head_dim;
    for (int32_t n : chunk_counts) {
      for (int32_t prefix : prefixes) {
        PrefillRow row;
        row.chunks = n;
        row.prefix = prefix;
        for (int32_t q : lengths) {
          const int64_t per_seq =
              (int64_t{prefix} + q + g.block_size - 1) / g.block_size * g.block_size;
          const double pairs =
              static_cast<double>(n) * (static_cast<double>(q) * prefix + q * (q + 1.0) / 2);
          // Within the pool, at most 64k new tokens, at most ~20 TFLOP a launch.
          if (int64_t{n} * per_seq > plans.tokens() || int64_t{n} * q > 65536 ||
              pairs * flops_per_pair > 2e13) {
            break;
          }
          row.length.push_back(q);
          row.us.push_back(
              round4(runner.time(plans.prefill(n, q, prefix), reps).prefill_attention_ms * 1e3));
        }
        if (!row.length.empty()) t.rows.push_back(std::move(row));
      }
    }
    log << "prefill " << label << ": " << t.rows.size() << " rows" << std::endl;
    p.prefills.push_back(std::move(t));

    if (!moved) {
      // Block copies within the pool and swaps to pinned host memory, 1,024 blocks each.
      StepPlan copies;
      copies.block_size = g.block_size;
      StepPlan swaps = copies;
      for (int32_t i = 0; i < 1024; ++i) {
        copies.copies.push_back({i, g.num_gpu_blocks - 1 - i});
        swaps.swap_out.push_back({i, i});
      }
      const double bytes = 1024.0 * 2 * static_cast<double>(g.block_bytes());
      p.copy_gb_s = round4(bytes / (runner.time(copies, reps).copy_ms * 1e-3) / 1e9);
      p.swap_gb_s = round4(bytes / (runner.time(swaps, reps).swap_ms * 1e-3) / 1e9);
      log << "block copies " << p.copy_gb_s << " GB/s, swaps " << p.swap_gb_s << " GB/s"
          << std::endl;
      moved = true;
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------

struct StepMeasurer::Impl {
  Impl(const KvGeometry& g, size_t l2) : attention(g, l2), gemms(l2) {}
  AttentionRunner attention;
  GemmRunner gemms;
  ModelShapes shapes;
  int32_t repetitions = 3;
  // Layers sharing a weight set, in the model's order: (layers, their GEMMs).
  std::vector<std::pair<int32_t, std::vector<WeightGemm>>> kinds;
  std::map<int64_t, double> gemm_ms, lm_head_ms;
};

Expected<std::unique_ptr<StepMeasurer>> StepMeasurer::create(const KvGeometry& geometry,
                                                             const ModelShapes& shapes,
                                                             int32_t repetitions) {
  Expected<std::unique_ptr<StepMeasurer>> out;
  const DeviceInfo device = query_device();
  if (!device.available) {
    out.status = Status::failure("no CUDA device: " + device.reason);
    return out;
  }
  try {
    auto impl = std::make_unique<Impl>(geometry, device.l2_bytes);
    impl->shapes = shapes;
    impl->repetitions = std::max(repetitions, 1);
    for (const WeightGemm& g : shapes.gemms) {
      auto it = std::find_if(impl->kinds.begin(), impl->kinds.end(),
                             [&](const auto& k) { return k.first == g.layers; });
      if (it == impl->kinds.end()) {
        impl->kinds.push_back({g.layers, {}});
        it = impl->kinds.end() - 1;
      }
      it->second.push_back(g);
    }
    impl->attention.fill_pool();
    out.value.reset(new StepMeasurer(std::move(impl)));
  } catch (const CudaError& e) {
    out.status = Status::failure(e.what());
  }
  return out;
}

StepMeasurer::StepMeasurer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StepMeasurer::~StepMeasurer() = default;

std::string StepMeasurer::description() const {
  return "cuda (measuring): " + impl_->attention.device_name();
}

KernelTimes StepMeasurer::execute(const StepPlan& plan) {
  try {
    return impl_->attention.time(plan, impl_->repetitions);
  } catch (const CudaError& e) {
    throw BackendError(e.what());
  }
}

double StepMeasurer::gemm_ms(int64_t tokens) {
  if (tokens <= 0 || impl_->kinds.empty()) return 0;
  auto [it, added] = impl_->gemm_ms.emplace(tokens, 0.0);
  if (!added) return it->second;
  double us = 0;
  for (const auto& [layers, gemms] : impl_->kinds) {
    us += layers * impl_->gemms.time_us(impl_->shapes.dtype, layer_launches(gemms, tokens),
                                        impl_->repetitions);
  }
  it->second = us * 1e-3;
  return it->second;
}

double StepMeasurer::lm_head_ms(int64_t sampled) {
  const WeightGemm& h = impl_->shapes.lm_head;
  if (sampled <= 0 || h.n == 0) return 0;
  auto [it, added] = impl_->lm_head_ms.emplace(sampled, 0.0);
  if (!added) return it->second;
  const Launch l{h.n, h.k, 1, 1, static_cast<int32_t>(sampled)};
  it->second = impl_->gemms.time_gemm_us(impl_->shapes.dtype, l, impl_->repetitions) * 1e-3;
  return it->second;
}

}  // namespace tinyserve::gpu
