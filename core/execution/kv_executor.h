// The API shared by the two executors of a step's K/V work: the CPU ReferenceExecutor
// (core/execution/reference_executor.h) and the CudaExecutor (gpu/cuda_executor.h). An executor
// owns K/V pools for num_layers layers on its device and a CPU swap pool, and runs one step plan at
// a time:
//   1. swap-out copies (GPU block -> CPU block)
//   2. swap-in copies (CPU block -> GPU block)
//   3. copy-on-write block copies (GPU -> GPU)
//   4. the new tokens' synthetic K/V written into their slots, for every layer
//   5. attention of every new token that has a query, for every layer (q synthesised per token):
//      paged prefill attention of the prefill chunks, then paged decode attention of the decodes
// A plan is validated whole before anything is applied; an invalid plan changes nothing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/half.h"
#include "core/base/ids.h"
#include "core/execution/paged_kv.h"
#include "core/execution/step_plan.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve {

// An error message, or none.
struct Status {
  std::string error;
  bool ok() const { return error.empty(); }
  static Status success() { return {}; }
  static Status failure(std::string message) { return {std::move(message)}; }
};

template <typename T>
struct Expected {
  T value{};
  Status status;
  bool ok() const { return status.ok(); }
};

// Attention kernel versions (the seed's V1..V4 story, continued). The CPU executor ignores it.
enum class KernelVersion : uint8_t {
  kV1,  // one thread per (sequence, head), scalar loads
  kV2,  // one CTA per (sequence, head), parallel threads, shared-memory reductions
  kV3,  // one CTA per (sequence, head), 16-byte loads, a thread group per token, online softmax
  kV4,  // one CTA per (sequence, KV head, split): GQA group shares each K/V load, split-KV with a
        // reduce kernel, the next tokens' loads in flight while the current ones are used
  kV5,  // v4 with a GQA group's scores and weighted sums on the tensor cores (fp16/bf16/fp8,
        // head dim <= 128, group 2..8; MHA and other shapes run v4)
  kV6,  // tensor cores for every group size, work split by the host into equal token ranges
        // per warp that run across sequence boundaries (head dim <= 128, not f32; else v4)
};
inline constexpr KernelVersion kAllKernelVersions[] = {KernelVersion::kV1, KernelVersion::kV2,
                                                       KernelVersion::kV3, KernelVersion::kV4,
                                                       KernelVersion::kV5, KernelVersion::kV6};
std::string_view kernel_version_name(KernelVersion v);  // "v1".."v6"
// Whether version v reads pools of dtype t (v1 and v2 do not read fp8 pools).
bool kernel_supports(KernelVersion v, DType t);
bool parse_kernel_version(std::string_view text, KernelVersion& out);

// The default scale of fp8 pools, K and V alike, one per tensor: 2^-8 maps the synthetic K/V
// (uniform in [-1, 1)) onto [-256, 256), the top of e4m3's range (largest finite 448) with 1.75x
// headroom; a power of two, so quantizing adds no rounding of its own (docs/kernels.md, "FP8").
inline constexpr float kDefaultFp8Scale = 1.0f / 256.0f;

// The KV cache's geometry, resolved once from a scenario (EngineConfig::geometry): what the
// allocator, the cost model, the executors, the metrics and the GUI read.
struct KvGeometry {
  int32_t num_layers = 1;  // layers whose K/V the executors hold (engine.gpu_layers)
  int32_t num_heads = 32;
  int32_t num_kv_heads = 32;
  int32_t head_dim = 128;
  int32_t block_size = 16;
  DType dtype = DType::kF16;  // the cache's element type; q and out are query_dtype(dtype)
  int32_t num_gpu_blocks = 0;
  int32_t num_cpu_blocks = 0;
  uint64_t seed = 0;  // of the synthetic K/V/q contents
  // The model as a whole (capacity and cost): its layers holding a KV cache, and for multi-head
  // latent attention the elements cached per token and layer in place of K and V (0: none).
  int32_t model_layers = 1;
  int32_t kv_latent_dim = 0;
  // fp8 pools store value / scale: one scale per tensor (k_scale, v_scale), or one per KV head
  // when k_head_scales / v_head_scales are given ([num_kv_heads] each, the same for every
  // layer). Ignored by the other dtypes.
  float k_scale = kDefaultFp8Scale;
  float v_scale = kDefaultFp8Scale;
  std::vector<float> k_head_scales;
  std::vector<float> v_head_scales;
  SyntheticPattern synthetic = SyntheticPattern::kUniform;  // core/execution/synthetic_kv.h
  // Keep per-block key bounds (KeyBounds, core/execution/paged_kv.h) up to date as tokens land:
  // the metadata that plans with selection on need.
  bool key_bounds = false;

  SyntheticSpec synthetic_spec() const {
    return {seed, synthetic, head_dim, num_kv_heads > 0 ? num_heads / num_kv_heads : 1};
  }
  // Bytes of one block's key bounds in one layer.
  int64_t bounds_block_bytes() const {
    return static_cast<int64_t>(num_kv_heads) * 2 * head_dim * dtype_size(key_bounds_dtype(dtype));
  }
  // Bytes of one block's K (or V) in one layer.
  int64_t block_bytes() const {
    return static_cast<int64_t>(num_kv_heads) * block_size * head_dim * dtype_size(dtype);
  }
  // Bytes of one block across the executors' layers, K and V.
  int64_t bytes_per_block() const { return 2 * num_layers * block_bytes(); }
  // Bytes of one token's cache over every layer of the model.
  int64_t bytes_per_token() const {
    const int64_t per_layer =
        kv_latent_dim > 0 ? kv_latent_dim : int64_t{2} * num_kv_heads * head_dim;
    return model_layers * per_layer * dtype_size(dtype);
  }
  // Bytes of one block over every layer of the model (what a swap moves, what the pool divides).
  int64_t model_block_bytes() const { return bytes_per_token() * block_size; }
  // What the executors (the CPU reference and the CUDA executor) can hold: head_dim 64, 128 or
  // 256; block_size a power of two in [1, 256]; GQA group 1..8; no latent cache; fp8 scales
  // finite and positive, per-head scales empty or one per KV head. The CUDA kernels' own
  // limits: gpu/supports.h.
  Status validate() const;
  // The pools' scales as kernels take them (host pointers into this geometry's vectors).
  KvScales scales() const;
};

enum class Pool : uint8_t { kGpu, kCpu };

// Milliseconds per stage (CUDA events on the GPU, the host clock on the CPU).
struct StageTimes {
  double swap_out_ms = 0.0;
  double swap_in_ms = 0.0;
  double copy_blocks_ms = 0.0;
  double write_kv_ms = 0.0;           // synthesise K/V and q, reshape_and_cache
  double attention_ms = 0.0;          // prefill_attention_ms + decode_attention_ms
  double prefill_attention_ms = 0.0;  // the prefill chunks' attention (every layer)
  double decode_attention_ms = 0.0;   // the decodes' attention (every layer)
  // The same batch's attention over a contiguous K/V layout (CudaExecutorOptions::
  // compare_contiguous); -1 when not run. Not part of the step: total_ms() leaves it out.
  double contiguous_attention_ms = -1.0;
  double total_ms() const {
    return swap_out_ms + swap_in_ms + copy_blocks_ms + write_kv_ms + attention_ms;
  }
};

// What query-aware selection did in a step (all layers together). Blocks and bytes count the
// attention batch's (sequence, KV head, layer) triples.
struct SelectionStats {
  bool active = false;         // the plan asked for selection and the batch was not empty
  int64_t blocks_total = 0;    // blocks full attention reads
  int64_t blocks_read = 0;     // blocks the sparse attention read
  int64_t bytes_full = 0;      // K/V bytes full attention reads (tokens attended x K and V)
  int64_t bytes_selected = 0;  // K/V bytes the sparse attention read
  int64_t bytes_bounds = 0;    // key-bound bytes the scoring read
  // Milliseconds: updating the key bounds after the K/V writes (part of StageTimes::write_kv_ms,
  // also when selection is off but the geometry keeps bounds; 0 when the CUDA executor fuses the
  // update into the K/V writes); scoring and top-K (part of attention_ms); the sparse attention
  // itself (part of attention_ms).
  double bounds_ms = 0.0;
  double select_ms = 0.0;
  double sparse_attention_ms = 0.0;
  int64_t bytes_read() const { return bytes_selected + bytes_bounds; }
};

struct StepResult {
  Status status;
  StageTimes times;
  SelectionStats selection;
  // Stages fully applied, in order (0..5). An invalid plan fails with 0; a device error after
  // validation names the stage it hit, and the stages before it stay applied.
  int32_t stages_applied = 0;
  bool ok() const { return status.ok(); }
};

// One block's K and V in one layer, raw bytes in the pool's dtype: [num_kv_heads, block_size,
// head_dim] each.
struct BlockData {
  std::vector<uint8_t> k;
  std::vector<uint8_t> v;
};

class KvExecutor {
 public:
  virtual ~KvExecutor() = default;
  virtual std::string_view name() const = 0;
  virtual const KvGeometry& geometry() const = 0;
  virtual StepResult execute(const StepPlan& plan) = 0;
  virtual Expected<BlockData> read_block(Pool pool, int32_t layer, BlockId block) const = 0;
  // The last step's attention output as float: [num_layers, num_queries, num_heads, head_dim],
  // one row per query (StepPlan::num_queries()), prefill chunks' queries first.
  virtual Expected<std::vector<float>> read_output() const = 0;
};

// Checks a plan against a geometry: sizes, ranges, used block-table entries, no two writes to
// one block or slot, query offsets, and that each entry's queries are its sequence's last tokens
// written where its block table maps them. Empty on success.
Status validate_plan(const KvGeometry& geometry, const StepPlan& plan);

// The q/K/V scale of every executor and benchmark: 1 / sqrt(head_dim).
float attention_scale(int32_t head_dim);

}  // namespace tinyserve
