#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <numeric>
#include <stdexcept>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/execution/key_bounds.h"
#include "core/execution/selection.h"
#include "gpu/cache_ops.h"
#include "gpu/cuda_check.h"
#include "gpu/decode_attention.h"
#include "gpu/device.h"
#include "gpu/dtype.cuh"
#include "gpu/selection.h"
#include "gpu/tools/device_memory.h"
#include "gpu/tools/selection_bench.h"

namespace tinyserve::gpu {
namespace {

// The issue's configuration: 32 query heads over 8 KV heads, head dim 128, fp16, blocks of 16.
inline constexpr int32_t kHeads = 32;
inline constexpr int32_t kKvHeads = 8;
inline constexpr int32_t kHeadDim = 128;
inline constexpr int32_t kBlockSize = 16;
inline constexpr DType kDType = DType::kF16;

// Uniform fp16 values in [-1, 1) from a hash of (seed, index): never all zeros.
__global__ void fill_kernel(__half* p, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t x = splitmix64(seed ^ (static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull));
    p[i] = __float2half_rn(static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) *
                           (1.0f / 8388608.0f));
  }
}

void fill(void* p, int64_t n, uint64_t seed) {
  fill_kernel<<<2048, 256>>>(static_cast<__half*>(p), n, seed);
  TS_CUDA_CHECK(cudaGetLastError());
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
  // before every timed run, so no run starts with its inputs cached.
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

 private:
  DeviceMemory flush_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

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
  if (acc == 0x9e3779b9u) sink[0] = make_uint4(acc, 0, 0, 0);
}

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

// A pool holding `batch` sequences of `context` tokens in randomly scattered blocks, their key
// bounds, and the decode queries at the last position.
struct Pool {
  DeviceMemory k, v, bounds, tables, lens, q, out;
  PagedKv cache;
  KeyBounds key_bounds;
  DecodeBatch batch;
  std::vector<int32_t> host_lens, host_tables;
  int32_t blocks_per_seq = 0;

  Pool(int32_t batch_size, int32_t context, uint64_t seed) {
    blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
    const int64_t used = static_cast<int64_t>(batch_size) * blocks_per_seq;
    const auto num_blocks = static_cast<int32_t>(used + used / 8 + 8);
    Rng rng(seed);
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    host_tables.assign(perm.begin(), perm.begin() + used);
    host_lens.assign(static_cast<size_t>(batch_size), context);
    cache = {nullptr, nullptr, kDType, 1, num_blocks, kKvHeads, kBlockSize, kHeadDim, {}};
    key_bounds = {nullptr, key_bounds_dtype(kDType), 1, num_blocks, kKvHeads, kHeadDim};
    const int64_t elems = cache.layer_elements();
    k = DeviceMemory(static_cast<size_t>(elems * dtype_size(kDType)));
    v = DeviceMemory(k.bytes());
    bounds = DeviceMemory(static_cast<size_t>(key_bounds.layer_elements() * dtype_size(kDType)));
    fill(k.get(), elems, seed * 3 + 1);
    fill(v.get(), elems, seed * 3 + 2);
    cache.k = k.get();
    cache.v = v.get();
    key_bounds.data = bounds.get();
    const int64_t q_elems = static_cast<int64_t>(batch_size) * kHeads * kHeadDim;
    q = DeviceMemory(static_cast<size_t>(q_elems * dtype_size(kDType)));
    out = DeviceMemory(q.bytes());
    fill(q.get(), q_elems, seed * 3 + 3);
    tables = upload(host_tables);
    lens = upload(host_lens);
    batch.q = q.get();
    batch.out = out.get();
    batch.block_tables = tables.get<int32_t>();
    batch.context_lens = lens.get<int32_t>();
    batch.batch = batch_size;
    batch.num_heads = kHeads;
    batch.max_blocks_per_seq = blocks_per_seq;
    batch.max_context_len = context;
    batch.scale = attention_scale(kHeadDim);
    // Every block's bounds, from its keys (a whole-prefill update).
    std::vector<BlockWrite> writes;
    writes.reserve(static_cast<size_t>(used));
    for (int32_t b = 0; b < batch_size; ++b) {
      for (int32_t j = 0; j < blocks_per_seq; ++j) {
        const int32_t filled = std::min(kBlockSize, context - j * kBlockSize);
        writes.push_back({host_tables[static_cast<size_t>(b) * blocks_per_seq + j], 0, filled - 1});
      }
    }
    const DeviceMemory d_writes = upload(writes);
    TS_CUDA_CHECK(update_key_bounds(cache, key_bounds, d_writes.get<BlockWrite>(),
                                    static_cast<int32_t>(writes.size()), nullptr));
    TS_CUDA_CHECK(cudaDeviceSynchronize());
  }
};

struct Row {
  int32_t context, batch, budget;
  double full_ms, score_ms, topk_ms, fused_ms, sparse_ms, total_ms, total_two_ms;
  int32_t auto_partition, best_partition;  // sparse attention's split (tokens), best of a sweep
  double best_sparse_ms;
  double sparse_percent;  // of the copy bandwidth
  double score_percent;   // the bounds read by scoring, of the copy bandwidth
  double bytes_ratio;     // full K/V bytes over selected K/V + bounds bytes
};

class Bench {
 public:
  Bench(const SelectionBenchOptions& o, std::ostream& out, const DeviceInfo& device)
      : o_(o), out_(out), timer_(std::max<size_t>(2 * device.l2_bytes, size_t{128} << 20)) {}

  void run() {
    measure_ceilings();
    if (o_.bound_updates) bound_updates();
    for (int32_t context : o_.contexts) {
      for (int32_t batch : o_.batches) configuration(context, batch);
    }
    table();
  }

 private:
  double gbps(double bytes, double ms) const { return bytes / ms * 1e-6; }
  double percent(double bytes, double ms) const { return 100.0 * gbps(bytes, ms) / copy_gbps_; }

  void measure_ceilings() {
    const size_t bytes = size_t{1} << 30;
    DeviceMemory a(bytes), b(bytes);
    TS_CUDA_CHECK(cudaMemset(a.get(), 1, bytes));
    const double copy_ms = timer_.median_ms(
        [&] { return cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice); }, 3, 30);
    copy_gbps_ = 2.0 * bytes / copy_ms * 1e-6;
    const double read_ms = timer_.median_ms(
        [&] {
          read_kernel<<<4 * 132 * 8, 256>>>(a.get<uint4>(), static_cast<int64_t>(bytes / 16),
                                            b.get<uint4>());
          return cudaGetLastError();
        },
        3, 30);
    read_gbps_ = bytes / read_ms * 1e-6;
    out_ << "device-to-device copy of 1 GiB: " << fmt("%.0f", copy_gbps_)
         << " GB/s (bytes read + written); read-only kernel: " << fmt("%.0f", read_gbps_)
         << " GB/s\n";
  }

  // The separate key-bound kernel against reshape_and_cache for the same tokens: a decode step
  // (one token per sequence, each in its sequence's last block) and a prefill of 64 x 2048.
  void bound_updates() {
    out_ << "\nkey-bound update after reshape_and_cache (fp16, 8 KV heads, head dim 128, blocks "
            "of 16)\n";
    Pool pool(64, 2048, o_.seed + 5);
    const int64_t row_elems = static_cast<int64_t>(kKvHeads) * kHeadDim;
    for (int32_t tokens : {1, 8, 64, 64 * 2048}) {
      const bool prefill = tokens > 64;
      std::vector<int64_t> slots;
      for (int32_t i = 0; i < tokens; ++i) {
        const int32_t b = prefill ? i / 2048 : i;
        const int32_t pos = prefill ? i % 2048 : 2047;
        const int32_t block =
            pool.host_tables[static_cast<size_t>(b) * pool.blocks_per_seq + pos / kBlockSize];
        slots.push_back(static_cast<int64_t>(block) * kBlockSize + pos % kBlockSize);
      }
      const std::vector<BlockWrite> writes = block_writes(slots, kBlockSize);
      DeviceMemory d_slots = upload(slots), d_writes = upload(writes);
      DeviceMemory key(static_cast<size_t>(tokens * row_elems * 2)), value(key.bytes());
      fill(key.get(), tokens * row_elems, 91);
      fill(value.get(), tokens * row_elems, 92);
      const NewKv new_kv{key.get(), value.get(), d_slots.get<int64_t>(), tokens};
      const double reshape_ms =
          timer_.median_ms([&] { return reshape_and_cache(pool.cache, new_kv, nullptr); },
                           o_.warmup, o_.repetitions);
      const double bounds_ms = timer_.median_ms(
          [&] {
            return update_key_bounds(pool.cache, pool.key_bounds, d_writes.get<BlockWrite>(),
                                     static_cast<int32_t>(writes.size()), nullptr);
          },
          o_.warmup, o_.repetitions);
      const double both_ms = timer_.median_ms(
          [&] {
            TS_CUDA_TRY(reshape_and_cache(pool.cache, new_kv, nullptr));
            return update_key_bounds(pool.cache, pool.key_bounds, d_writes.get<BlockWrite>(),
                                     static_cast<int32_t>(writes.size()), nullptr);
          },
          o_.warmup, o_.repetitions);
      const double fused_ms = timer_.median_ms(
          [&] {
            return reshape_and_update_bounds(pool.cache, pool.key_bounds, new_kv,
                                             d_writes.get<BlockWrite>(),
                                             static_cast<int32_t>(writes.size()), nullptr);
          },
          o_.warmup, o_.repetitions);
      const std::string what =
          prefill ? "prefill 64 x 2048 tokens" : cat("decode step, ", tokens, " tokens");
      bound_lines_.push_back(cat(
          what, ": reshape_and_cache ", fmt("%.4f", reshape_ms), " ms; then a bounds kernel (",
          writes.size(), " blocks) ", fmt("%.4f", bounds_ms), " ms alone, ", fmt("%.4f", both_ms),
          " ms both (+", fmt("%.0f", 100.0 * (both_ms - reshape_ms) / reshape_ms),
          "%); fused in one kernel ", fmt("%.4f", fused_ms), " ms (+",
          fmt("%.0f", 100.0 * (fused_ms - reshape_ms) / reshape_ms), "%)"));
      out_ << "  " << bound_lines_.back() << "\n";
    }
  }

  void configuration(int32_t context, int32_t batch) {
    out_ << "\ncontext " << context << ", batch " << batch << " (" << kHeads << " q heads / "
         << kKvHeads << " KV heads, head dim " << kHeadDim << ", fp16, blocks of " << kBlockSize
         << ")\n";
    Pool pool(batch, context, o_.seed + static_cast<uint64_t>(context) + batch);
    const int64_t token_bytes = int64_t{2} * kKvHeads * kHeadDim * dtype_size(kDType);
    const int64_t q_out_bytes = int64_t{2} * batch * kHeads * kHeadDim * dtype_size(kDType);
    const double full_bytes = static_cast<double>(token_bytes) * batch * context + q_out_bytes;

    AttentionOptions full_options;
    full_options.host_context_lens = pool.host_lens.data();
    const AttentionPlan full =
        plan_attention(KernelVersion::kV5, kDType, pool.batch, kKvHeads, kHeadDim, full_options);
    DeviceMemory workspace(full.workspace_bytes);
    TS_CUDA_CHECK(stage_attention_plan(full, workspace.get(), nullptr));
    const double full_ms = timer_.median_ms(
        [&] { return paged_attention(full, pool.cache, pool.batch, workspace.get(), nullptr); },
        o_.warmup, o_.repetitions);
    out_ << "  full v5 decode: " << fmt("%.4f", full_ms) << " ms, "
         << fmt("%.1f", percent(full_bytes, full_ms)) << "% of copy\n";

    const size_t pairs = static_cast<size_t>(batch) * kKvHeads;
    DeviceMemory scores(sizeof(float) * pairs * pool.blocks_per_seq);
    DeviceMemory tickets = upload(std::vector<int32_t>(pairs, 0));
    for (int32_t budget : o_.budgets) {
      SelectionSettings settings;
      settings.budget_tokens = budget;
      settings.group_score = o_.rule;
      const SelectionPlan plan = plan_selection(settings, pool.host_lens, kBlockSize);
      DeviceMemory counts = upload(plan.counts), sparse_lens = upload(plan.context_lens);
      DeviceMemory tables(sizeof(int32_t) * pairs * plan.max_selected);
      DeviceMemory logical(tables.bytes());
      SelectLaunch s;
      s.bounds = pool.key_bounds;
      s.batch = pool.batch;
      s.block_size = kBlockSize;
      s.rule = o_.rule;
      s.max_blocks = pool.blocks_per_seq;
      s.counts = counts.get<int32_t>();
      s.max_selected = plan.max_selected;
      s.scores = scores.get<float>();
      s.tables = tables.get<int32_t>();
      s.logical = logical.get<int32_t>();
      s.tickets = tickets.get<int32_t>();
      DecodeBatch sparse = pool.batch;
      sparse.table_head_stride = plan.max_selected;
      sparse.block_tables = tables.get<int32_t>();
      sparse.context_lens = sparse_lens.get<int32_t>();
      sparse.max_blocks_per_seq = plan.max_selected;
      sparse.max_context_len = plan.max_context_len;
      AttentionOptions sparse_options;
      sparse_options.host_context_lens = plan.context_lens.data();
      const AttentionPlan sparse_plan =
          plan_attention(KernelVersion::kV5, kDType, sparse, kKvHeads, kHeadDim, sparse_options);
      DeviceMemory sparse_workspace(sparse_plan.workspace_bytes);
      TS_CUDA_CHECK(stage_attention_plan(sparse_plan, sparse_workspace.get(), nullptr));
      const auto attend = [&] {
        return paged_attention(sparse_plan, pool.cache, sparse, sparse_workspace.get(), nullptr);
      };
      Row r{};
      r.context = context;
      r.batch = batch;
      r.budget = budget;
      r.full_ms = full_ms;
      r.score_ms =
          timer_.median_ms([&] { return score_blocks(s, nullptr); }, o_.warmup, o_.repetitions);
      r.topk_ms = timer_.median_ms([&] { return select_top_blocks(s, nullptr); }, o_.warmup,
                                   o_.repetitions);
      r.fused_ms =
          timer_.median_ms([&] { return score_and_select(s, nullptr); }, o_.warmup, o_.repetitions);
      r.sparse_ms = timer_.median_ms(attend, o_.warmup, o_.repetitions);
      r.auto_partition = sparse_plan.partition_tokens;
      r.best_partition = sparse_plan.partition_tokens;
      r.best_sparse_ms = r.sparse_ms;
      for (int32_t part : {128, 256, 512, 1024}) {
        AttentionOptions options = sparse_options;
        options.partition_tokens = part;
        const AttentionPlan p =
            plan_attention(KernelVersion::kV5, kDType, sparse, kKvHeads, kHeadDim, options);
        if (p.partition_tokens == sparse_plan.partition_tokens) continue;
        DeviceMemory ws(p.workspace_bytes);
        TS_CUDA_CHECK(stage_attention_plan(p, ws.get(), nullptr));
        const double ms = timer_.median_ms(
            [&] { return paged_attention(p, pool.cache, sparse, ws.get(), nullptr); }, o_.warmup,
            o_.repetitions);
        if (ms < r.best_sparse_ms) {
          r.best_sparse_ms = ms;
          r.best_partition = p.partition_tokens;
        }
      }
      r.total_ms = timer_.median_ms(
          [&] {
            TS_CUDA_TRY(score_and_select(s, nullptr));
            return attend();
          },
          o_.warmup, o_.repetitions);
      r.total_two_ms = timer_.median_ms(
          [&] {
            TS_CUDA_TRY(score_blocks(s, nullptr));
            TS_CUDA_TRY(select_top_blocks(s, nullptr));
            return attend();
          },
          o_.warmup, o_.repetitions);
      const double selected_bytes =
          static_cast<double>(token_bytes) * static_cast<double>(plan.tokens_selected) +
          q_out_bytes;
      const double bounds_bytes =
          static_cast<double>(plan.blocks_total) * kKvHeads * 2 * kHeadDim * dtype_size(kDType);
      r.sparse_percent = percent(selected_bytes, r.sparse_ms);
      r.score_percent = percent(bounds_bytes, r.score_ms);
      r.bytes_ratio = full_bytes / (selected_bytes + bounds_bytes);
      out_ << "  budget " << budget << ": score " << fmt("%.4f", r.score_ms) << " ms ("
           << fmt("%.1f", r.score_percent) << "% of copy), top-K " << fmt("%.4f", r.topk_ms)
           << " ms, score+top-K in one launch " << fmt("%.4f", r.fused_ms) << " ms, sparse "
           << fmt("%.4f", r.sparse_ms) << " ms (" << fmt("%.1f", r.sparse_percent)
           << "% of copy; partition " << r.auto_partition << ", best of a sweep "
           << r.best_partition << ": " << fmt("%.4f", r.best_sparse_ms) << " ms), selected decode "
           << fmt("%.4f", r.total_ms) << " ms (two launches " << fmt("%.4f", r.total_two_ms)
           << "): " << fmt("%.2f", full_ms / r.total_ms) << "x faster than full\n";
      rows_.push_back(r);
    }
  }

  void table() {
    char line[320];
    out_ << "\n=== summary (copy " << fmt("%.0f", copy_gbps_) << " GB/s, read-only kernel "
         << fmt("%.0f", read_gbps_) << " GB/s; times in ms, medians of " << o_.repetitions
         << " runs with L2 flushed) ===\n";
    for (const std::string& l : bound_lines_) out_ << l << "\n";
    std::snprintf(line, sizeof line,
                  "%7s %5s %6s %9s %8s %8s %8s %8s %9s %8s %8s %6s %6s %6s %12s\n", "context",
                  "batch", "budget", "full v5", "score", "top-K", "1-launch", "sparse", "selected",
                  "2-launch", "speedup", "sp%cp", "sel%sp", "bytes", "best split");
    out_ << line;
    for (const Row& r : rows_) {
      std::snprintf(line, sizeof line,
                    "%7d %5d %6d %9.4f %8.4f %8.4f %8.4f %8.4f %9.4f %8.4f %7.2fx %5.1f%% %5.1f%% "
                    "%5.1fx %4d %.4f\n",
                    r.context, r.batch, r.budget, r.full_ms, r.score_ms, r.topk_ms, r.fused_ms,
                    r.sparse_ms, r.total_ms, r.total_two_ms,
                    r.full_ms / std::min(r.total_ms, r.total_two_ms), r.sparse_percent,
                    100.0 * std::min(r.fused_ms, r.score_ms + r.topk_ms) / r.sparse_ms,
                    r.bytes_ratio, r.best_partition, r.best_sparse_ms);
      out_ << line;
    }
    out_ << "columns: selected = score+top-K in one launch, then sparse attention, timed together;"
            " 2-launch = the same with score and top-K as two launches; speedup = full over the"
            " faster of the two;"
            " sp%cp = sparse attention's K/V + q + out bytes over its time, as a share of the copy"
            " bandwidth; sel%sp = score+top-K (the faster way) over sparse attention; bytes = full"
            " K/V bytes over selected K/V + key-bound bytes; best split = the sparse attention's"
            " fastest partition (tokens) in a sweep, and its time\n";
  }

  const SelectionBenchOptions& o_;
  std::ostream& out_;
  Timer timer_;
  double copy_gbps_ = 1.0;
  double read_gbps_ = 0.0;
  std::vector<Row> rows_;
  std::vector<std::string> bound_lines_;
};

}  // namespace

int run_selection_bench(const SelectionBenchOptions& options, std::ostream& out) {
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
    out << "selection bench failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace tinyserve::gpu
