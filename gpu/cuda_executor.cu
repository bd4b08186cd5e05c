#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/base/strings.h"
#include "core/execution/key_bounds.h"
#include "gpu/cache_ops.h"
#include "gpu/cuda_check.h"
#include "gpu/cuda_executor.h"
#include "gpu/decode_attention.h"
#include "gpu/device.h"
#include "gpu/prefill_attention.h"
#include "gpu/selection.h"
#include "gpu/supports.h"

namespace tinyserve::gpu {
namespace {

inline constexpr int64_t kStepReserveBytes = int64_t{256} << 20;  // kept free for step buffers
inline constexpr const char* kStageNames[] = {"swap-out", "swap-in", "copy-on-write copies",
                                              "writing new K/V", "attention"};

// A device (or pinned host) allocation that only grows; growing frees the old contents.
template <bool kHost>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  Status reserve(size_t need, const char* what) {
    if (need <= bytes_) return {};
    release();
    const size_t grown = need + need / 2;
    const cudaError_t err = kHost ? cudaMallocHost(&ptr_, grown) : cudaMalloc(&ptr_, grown);
    if (err != cudaSuccess) {
      cudaGetLastError();
      ptr_ = nullptr;
      return Status::failure(cat("cannot allocate ", grown,
                                 kHost ? " bytes of pinned host memory" : " bytes of GPU memory",
                                 " for ", what, ": ", cudaGetErrorString(err)));
    }
    bytes_ = grown;
    return {};
  }
  char* get() const { return static_cast<char*>(ptr_); }
  size_t capacity() const { return bytes_; }

 private:
  void release() {
    if (ptr_ != nullptr) kHost ? cudaFreeHost(ptr_) : cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

size_t align16(size_t n) {
  return (n + 15) & ~size_t{15};
}

// Spins one thread for `cycles` SM clock cycles (CudaExecutorOptions::queue_ahead_us).
__global__ void hold_stream(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}

}  // namespace

struct CudaExecutor::Impl {
  KvGeometry g;
  CudaExecutorOptions options;
  std::string device_name;
  cudaStream_t stream = nullptr;
  cudaEvent_t events[7] = {};  // stage boundaries; [5] splits attention: prefill | decode
  void* gpu_k = nullptr;       // [num_layers, num_gpu_blocks, num_kv_heads, block_size, head_dim]
  void* gpu_v = nullptr;
  void* cpu_k = nullptr;  // [num_layers, num_cpu_blocks, ...], mapped pinned host memory
  void* cpu_v = nullptr;
  void* cpu_k_device = nullptr;  // the same memory, as the device addresses it
  void* cpu_v_device = nullptr;
  float* head_scales = nullptr;  // [2, num_kv_heads] on the device: K's, then V's (fp8 per head)
  // Key bounds (KvGeometry::key_bounds): [num_layers, blocks, num_kv_heads, 2, head_dim].
  void* gpu_bounds = nullptr;
  void* cpu_bounds = nullptr;  // mapped pinned host memory, as the CPU pool
  void* cpu_bounds_device = nullptr;
  Buffer<false> scores;    // [batch, num_kv_heads, max_blocks_per_seq] float
  Buffer<false> selected;  // tables then logical blocks, each [num_layers, batch, num_kv_heads,
                           // max_selected] int32
  Buffer<false> tickets;   // [batch, num_kv_heads] int32, zero between launches
  cudaEvent_t sub_events[2] = {};  // key-bound update start, sparse attention start
  SelectionPlan last_selection;    // of the last step; empty counts: no selection
  bool last_selection_valid = false;
  Buffer<true> host_arena;  // the step's index arrays, packed for one upload
  Buffer<false> arena;
  Buffer<false> staging_k;  // [new tokens, num_kv_heads, head_dim]
  Buffer<false> staging_v;
  Buffer<false> q;    // [num_layers, num_queries, num_heads, head_dim]
  Buffer<false> out;  // [num_layers, num_queries, num_heads, head_dim]
  Buffer<false> workspace;
  Buffer<false> contiguous_k, contiguous_v, contiguous_out;  // compare_contiguous scratch
  size_t contiguous_filled = 0;  // bytes of contiguous_k/v holding finite values
  cudaEvent_t compare_events[2] = {};
  int32_t output_queries = -1;  // queries of the output held in `out`; -1: none
  std::string broken;           // set after an asynchronous device fault

  ~Impl() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
    for (cudaEvent_t e : events) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (cudaEvent_t e : compare_events) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (cudaEvent_t e : sub_events) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
    if (gpu_bounds != nullptr) cudaFree(gpu_bounds);
    if (cpu_bounds != nullptr) cudaFreeHost(cpu_bounds);
    if (gpu_k != nullptr) cudaFree(gpu_k);
    if (gpu_v != nullptr) cudaFree(gpu_v);
    if (cpu_k != nullptr) cudaFreeHost(cpu_k);
    if (cpu_v != nullptr) cudaFreeHost(cpu_v);
    if (head_scales != nullptr) cudaFree(head_scales);
  }

  PagedKv pool(void* k, void* v, int32_t blocks) const {
    PagedKv p;
    p.k = k;
    p.v = v;
    p.dtype = g.dtype;
    p.num_layers = g.num_layers;
    p.num_blocks = blocks;
    p.num_kv_heads = g.num_kv_heads;
    p.block_size = g.block_size;
    p.head_dim = g.head_dim;
    p.scales.k = g.k_scale;
    p.scales.v = g.v_scale;
    if (!g.k_head_scales.empty()) p.scales.k_heads = head_scales;
    if (!g.v_head_scales.empty()) p.scales.v_heads = head_scales + g.num_kv_heads;
    return p;
  }
  PagedKv gpu_pool() const { return pool(gpu_k, gpu_v, g.num_gpu_blocks); }
  KeyBounds bounds(void* data, int32_t blocks) const {
    return {data, key_bounds_dtype(g.dtype), g.num_layers, blocks, g.num_kv_heads, g.head_dim};
  }
  KeyBounds gpu_key_bounds() const { return bounds(gpu_bounds, g.num_gpu_blocks); }
  KeyBounds cpu_key_bounds() const { return bounds(cpu_bounds_device, g.num_cpu_blocks); }
  // q_first, q_stride: elements from s.q to the decodes' queries of layer 0, and between layers.
  void compare_contiguous(const AttentionPlan& attention, DecodeBatch db, size_t q_first,
                          size_t q_stride, StepResult& r);
  PagedKv cpu_pool() const { return pool(cpu_k_device, cpu_v_device, g.num_cpu_blocks); }

  Status allocate_pools() {
    const auto gpu_bytes = static_cast<size_t>(g.block_bytes() * g.num_layers * g.num_gpu_blocks);
    const auto cpu_bytes = static_cast<size_t>(g.block_bytes() * g.num_layers * g.num_cpu_blocks);
    if (Status s = TS_CUDA_STATUS(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        !s.ok()) {
      return s;
    }
    for (cudaEvent_t& e : events) {
      if (Status s = TS_CUDA_STATUS(cudaEventCreate(&e)); !s.ok()) return s;
    }
    for (cudaEvent_t& e : compare_events) {
      if (Status s = TS_CUDA_STATUS(cudaEventCreate(&e)); !s.ok()) return s;
    }
    for (cudaEvent_t& e : sub_events) {
      if (Status s = TS_CUDA_STATUS(cudaEventCreate(&e)); !s.ok()) return s;
    }
    if (!g.k_head_scales.empty() || !g.v_head_scales.empty()) {
      std::vector<float> scales(2 * static_cast<size_t>(g.num_kv_heads), 1.0f);
      std::copy(g.k_head_scales.begin(), g.k_head_scales.end(), scales.begin());
      std::copy(g.v_head_scales.begin(), g.v_head_scales.end(), scales.begin() + g.num_kv_heads);
      const size_t bytes = scales.size() * sizeof(float);
      if (Status s = TS_CUDA_STATUS(cudaMalloc(&head_scales, bytes)); !s.ok()) return s;
      if (Status s =
              TS_CUDA_STATUS(cudaMemcpy(head_scales, scales.data(), bytes, cudaMemcpyHostToDevice));
          !s.ok()) {
        return s;
      }
    }
    if (gpu_bytes > 0) {
      for (void** p : {&gpu_k, &gpu_v}) {
        if (Status s = TS_CUDA_STATUS(cudaMalloc(p, gpu_bytes)); !s.ok()) return s;
        // Zeroed, so that both executors start from the same pool contents.
        if (Status s = TS_CUDA_STATUS(cudaMemset(*p, 0, gpu_bytes)); !s.ok()) return s;
      }
    }
    if (cpu_bytes > 0) {
      for (auto [host, device] :
           {std::pair{&cpu_k, &cpu_k_device}, std::pair{&cpu_v, &cpu_v_device}}) {
        if (cudaHostAlloc(host, cpu_bytes, cudaHostAllocMapped) != cudaSuccess) {
          cudaGetLastError();
          *host = nullptr;
          return Status::failure(cat("cannot allocate the CPU swap pool: ", 2 * cpu_bytes,
                                     " bytes of pinned host memory (", g.num_cpu_blocks,
                                     " blocks); use fewer CPU blocks"));
        }
        std::memset(*host, 0, cpu_bytes);
        if (Status s = TS_CUDA_STATUS(cudaHostGetDevicePointer(device, *host, 0)); !s.ok())
          return s;
      }
    }
    if (g.key_bounds) {
      const auto bytes = [&](int32_t blocks) {
        return static_cast<size_t>(g.bounds_block_bytes() * g.num_layers * blocks);
      };
      if (bytes(g.num_gpu_blocks) > 0) {
        if (Status s = TS_CUDA_STATUS(cudaMalloc(&gpu_bounds, bytes(g.num_gpu_blocks))); !s.ok()) {
          return s;
        }
        if (Status s = TS_CUDA_STATUS(cudaMemset(gpu_bounds, 0, bytes(g.num_gpu_blocks)));
            !s.ok()) {
          return s;
        }
      }
      if (bytes(g.num_cpu_blocks) > 0) {
        if (cudaHostAlloc(&cpu_bounds, bytes(g.num_cpu_blocks), cudaHostAllocMapped) !=
            cudaSuccess) {
          cudaGetLastError();
          cpu_bounds = nullptr;
          return Status::failure(cat("cannot allocate the CPU pool's key bounds: ",
                                     bytes(g.num_cpu_blocks), " bytes of pinned host memory"));
        }
        std::memset(cpu_bounds, 0, bytes(g.num_cpu_blocks));
        if (Status s = TS_CUDA_STATUS(cudaHostGetDevicePointer(&cpu_bounds_device, cpu_bounds, 0));
            !s.ok()) {
          return s;
        }
      }
    }
    return {};
  }
};

Expected<std::unique_ptr<CudaExecutor>> CudaExecutor::create(const KvGeometry& geometry,
                                                             const CudaExecutorOptions& options) {
  Expected<std::unique_ptr<CudaExecutor>> result;
  if (result.status = supports(geometry, options.kernel); !result.ok()) return result;
  const DeviceInfo device = query_device();
  if (!device.available) {
    result.status = Status::failure(cat("the CUDA executor needs a GPU: ", device.reason));
    return result;
  }
  const int64_t per_block =
      geometry.bytes_per_block() +
      (geometry.key_bounds ? geometry.bounds_block_bytes() * geometry.num_layers : 0);
  const int64_t pool_bytes = per_block * geometry.num_gpu_blocks;
  const auto free_bytes = static_cast<int64_t>(device.free_memory);
  if (pool_bytes + kStepReserveBytes > free_bytes) {
    const int64_t fits = std::max<int64_t>(0, (free_bytes - kStepReserveBytes) / per_block);
    result.status = Status::failure(cat(
        "the GPU KV pool needs ", pool_bytes, " bytes (", geometry.num_gpu_blocks, " blocks of ",
        per_block, " bytes: K and V of ", geometry.num_layers, " layers) but only ", free_bytes,
        " bytes of GPU memory are free on ", device.name, ", of which ", kStepReserveBytes,
        " stay free for step buffers; the largest pool that "
        "fits is ",
        fits, " blocks"));
    return result;
  }
  auto impl = std::make_unique<Impl>();
  impl->g = geometry;
  impl->options = options;
  impl->device_name = device.name;
  if (result.status = impl->allocate_pools(); !result.ok()) return result;
  result.value.reset(new CudaExecutor(std::move(impl)));
  return result;
}

CudaExecutor::CudaExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaExecutor::~CudaExecutor() = default;

const KvGeometry& CudaExecutor::geometry() const {
  return impl_->g;
}
const CudaExecutorOptions& CudaExecutor::options() const {
  return impl_->options;
}
void CudaExecutor::set_fused_select(bool fused) {
  impl_->options.fused_select = fused;
}
const std::string& CudaExecutor::device_name() const {
  return impl_->device_name;
}

StepResult CudaExecutor::execute(const StepPlan& plan) {
  Impl& s = *impl_;
  const KvGeometry& g = s.g;
  StepResult r;
  if (!s.broken.empty()) {
    r.status = Status::failure("the CUDA executor is unusable after a device fault: " + s.broken);
    return r;
  }
  if (r.status = validate_plan(g, plan); !r.ok()) return r;
  // Selection applies to the decodes (the batch entries after the prefill chunks).
  const bool select = plan.selection.enabled() && plan.num_decodes() > 0;
  if (select &&
      (s.options.kernel == KernelVersion::kV1 || s.options.kernel == KernelVersion::kV2)) {
    r.status = Status::failure(
        cat("selection needs kernel v3 or later, not ", kernel_version_name(s.options.kernel)));
    return r;
  }
  const std::vector<BlockWrite> writes =
      g.key_bounds ? block_writes(plan.slot_mapping, g.block_size) : std::vector<BlockWrite>{};
  SelectionPlan selection;
  if (select) {
    selection = plan_selection(
        plan.selection,
        std::span<const int32_t>(plan.context_lens).subspan(static_cast<size_t>(plan.num_prefills)),
        g.block_size);
  }
  // One launch per layer writes the K/V and updates the bounds when each block's tokens lie close
  // together in the token list (the kernel scans that range).
  const bool fused_bounds = g.key_bounds && s.options.fused_bounds &&
                            std::all_of(writes.begin(), writes.end(), [](const BlockWrite& w) {
                              return w.token_end - w.token_begin <= 2 * (w.last - w.first + 1) + 8;
                            });

  // The prefill chunks' launch, planned on the host from the plan's own offsets.
  PrefillShape shape;
  shape.dtype = g.dtype;
  shape.num_heads = g.num_heads;
  shape.num_kv_heads = g.num_kv_heads;
  shape.head_dim = g.head_dim;
  shape.batch = plan.num_prefills;
  shape.query_start = plan.query_start.data();
  shape.context_lens = plan.context_lens.data();
  const PrefillPlan prefill = plan_prefill(shape, s.options.prefill);

  // The step's index arrays, packed into one upload.
  struct Array {
    const void* data;
    size_t bytes;
    size_t offset;
  };
  Array arrays[] = {
      {plan.swap_out.data(), plan.swap_out.size() * sizeof(BlockCopy), 0},
      {plan.swap_in.data(), plan.swap_in.size() * sizeof(BlockCopy), 0},
      {plan.copies.data(), plan.copies.size() * sizeof(BlockCopy), 0},
      {plan.slot_mapping.data(), plan.slot_mapping.size() * sizeof(int64_t), 0},
      {plan.new_tokens.data(), plan.new_tokens.size() * sizeof(int32_t), 0},
      {plan.new_positions.data(), plan.new_positions.size() * sizeof(int32_t), 0},
      {plan.block_tables.data(), plan.block_tables.size() * sizeof(int32_t), 0},
      {plan.context_lens.data(), plan.context_lens.size() * sizeof(int32_t), 0},
      {plan.query_start.data(), plan.query_start.size() * sizeof(int32_t), 0},
      {prefill.index.data(), prefill.index.size() * sizeof(int32_t), 0},
      {writes.data(), writes.size() * sizeof(BlockWrite), 0},
      {selection.counts.data(), selection.counts.size() * sizeof(int32_t), 0},
      {selection.context_lens.data(), selection.context_lens.size() * sizeof(int32_t), 0},
  };
  size_t arena_bytes = 0;
  for (Array& a : arrays) {
    a.offset = arena_bytes;
    arena_bytes += align16(a.bytes);
  }

  const auto num_new = static_cast<int32_t>(plan.slot_mapping.size());
  const int32_t num_queries = plan.num_queries();
  const int32_t prefill_queries = plan.num_prefill_queries();
  const auto elem = static_cast<size_t>(dtype_size(query_dtype(g.dtype)));  // q, out, new rows
  const size_t staging_bytes = elem * num_new * g.num_kv_heads * g.head_dim;
  const size_t row = static_cast<size_t>(g.num_heads) * g.head_dim;  // elements of one query
  const size_t layer_rows = static_cast<size_t>(num_queries) * row;
  // The decodes: the batch entries after the prefill chunks, one query each.
  DecodeBatch db;
  db.batch = plan.num_decodes();
  db.num_heads = g.num_heads;
  db.max_blocks_per_seq = plan.max_blocks_per_seq;
  db.max_context_len = db.batch > 0
                           ? *std::max_element(plan.context_lens.begin() + plan.num_prefills,
                                               plan.context_lens.end())
                           : 0;
  db.scale = attention_scale(g.head_dim);
  AttentionOptions attention_options;
  attention_options.partition_tokens = s.options.partition_tokens;
  attention_options.host_context_lens = plan.context_lens.data() + plan.num_prefills;
  const AttentionPlan attention =
      plan_attention(s.options.kernel, g.dtype, db, g.num_kv_heads, g.head_dim, attention_options);
  // Sparse attention of the decodes: each KV head's selected blocks, as its own block-table row.
  DecodeBatch sparse = db;
  sparse.max_blocks_per_seq = selection.max_selected;
  sparse.table_head_stride = selection.max_selected;
  sparse.max_context_len = selection.max_context_len;
  AttentionPlan sparse_attention;
  if (select) {
    AttentionOptions options = attention_options;
    options.host_context_lens = selection.context_lens.data();
    sparse_attention =
        plan_attention(s.options.kernel, g.dtype, sparse, g.num_kv_heads, g.head_dim, options);
  }
  const size_t pairs = static_cast<size_t>(db.batch) * g.num_kv_heads;
  const size_t selected_per_layer = pairs * static_cast<size_t>(selection.max_selected);
  PrefillBatch pb;
  pb.batch = plan.num_prefills;
  pb.num_queries = prefill_queries;
  pb.num_heads = g.num_heads;
  pb.max_blocks_per_seq = plan.max_blocks_per_seq;
  pb.scale = attention_scale(g.head_dim);

  s.output_queries = -1;  // growing `out` drops the previous output
  s.last_selection_valid = false;
  const size_t tickets_before = s.tickets.capacity();
  for (Status st :
       {s.host_arena.reserve(arena_bytes, "step indices"),
        s.arena.reserve(arena_bytes, "step indices"),
        s.staging_k.reserve(staging_bytes, "new keys"),
        s.staging_v.reserve(staging_bytes, "new values"),
        s.q.reserve(elem * layer_rows * g.num_layers, "queries"),
        s.out.reserve(elem * layer_rows * g.num_layers, "attention output"),
        s.workspace.reserve(std::max({attention.workspace_bytes, sparse_attention.workspace_bytes,
                                      prefill.workspace_bytes}),
                            "split-KV partials"),
        s.scores.reserve(select ? sizeof(float) * pairs * plan.max_blocks_per_seq : 0,
                         "block scores"),
        s.selected.reserve(select ? 2 * sizeof(int32_t) * selected_per_layer * g.num_layers : 0,
                           "selected blocks"),
        s.tickets.reserve(select ? sizeof(int32_t) * pairs : 0, "selection tickets")}) {
    if (!st.ok()) {
      r.status = st;
      return r;
    }
  }
  if (s.tickets.capacity() != tickets_before) {
    r.status = TS_CUDA_STATUS(cudaMemsetAsync(s.tickets.get(), 0, s.tickets.capacity(), s.stream));
    if (!r.ok()) return r;
  }
  for (const Array& a : arrays) {
    if (a.bytes > 0) std::memcpy(s.host_arena.get() + a.offset, a.data, a.bytes);
  }
  if (s.options.queue_ahead_us > 0) {
    int khz = 0;
    cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0);
    hold_stream<<<1, 1, 0, s.stream>>>(static_cast<long long>(s.options.queue_ahead_us) * khz /
                                       1000);
    if (r.status = TS_CUDA_STATUS(cudaGetLastError()); !r.ok()) return r;
  }
  if (arena_bytes > 0) {
    r.status = TS_CUDA_STATUS(cudaMemcpyAsync(s.arena.get(), s.host_arena.get(), arena_bytes,
                                              cudaMemcpyHostToDevice, s.stream));
    if (!r.ok()) return r;
  }
  const auto device_array = [&](int i) { return s.arena.get() + arrays[i].offset; };
  const auto* swap_out = reinterpret_cast<const BlockCopy*>(device_array(0));
  const auto* swap_in = reinterpret_cast<const BlockCopy*>(device_array(1));
  const auto* copies = reinterpret_cast<const BlockCopy*>(device_array(2));
  const auto* slots = reinterpret_cast<const int64_t*>(device_array(3));
  const auto* new_tokens = reinterpret_cast<const int32_t*>(device_array(4));
  const auto* new_positions = reinterpret_cast<const int32_t*>(device_array(5));
  pb.block_tables = reinterpret_cast<const int32_t*>(device_array(6));
  pb.context_lens = reinterpret_cast<const int32_t*>(device_array(7));
  pb.query_start = reinterpret_cast<const int32_t*>(device_array(8));
  const auto* prefill_index = reinterpret_cast<const int32_t*>(device_array(9));
  db.block_tables =
      pb.block_tables + static_cast<size_t>(plan.num_prefills) * plan.max_blocks_per_seq;
  db.context_lens = pb.context_lens + plan.num_prefills;
  const auto* block_writes_d = reinterpret_cast<const BlockWrite*>(device_array(10));
  const auto* counts = reinterpret_cast<const int32_t*>(device_array(11));
  sparse.block_tables = db.block_tables;
  sparse.context_lens = reinterpret_cast<const int32_t*>(device_array(12));
  const PagedKv gpu = s.gpu_pool();
  // Byte offset of the decodes' rows of one layer in q and out (after the prefill queries).
  const auto decode_rows = [&](int32_t layer) {
    return elem * (layer_rows * layer + row * prefill_queries);
  };
  const auto selected_tables = [&](int32_t layer) {
    return reinterpret_cast<int32_t*>(s.selected.get()) + selected_per_layer * layer;
  };
  const auto selected_logical = [&](int32_t layer) {
    return selected_tables(layer) + selected_per_layer * g.num_layers;
  };

  const auto write_layer = [&](int32_t layer) -> cudaError_t {
    SyntheticRows rows;
    rows.seed = g.seed;
    rows.pattern = g.synthetic;
    rows.group = g.num_heads / g.num_kv_heads;
    rows.layer = layer;
    rows.tokens = new_tokens;
    rows.positions = new_positions;
    rows.count = num_new;
    rows.heads = g.num_kv_heads;
    rows.head_dim = g.head_dim;
    rows.dtype = query_dtype(g.dtype);
    rows.kind = SyntheticKind::kKey;
    rows.out = s.staging_k.get();
    TS_CUDA_TRY(synthesize_rows(rows, s.stream));
    rows.kind = SyntheticKind::kValue;
    rows.out = s.staging_v.get();
    TS_CUDA_TRY(synthesize_rows(rows, s.stream));
    const NewKv tokens{s.staging_k.get(), s.staging_v.get(), slots, num_new};
    if (fused_bounds) {
      TS_CUDA_TRY(reshape_and_update_bounds(gpu.layer(layer), s.gpu_key_bounds().layer(layer),
                                            tokens, block_writes_d,
                                            static_cast<int32_t>(writes.size()), s.stream));
    } else {
      TS_CUDA_TRY(reshape_and_cache(gpu.layer(layer), tokens, s.stream));
    }
    rows.kind = SyntheticKind::kQuery;  // every query is a new token
    rows.count = num_queries;
    rows.heads = g.num_heads;
    rows.out = s.q.get() + elem * layer_rows * layer;
    return synthesize_rows(rows, s.stream);
  };
  const auto select_layer = [&](int32_t layer) -> cudaError_t {
    SelectLaunch launch;
    launch.bounds = s.gpu_key_bounds().layer(layer);
    launch.batch = db;
    launch.batch.q = s.q.get() + decode_rows(layer);
    launch.block_size = g.block_size;
    launch.rule = plan.selection.group_score;
    launch.max_blocks = plan.max_blocks_per_seq;
    launch.counts = counts;
    launch.max_selected = selection.max_selected;
    launch.scores = reinterpret_cast<float*>(s.scores.get());
    launch.tables = selected_tables(layer);
    launch.logical = selected_logical(layer);
    launch.tickets = reinterpret_cast<int32_t*>(s.tickets.get());
    if (s.options.fused_select) return score_and_select(launch, s.stream);
    TS_CUDA_TRY(score_blocks(launch, s.stream));
    return select_top_blocks(launch, s.stream);
  };
  const auto copy = [&](const PagedKv& src, const PagedKv& dst, const KeyBounds& src_bounds,
                        const KeyBounds& dst_bounds, const BlockCopy* list,
                        size_t n) -> cudaError_t {
    TS_CUDA_TRY(copy_blocks(src, dst, list, static_cast<int32_t>(n), s.stream));
    if (!g.key_bounds) return cudaSuccess;
    return copy_key_bounds(src_bounds, dst_bounds, list, static_cast<int32_t>(n), s.stream);
  };
  const auto stage = [&](int i) -> cudaError_t {
    switch (i) {
      case 0:
        return copy(gpu, s.cpu_pool(), s.gpu_key_bounds(), s.cpu_key_bounds(), swap_out,
                    plan.swap_out.size());
      case 1:
        return copy(s.cpu_pool(), gpu, s.cpu_key_bounds(), s.gpu_key_bounds(), swap_in,
                    plan.swap_in.size());
      case 2:
        return copy(gpu, gpu, s.gpu_key_bounds(), s.gpu_key_bounds(), copies, plan.copies.size());
      case 3:
        for (int32_t l = 0; l < g.num_layers; ++l) TS_CUDA_TRY(write_layer(l));
        TS_CUDA_TRY(cudaEventRecord(s.sub_events[0], s.stream));
        if (g.key_bounds && !fused_bounds) {
          TS_CUDA_TRY(update_key_bounds(gpu, s.gpu_key_bounds(), block_writes_d,
                                        static_cast<int32_t>(writes.size()), s.stream));
        }
        return cudaSuccess;
      default:
        for (int32_t l = 0; l < g.num_layers && pb.batch > 0; ++l) {
          pb.q = s.q.get() + elem * layer_rows * l;
          pb.out = s.out.get() + elem * layer_rows * l;
          TS_CUDA_TRY(prefill_attention(prefill, prefill_index, gpu.layer(l), pb, s.workspace.get(),
                                        s.stream));
        }
        TS_CUDA_TRY(cudaEventRecord(s.events[5], s.stream));
        if (select) {
          for (int32_t l = 0; l < g.num_layers; ++l) TS_CUDA_TRY(select_layer(l));
          TS_CUDA_TRY(cudaEventRecord(s.sub_events[1], s.stream));
          TS_CUDA_TRY(stage_attention_plan(sparse_attention, s.workspace.get(), s.stream));
          for (int32_t l = 0; l < g.num_layers; ++l) {
            sparse.q = s.q.get() + decode_rows(l);
            sparse.out = s.out.get() + decode_rows(l);
            sparse.block_tables = selected_tables(l);
            TS_CUDA_TRY(paged_attention(sparse_attention, gpu.layer(l), sparse, s.workspace.get(),
                                        s.stream));
          }
          return cudaSuccess;
        }
        // The decodes' plan is staged after the prefill, whose split partials share the
        // workspace.
        if (db.batch > 0) TS_CUDA_TRY(stage_attention_plan(attention, s.workspace.get(), s.stream));
        for (int32_t l = 0; l < g.num_layers && db.batch > 0; ++l) {
          db.q = s.q.get() + decode_rows(l);
          db.out = s.out.get() + decode_rows(l);
          TS_CUDA_TRY(paged_attention(attention, gpu.layer(l), db, s.workspace.get(), s.stream));
        }
        return cudaSuccess;
    }
  };

  cudaError_t err = cudaEventRecord(s.events[0], s.stream);
  int done = 0;
  while (err == cudaSuccess && done < 5) {
    err = stage(done);
    if (err == cudaSuccess) err = cudaEventRecord(s.events[done < 4 ? done + 1 : 6], s.stream);
    if (err == cudaSuccess) ++done;
  }
  const cudaError_t sync = cudaStreamSynchronize(s.stream);
  if (sync != cudaSuccess) {
    s.broken = cat(cudaGetErrorName(sync), " (", cudaGetErrorString(sync), ")");
    r.status = Status::failure(
        cat("device fault during the step (stages may be partly applied; the CUDA context is "
            "lost): ",
            s.broken));
    return r;
  }
  r.stages_applied = done;
  if (err != cudaSuccess) {
    cudaGetLastError();
    r.status = Status::failure(cat("the ", kStageNames[done], " stage failed to launch: ",
                                   cudaGetErrorName(err), " (", cudaGetErrorString(err),
                                   "); the stages before it were applied, this one may be "
                                   "partly applied"));
    return r;
  }
  struct Span {
    double* ms;
    int from, to;
  };
  const Span spans[] = {
      {&r.times.swap_out_ms, 0, 1},          {&r.times.swap_in_ms, 1, 2},
      {&r.times.copy_blocks_ms, 2, 3},       {&r.times.write_kv_ms, 3, 4},
      {&r.times.prefill_attention_ms, 4, 5}, {&r.times.decode_attention_ms, 5, 6}};
  for (const Span& span : spans) {
    float ms = 0.0f;
    if (cudaEventElapsedTime(&ms, s.events[span.from], s.events[span.to]) == cudaSuccess) {
      *span.ms = ms;
    }
  }
  r.times.attention_ms = r.times.prefill_attention_ms + r.times.decode_attention_ms;
  s.output_queries = num_queries;
  if (s.options.compare_contiguous && db.batch > 0) {
    s.compare_contiguous(attention, db, row * prefill_queries, layer_rows, r);
  }
  const auto elapsed = [&](cudaEvent_t from, cudaEvent_t to) {
    float ms = 0.0f;
    return cudaEventElapsedTime(&ms, from, to) == cudaSuccess ? static_cast<double>(ms) : 0.0;
  };
  if (g.key_bounds && !fused_bounds) r.selection.bounds_ms = elapsed(s.sub_events[0], s.events[4]);
  if (select) {
    SelectionStats& st = r.selection;
    const int64_t token_bytes = int64_t{2} * g.num_kv_heads * g.head_dim * dtype_size(g.dtype);
    st.active = true;
    st.blocks_total = selection.blocks_total * g.num_kv_heads * g.num_layers;
    st.blocks_read = selection.blocks_selected * g.num_kv_heads * g.num_layers;
    st.bytes_full = selection.tokens_total * token_bytes * g.num_layers;
    st.bytes_selected = selection.tokens_selected * token_bytes * g.num_layers;
    st.bytes_bounds = selection.blocks_total * g.bounds_block_bytes() * g.num_layers;
    st.select_ms = elapsed(s.events[5], s.sub_events[1]);
    st.sparse_attention_ms = elapsed(s.sub_events[1], s.events[6]);
    s.last_selection = std::move(selection);
    s.last_selection_valid = true;
  }
  return r;
}

Expected<BlockSelection> CudaExecutor::read_selection(int32_t layer) const {
  const Impl& s = *impl_;
  Expected<BlockSelection> result;
  if (!s.last_selection_valid || layer < 0 || layer >= s.g.num_layers) {
    result.status =
        Status::failure(cat("read_selection: the last step selected no blocks in layer ", layer));
    return result;
  }
  BlockSelection& sel = result.value;
  sel.batch = static_cast<int32_t>(s.last_selection.counts.size());
  sel.num_kv_heads = s.g.num_kv_heads;
  sel.max_selected = s.last_selection.max_selected;
  sel.counts = s.last_selection.counts;
  sel.context_lens = s.last_selection.context_lens;
  const size_t per_layer = static_cast<size_t>(sel.batch) * sel.num_kv_heads * sel.max_selected;
  sel.block_tables.resize(per_layer);
  sel.logical.resize(per_layer);
  const auto* tables = reinterpret_cast<const int32_t*>(s.selected.get()) + per_layer * layer;
  const int32_t* logical = tables + per_layer * s.g.num_layers;
  for (auto [dst, src] :
       {std::pair{sel.block_tables.data(), tables}, std::pair{sel.logical.data(), logical}}) {
    result.status =
        TS_CUDA_STATUS(cudaMemcpy(dst, src, per_layer * sizeof(int32_t), cudaMemcpyDeviceToHost));
    if (!result.ok()) return result;
  }
  return result;
}

Expected<std::vector<uint8_t>> CudaExecutor::read_key_bounds(Pool pool, int32_t layer,
                                                             BlockId block) const {
  const Impl& s = *impl_;
  Expected<std::vector<uint8_t>> result;
  const int32_t blocks = pool == Pool::kGpu ? s.g.num_gpu_blocks : s.g.num_cpu_blocks;
  if (!s.g.key_bounds || layer < 0 || layer >= s.g.num_layers || block < 0 || block >= blocks) {
    result.status =
        Status::failure(cat("read_key_bounds: no bounds for layer ", layer, " block ", block));
    return result;
  }
  const auto bytes = static_cast<size_t>(s.g.bounds_block_bytes());
  const size_t offset = (static_cast<size_t>(layer) * blocks + static_cast<size_t>(block)) * bytes;
  result.value.resize(bytes);
  if (pool == Pool::kCpu) {
    std::memcpy(result.value.data(), static_cast<const char*>(s.cpu_bounds) + offset, bytes);
    return result;
  }
  result.status = TS_CUDA_STATUS(cudaMemcpy(result.value.data(),
                                            static_cast<const char*>(s.gpu_bounds) + offset, bytes,
                                            cudaMemcpyDeviceToHost));
  return result;
}

// Times the step's batch on a contiguous layout of the same shape, every layer, on scratch
// buffers filled once with a finite non-zero pattern (timing must not run on zeros). A failure
// here only leaves contiguous_attention_ms at -1: the step itself is complete.
void CudaExecutor::Impl::compare_contiguous(const AttentionPlan& attention, DecodeBatch db,
                                            size_t q_first, size_t q_stride, StepResult& r) {
  Impl& s = *this;
  const KvGeometry& g = s.g;
  const auto elem = static_cast<size_t>(dtype_size(query_dtype(g.dtype)));  // q and out
  const size_t bytes = static_cast<size_t>(dtype_size(g.dtype)) * db.batch * g.num_kv_heads *
                       static_cast<size_t>(db.max_context_len) * g.head_dim;
  if (2 * bytes > s.options.max_contiguous_bytes) return;
  const size_t layer_rows = static_cast<size_t>(db.batch) * g.num_heads * g.head_dim;
  for (Status st : {s.contiguous_k.reserve(bytes, "contiguous keys"),
                    s.contiguous_v.reserve(bytes, "contiguous values"),
                    s.contiguous_out.reserve(elem * layer_rows, "contiguous output")}) {
    if (!st.ok()) return;
  }
  if (bytes > s.contiguous_filled) {
    if (cudaMemsetAsync(s.contiguous_k.get(), 0x3c, bytes, s.stream) != cudaSuccess ||
        cudaMemsetAsync(s.contiguous_v.get(), 0x3c, bytes, s.stream) != cudaSuccess) {
      cudaGetLastError();
      return;
    }
    s.contiguous_filled = bytes;
  }
  ContiguousKv kv;
  kv.k = s.contiguous_k.get();
  kv.v = s.contiguous_v.get();
  kv.dtype = g.dtype;
  kv.batch = db.batch;
  kv.num_kv_heads = g.num_kv_heads;
  kv.max_len = db.max_context_len;
  kv.head_dim = g.head_dim;
  kv.scales = s.gpu_pool().scales;
  db.out = s.contiguous_out.get();
  cudaError_t err = cudaEventRecord(s.compare_events[0], s.stream);
  for (int32_t l = 0; l < g.num_layers && err == cudaSuccess; ++l) {
    db.q = s.q.get() + elem * (q_first + q_stride * l);
    err = contiguous_attention(attention, kv, db, s.workspace.get(), s.stream);
  }
  if (err == cudaSuccess) err = cudaEventRecord(s.compare_events[1], s.stream);
  if (err == cudaSuccess) err = cudaStreamSynchronize(s.stream);
  float ms = 0.0f;
  if (err == cudaSuccess &&
      cudaEventElapsedTime(&ms, s.compare_events[0], s.compare_events[1]) == cudaSuccess) {
    r.times.contiguous_attention_ms = ms;
  }
  cudaGetLastError();
}

Expected<BlockData> CudaExecutor::read_block(Pool pool, int32_t layer, BlockId block) const {
  const Impl& s = *impl_;
  Expected<BlockData> result;
  const int32_t blocks = pool == Pool::kGpu ? s.g.num_gpu_blocks : s.g.num_cpu_blocks;
  if (layer < 0 || layer >= s.g.num_layers || block < 0 || block >= blocks) {
    result.status =
        Status::failure(cat("read_block: layer ", layer, " block ", block, " out of range (",
                            s.g.num_layers, " layers, ", blocks, " blocks)"));
    return result;
  }
  const auto bytes = static_cast<size_t>(s.g.block_bytes());
  const size_t offset = (static_cast<size_t>(layer) * blocks + static_cast<size_t>(block)) * bytes;
  result.value.k.resize(bytes);
  result.value.v.resize(bytes);
  if (pool == Pool::kCpu) {
    std::memcpy(result.value.k.data(), static_cast<const char*>(s.cpu_k) + offset, bytes);
    std::memcpy(result.value.v.data(), static_cast<const char*>(s.cpu_v) + offset, bytes);
    return result;
  }
  for (auto [dst, src] :
       {std::pair{result.value.k.data(), s.gpu_k}, std::pair{result.value.v.data(), s.gpu_v}}) {
    result.status = TS_CUDA_STATUS(
        cudaMemcpy(dst, static_cast<const char*>(src) + offset, bytes, cudaMemcpyDeviceToHost));
    if (!result.ok()) return result;
  }
  return result;
}

Expected<std::vector<float>> CudaExecutor::read_output() const {
  const Impl& s = *impl_;
  Expected<std::vector<float>> result;
  if (s.output_queries < 0) {
    result.status = Status::failure("no attention output: the last step did not complete");
    return result;
  }
  const size_t n =
      static_cast<size_t>(s.g.num_layers) * s.output_queries * s.g.num_heads * s.g.head_dim;
  const DType out_dtype = query_dtype(s.g.dtype);
  std::vector<uint8_t> raw(n * dtype_size(out_dtype));
  if (n > 0) {
    result.status =
        TS_CUDA_STATUS(cudaMemcpy(raw.data(), s.out.get(), raw.size(), cudaMemcpyDeviceToHost));
    if (!result.ok()) return result;
  }
  result.value.resize(n);
  for (size_t i = 0; i < n; ++i) {
    result.value[i] = load_element(raw.data(), out_dtype, static_cast<int64_t>(i));
  }
  return result;
}

}  // namespace tinyserve::gpu
