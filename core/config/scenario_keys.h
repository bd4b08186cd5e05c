// Every key a scenario file may hold, in one table: its type, default, range and meaning. The
// scenario loader reads each key through its entry here (so the range it checks and the default
// it applies are the table's), and docs/scenarios.md is generated from the same table (a test
// checks that the committed page equals it).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tinyserve {

enum class KeyType : uint8_t { kInteger, kNumber, kBoolean, kString, kPath, kChoice };

struct KeySpec {
  std::string_view key;  // dotted, as in --set: "cache.block_size"
  KeyType type = KeyType::kInteger;
  double def = 0;                  // integer, number (in the unit read) and boolean defaults
  std::string_view text_def = "";  // string, path and choice defaults
  double lo = 0, hi = 0;           // integer and number ranges, inclusive
  std::span<const std::string_view> choices = {};
  std::string_view doc = "";
  std::string_view default_doc = "";  // replaces the default in the docs where it depends

  std::string_view leaf() const { return key.substr(key.rfind('.') + 1); }
};

// All keys, in the order the documentation lists them.
std::span<const KeySpec* const> scenario_keys();
// The table's entry for a dotted key; nullptr for none.
const KeySpec* find_key(std::string_view key);
// docs/scenarios.md's generated part: one table per section.
std::string scenario_keys_markdown();

namespace keys {

inline constexpr std::string_view kAllocators[] = {"paged", "contiguous"};
inline constexpr std::string_view kReservations[] = {"max-length", "power-of-two", "exact"};
inline constexpr std::string_view kFreeLists[] = {"lifo", "fifo", "lru", "best-fit", "random"};
inline constexpr std::string_view kKvDtypes[] = {"auto", "fp16",     "bf16",
                                                 "fp32", "fp8_e4m3", "fp8_e5m2"};
inline constexpr std::string_view kModelDtypes[] = {"auto", "fp16", "bf16"};
inline constexpr std::string_view kPreemptions[] = {"recompute", "swap"};
inline constexpr std::string_view kVictims[] = {"newest", "lowest-priority"};
inline constexpr std::string_view kSources[] = {"synthetic", "azure", "mooncake", "requests"};
inline constexpr std::string_view kArrivals[] = {"all-at-once", "poisson", "gamma"};
inline constexpr std::string_view kLengths[] = {"fixed", "uniform", "zipf", "seed-mix"};
inline constexpr std::string_view kBackends[] = {"auto", "cuda", "cpu", "accounting"};
inline constexpr std::string_view kKernels[] = {"v1", "v2", "v3", "v4", "v5", "v6"};
inline constexpr std::string_view kClocks[] = {"model", "measured", "steps"};
inline constexpr std::string_view kSemanticsChoices[] = {"vllm-v1", "vllm-v0"};
inline constexpr std::string_view kGroupScores[] = {"max", "sum"};
inline constexpr std::string_view kKvPatterns[] = {"uniform", "structured"};

constexpr double kMaxTokens = 10'000'000;
constexpr double kMaxBlocks = 50'000'000;

// Top level.
inline constexpr KeySpec kName{"name", KeyType::kString,
                               0,      "",
                               0,      0,
                               {},     "The scenario's name: output folder and titles. Required."};
inline constexpr KeySpec kDescription{"description",
                                      KeyType::kString,
                                      0,
                                      "",
                                      0,
                                      0,
                                      {},
                                      "One line saying what the scenario shows. Required."};
inline constexpr KeySpec kSeed{
    "seed", KeyType::kInteger,
    0,      "",
    0,      9.2e18,
    {},     "Seeds every random draw (workload, sampling, free list, K/V)."};

// [model]
inline constexpr KeySpec kModelPreset{
    "model.preset",
    KeyType::kString,
    0,
    "llama-3-8b",
    0,
    0,
    {},
    "A model preset (Llama-2-7B, Llama-3-8B, Mistral-7B, Qwen2.5-7B, Llama-3-70B, Mixtral-8x7B, "
    "DeepSeek-V3, seed-1layer), case-insensitive. Setting model.config replaces it."};
inline constexpr KeySpec kModelConfig{
    "model.config",
    KeyType::kPath,
    0,
    "",
    0,
    0,
    {},
    "A Hugging Face config.json instead of a preset (dense or MoE, standard attention or MLA), "
    "relative to the scenario file (to the current directory with --set).",
    "none"};
inline constexpr KeySpec kMaxModelLen{
    "model.max_model_len",
    KeyType::kInteger,
    0,
    "",
    1,
    kMaxTokens,
    {},
    "Longest request served (prompt + output), as vLLM's --max-model-len: a longer prompt is "
    "rejected, outputs are capped to fit. The pool must hold one such request.",
    "the model's max_position_embeddings"};
inline constexpr KeySpec kModelDtype{
    "model.dtype",
    KeyType::kChoice,
    0,
    "auto",
    0,
    0,
    kModelDtypes,
    "Weights and activations: auto is the checkpoint's (fp32 served as fp16); an fp8-quantized "
    "checkpoint keeps fp8 weights. Decides the weights' memory and bytes read per step."};

// [hardware]
inline constexpr KeySpec kGpu{
    "hardware.gpu",
    KeyType::kString,
    0,
    "a100-80gb",
    0,
    0,
    {},
    "A GPU preset (A10, L4, L40S, A100-40GB, A100-80GB, H100, H200, B200, MI300X), or custom "
    "(then memory_gib, bandwidth_gb_s and fp16_tflops are required)."};
inline constexpr KeySpec kGpuMemory{"hardware.memory_gib",
                                    KeyType::kNumber,
                                    0,
                                    "",
                                    0.001,
                                    1e6,
                                    {},
                                    "GPU memory in GiB, replacing the preset's.",
                                    "the preset's"};
inline constexpr KeySpec kGpuBandwidth{"hardware.bandwidth_gb_s",
                                       KeyType::kNumber,
                                       0,
                                       "",
                                       0.001,
                                       1e6,
                                       {},
                                       "Memory bandwidth in GB/s, replacing the preset's.",
                                       "the preset's"};
inline constexpr KeySpec kGpuFlops{"hardware.fp16_tflops",
                                   KeyType::kNumber,
                                   0,
                                   "",
                                   0.001,
                                   1e6,
                                   {},
                                   "Dense fp16 tensor rate in TFLOP/s, replacing the preset's.",
                                   "the preset's"};
inline constexpr KeySpec kGpuPcie{"hardware.pcie_gb_s",
                                  KeyType::kNumber,
                                  0,
                                  "",
                                  0.001,
                                  1e6,
                                  {},
                                  "Host link for swaps in GB/s (one way), replacing the preset's.",
                                  "the preset's"};
inline constexpr KeySpec kNumGpus{"hardware.num_gpus",
                                  KeyType::kInteger,
                                  1,
                                  "",
                                  1,
                                  64,
                                  {},
                                  "GPUs of one instance (tensor parallel): memory, bandwidth and "
                                  "compute add up, weights and KV heads split evenly."};
inline constexpr KeySpec kGpuUtil{"hardware.gpu_memory_utilization",
                                  KeyType::kNumber,
                                  0.9,
                                  "",
                                  0.01,
                                  1.0,
                                  {},
                                  "Fraction of GPU memory for weights and the KV cache, as vLLM's "
                                  "--gpu-memory-utilization."};
inline constexpr KeySpec kNumGpuBlocks{
    "hardware.num_gpu_blocks",
    KeyType::kInteger,
    0,
    "",
    0,
    kMaxBlocks,
    {},
    "The KV pool's blocks, as vLLM's --num-gpu-blocks-override; 0: what the memory left after the "
    "weights holds."};
inline constexpr KeySpec kSwapSpace{"hardware.swap_space_gib",
                                    KeyType::kNumber,
                                    4,
                                    "",
                                    0,
                                    4096,
                                    {},
                                    "CPU swap space in GiB, as vLLM's --swap-space (swap "
                                    "preemption)."};

// [cache]
inline constexpr KeySpec kAllocator{
    "cache.allocator",
    KeyType::kChoice,
    0,
    "paged",
    0,
    0,
    kAllocators,
    "paged (PagedAttention) or contiguous (per-request reservation: no prefix cache, no swap)."};
inline constexpr KeySpec kReservation{
    "cache.reservation",
    KeyType::kChoice,
    0,
    "max-length",
    0,
    0,
    kReservations,
    "Contiguous only: reserve max_model_len, the next power of two of the final length, or the "
    "exact final length."};
inline constexpr KeySpec kBlockSize{"cache.block_size",
                                    KeyType::kInteger,
                                    16,
                                    "",
                                    1,
                                    1024,
                                    {},
                                    "Tokens per KV block, as vLLM's --block-size."};
inline constexpr KeySpec kKvDtype{
    "cache.kv_dtype",
    KeyType::kChoice,
    0,
    "auto",
    0,
    0,
    kKvDtypes,
    "The KV cache's element type, as vLLM's --kv-cache-dtype: auto is the model's dtype; fp8 "
    "halves bytes per token."};
inline constexpr KeySpec kFreeList{
    "cache.free_list",
    KeyType::kChoice,
    0,
    "lru",
    0,
    0,
    kFreeLists,
    "Which free block is reused next (docs/architecture.md); lru is vLLM's free block queue (under "
    "vllm-v1 exactly as vLLM 0.33's).",
    "\"lru\" (vllm-v1), \"lifo\" (vllm-v0)"};
inline constexpr KeySpec kPrefixCaching{"cache.prefix_caching",
                                        KeyType::kBoolean,
                                        0,
                                        "",
                                        0,
                                        0,
                                        {},
                                        "Prefix caching, as vLLM's --enable-prefix-caching (paged "
                                        "only)."};
inline constexpr KeySpec kWatermark{"cache.watermark",
                                    KeyType::kNumber,
                                    0,
                                    "",
                                    0,
                                    0.5,
                                    {},
                                    "Fraction of GPU blocks kept free when admitting (vLLM 0.33: "
                                    "none by default).",
                                    "0 (vllm-v1), 0.01 (vllm-v0)"};

// [scheduler]
inline constexpr KeySpec kSemantics{
    "scheduler.semantics",
    KeyType::kChoice,
    0,
    "vllm-v1",
    0,
    0,
    kSemanticsChoices,
    "Whose decisions the scheduler and KV-cache manager reproduce: vllm-v1 (vLLM 0.33's v1 engine, "
    "checked against it step by step) or vllm-v0 (whole-prompt allocation, watermark, swap, beam "
    "search); docs/fidelity.md."};
inline constexpr KeySpec kAsyncScheduling{
    "scheduler.async_scheduling",
    KeyType::kBoolean,
    0,
    "",
    0,
    0,
    {},
    "vllm-v1 only: vLLM's asynchronous scheduling (its engine default): each step is scheduled "
    "before the previous step's output is applied, so finished requests free their blocks one step "
    "later. Accounting backend only."};
inline constexpr KeySpec kMaxNumSeqs{"scheduler.max_num_seqs",
                                     KeyType::kInteger,
                                     256,
                                     "",
                                     1,
                                     1e6,
                                     {},
                                     "Sequences running at once, as vLLM's --max-num-seqs."};
inline constexpr KeySpec kMaxBatchedTokens{
    "scheduler.max_num_batched_tokens",
    KeyType::kInteger,
    2048,
    "",
    1,
    kMaxTokens,
    {},
    "Tokens per step, as vLLM's --max-num-batched-tokens; at least max_num_seqs."};
inline constexpr KeySpec kChunkedPrefill{"scheduler.chunked_prefill",
                                         KeyType::kBoolean,
                                         1,
                                         "",
                                         0,
                                         0,
                                         {},
                                         "Split prompts into chunks of the token budget; without "
                                         "it the budget must hold max_model_len."};
inline constexpr KeySpec kPreemption{
    "scheduler.preemption",
    KeyType::kChoice,
    0,
    "recompute",
    0,
    0,
    kPreemptions,
    "What a preempted request loses: recompute its tokens, or swap "
    "its blocks to the CPU pool (paged only)."};
inline constexpr KeySpec kVictim{"scheduler.victim",
                                 KeyType::kChoice,
                                 0,
                                 "newest",
                                 0,
                                 0,
                                 kVictims,
                                 "Which running request is preempted: the most recently admitted, "
                                 "or the lowest priority (then the newest)."};

// [workload]
inline constexpr KeySpec kSource{"workload.source",
                                 KeyType::kChoice,
                                 0,
                                 "synthetic",
                                 0,
                                 0,
                                 kSources,
                                 "synthetic (the keys below), a trace: azure (CSV) or mooncake "
                                 "(JSONL), or requests: the vLLM reference harness's workload "
                                 "JSONL (tools/vllm_reference/README.md)."};
inline constexpr KeySpec kNumRequests{"workload.num_requests",
                                      KeyType::kInteger,
                                      200,
                                      "",
                                      0,
                                      1e7,
                                      {},
                                      "Requests generated; for traces the rows read (0: all).",
                                      "200 (synthetic), 0 (traces)"};
inline constexpr KeySpec kTrace{"workload.trace",
                                KeyType::kPath,
                                0,
                                "",
                                0,
                                0,
                                {},
                                "The trace file, relative to the scenario file (to the current "
                                "directory with --set). Traces only, required.",
                                "none"};
inline constexpr KeySpec kTimeScale{"workload.time_scale",
                                    KeyType::kNumber,
                                    1,
                                    "",
                                    1e-9,
                                    1e9,
                                    {},
                                    "Traces: arrival offsets are multiplied by it (< 1: denser "
                                    "traffic)."};
inline constexpr KeySpec kRateScale{"workload.rate_scale",
                                    KeyType::kNumber,
                                    1,
                                    "",
                                    1e-6,
                                    1e6,
                                    {},
                                    "Load knob for every arrival process: multiplies "
                                    "arrival.rate, divides a trace's time (tinyserve search)."};
inline constexpr KeySpec kSamples{"workload.n",
                                  KeyType::kInteger,
                                  1,
                                  "",
                                  1,
                                  64,
                                  {},
                                  "Parallel samples per request, forked after the prompt."};
inline constexpr KeySpec kBeamWidth{"workload.beam_width",
                                    KeyType::kInteger,
                                    1,
                                    "",
                                    1,
                                    64,
                                    {},
                                    "Beam search width (1: none); n must then be 1."};
inline constexpr KeySpec kPriorities{"workload.priorities",
                                     KeyType::kInteger,
                                     1,
                                     "",
                                     1,
                                     1000,
                                     {},
                                     "Synthetic: priorities drawn uniformly in [0, priorities) "
                                     "(lower is more important)."};
inline constexpr KeySpec kArrival{"workload.arrival.process",
                                  KeyType::kChoice,
                                  0,
                                  "all-at-once",
                                  0,
                                  0,
                                  kArrivals,
                                  "Arrivals: all at time 0, Poisson, or gamma inter-arrival times "
                                  "(bursty when shape < 1)."};
inline constexpr KeySpec kArrivalRate{"workload.arrival.rate",
                                      KeyType::kNumber,
                                      10,
                                      "",
                                      1e-9,
                                      1e9,
                                      {},
                                      "Requests per simulated second (poisson, gamma)."};
inline constexpr KeySpec kArrivalShape{"workload.arrival.shape",
                                       KeyType::kNumber,
                                       0.25,
                                       "",
                                       1e-3,
                                       1e3,
                                       {},
                                       "Gamma shape: coefficient of variation 1 / sqrt(shape)."};
inline constexpr KeySpec kSystemLength{"workload.system_prompt.length",
                                       KeyType::kInteger,
                                       0,
                                       "",
                                       0,
                                       kMaxTokens,
                                       {},
                                       "Tokens of a shared system prompt before each prompt (0: "
                                       "none)."};
inline constexpr KeySpec kSystemCount{"workload.system_prompt.count",
                                      KeyType::kInteger,
                                      1,
                                      "",
                                      1,
                                      1e6,
                                      {},
                                      "Distinct system prompts, one drawn per request."};

// [workload.prompt] and [workload.output]: length distributions.
#define TINYSERVE_LENGTH_KEYS(part, dist, lo, hi, lo_doc, hi_doc, what)                           \
  inline constexpr KeySpec k_##part##_distribution{"workload." #part ".distribution",             \
                                                   KeyType::kChoice,                              \
                                                   0,                                             \
                                                   dist,                                          \
                                                   0,                                             \
                                                   0,                                             \
                                                   kLengths,                                      \
                                                   what                                           \
                                                   " lengths: fixed, uniform, zipf or the "       \
                                                   "seed's mix."};                                \
  inline constexpr KeySpec k_##part##_value{                                                      \
      "workload." #part ".value", KeyType::kInteger, 128, "", 1, kMaxTokens, {},                  \
      "fixed: the length."};                                                                      \
  inline constexpr KeySpec k_##part##_min{                                                        \
      "workload." #part ".min",                                                                   \
      KeyType::kInteger,                                                                          \
      lo,                                                                                         \
      "",                                                                                         \
      1,                                                                                          \
      kMaxTokens,                                                                                 \
      {},                                                                                         \
      "uniform, zipf: shortest; seed-mix: shortest short one.",                                   \
      lo_doc};                                                                                    \
  inline constexpr KeySpec k_##part##_max{"workload." #part ".max",                               \
                                          KeyType::kInteger,                                      \
                                          hi,                                                     \
                                          "",                                                     \
                                          1,                                                      \
                                          kMaxTokens,                                             \
                                          {},                                                     \
                                          "uniform, zipf: longest; seed-mix: longest short one.", \
                                          hi_doc};                                                \
  inline constexpr KeySpec k_##part##_exponent{"workload." #part ".exponent",                     \
                                               KeyType::kNumber,                                  \
                                               1,                                                 \
                                               "",                                                \
                                               0,                                                 \
                                               100,                                               \
                                               {},                                                \
                                               "zipf: P(L = k) proportional to k^-exponent."};    \
  inline constexpr KeySpec k_##part##_long_min{                                                   \
      "workload." #part ".long_min", KeyType::kInteger, 2048, "", 1, kMaxTokens, {},              \
      "seed-mix: shortest long one."};                                                            \
  inline constexpr KeySpec k_##part##_long_max{                                                   \
      "workload." #part ".long_max", KeyType::kInteger, 4096, "", 1, kMaxTokens, {},              \
      "seed-mix: longest long one."};                                                             \
  inline constexpr KeySpec k_##part##_long_fraction{                                              \
      "workload." #part ".long_fraction", KeyType::kNumber, 0.1, "", 0, 1, {},                    \
      "seed-mix: share of long ones."};
TINYSERVE_LENGTH_KEYS(prompt, "uniform", 64, 512, "", "", "Prompt")
TINYSERVE_LENGTH_KEYS(output, "uniform", 16, 256, "16 (seed-mix: 64)", "256 (seed-mix: 512)",
                      "Output")
#undef TINYSERVE_LENGTH_KEYS

// [engine]
inline constexpr KeySpec kBackend{"engine.backend",
                                  KeyType::kChoice,
                                  0,
                                  "accounting",
                                  0,
                                  0,
                                  kBackends,
                                  "What executes each step: accounting (modelled times), cpu (the "
                                  "CPU reference), cuda (the kernels), auto (the best that can)."};
inline constexpr KeySpec kKernel{"engine.kernel",
                                 KeyType::kChoice,
                                 0,
                                 "v5",
                                 0,
                                 0,
                                 kKernels,
                                 "The CUDA backend's paged attention kernel."};
inline constexpr KeySpec kClock{"engine.clock",
                                KeyType::kChoice,
                                0,
                                "model",
                                0,
                                0,
                                kClocks,
                                "model: the cost model times every step; measured: the backend's "
                                "measured attention replaces the modelled one; steps: each step "
                                "lasts 1 and arrival times are step numbers."};
inline constexpr KeySpec kGpuLayers{"engine.gpu_layers",
                                    KeyType::kInteger,
                                    1,
                                    "",
                                    1,
                                    1e6,
                                    {},
                                    "Layers whose K/V the cpu and cuda backends hold and compute "
                                    "(at most the model's)."};
inline constexpr KeySpec kMaxSteps{"engine.max_steps",
                                   KeyType::kInteger,
                                   0,
                                   "",
                                   0,
                                   9.2e18,
                                   {},
                                   "Stop after this many steps (0: when every request is done)."};
inline constexpr KeySpec kCheckInvariants{"engine.check_invariants",
                                          KeyType::kBoolean,
                                          0,
                                          "",
                                          0,
                                          0,
                                          {},
                                          "Check every invariant after every step (slow)."};

// [attention]: query-aware block selection (docs/selection.md) and the executed K/V's pattern.
// `attention.selection = { budget_tokens = 2048 }` in a file sets the table's keys at once.
inline constexpr KeySpec kSelectionBudgetTokens{
    "attention.selection.budget_tokens",
    KeyType::kInteger,
    0,
    "",
    0,
    kMaxTokens,
    {},
    "Query-aware block selection (Quest, issue 13): each decode reads only its top-scoring blocks "
    "per KV head, this many tokens' worth (at least 2 blocks; the first and the last always), "
    "plus every block's key bounds; prefill chunks attend in full. 0 and budget_ratio 0: off. "
    "Paged allocator only, not with fp8 caches or MLA models; the cuda backend needs v3 or later."};
inline constexpr KeySpec kSelectionBudgetRatio{
    "attention.selection.budget_ratio",
    KeyType::kNumber,
    0,
    "",
    0,
    1,
    {},
    "Selection's budget as a share of each decode's context instead of budget_tokens (0: none; "
    "not both)."};
inline constexpr KeySpec kSelectionGroupScore{
    "attention.selection.group_score",
    KeyType::kChoice,
    0,
    "max",
    0,
    0,
    kGroupScores,
    "How a GQA group's query heads combine into one block score per KV head."};
inline constexpr KeySpec kKvPattern{
    "attention.kv_pattern",
    KeyType::kChoice,
    0,
    "uniform",
    0,
    0,
    kKvPatterns,
    "The synthetic K/V the cpu and cuda backends compute: uniform noise, or structured (attention "
    "sinks, a recency window and planted topic spans that later queries find, as passkey tests "
    "do; core/execution/synthetic_kv.h). No effect on the accounting backend."};

// [metrics]: the fragmentation formula (docs/metrics.md).
inline constexpr KeySpec kFragA{
    "metrics.a", KeyType::kNumber, 0.5, "", 0, 1e6, {}, "Weight of F_spatial in F_total."};
inline constexpr KeySpec kFragB{
    "metrics.b", KeyType::kNumber, 0.3, "", 0, 1e6, {}, "Weight of F_temporal in F_total."};
inline constexpr KeySpec kFragC{
    "metrics.c", KeyType::kNumber, 0.2, "", 0, 1e6, {}, "Weight of F_access in F_total."};
inline constexpr KeySpec kSigma{"metrics.sigma",
                                KeyType::kNumber,
                                0.5,
                                "",
                                1e-6,
                                1e6,
                                {},
                                "F_spatial's decay, in units of the pool size."};
inline constexpr KeySpec kTemporalDecay{
    "metrics.temporal_decay",      KeyType::kNumber, 0.9, "", 0, 0.999999, {},
    "F_temporal's decay per step."};
inline constexpr KeySpec kGpuLatency{"metrics.gpu_latency",
                                     KeyType::kNumber,
                                     1,
                                     "",
                                     1e-12,
                                     1e12,
                                     {},
                                     "F_access: relative latency of a GPU block access."};
inline constexpr KeySpec kCpuLatency{"metrics.cpu_latency",
                                     KeyType::kNumber,
                                     80,
                                     "",
                                     1e-12,
                                     1e12,
                                     {},
                                     "F_access: relative latency of a CPU block access."};

// [cost]: the roofline's efficiencies, or a measured GPU profile (docs/cost_model.md).
inline constexpr KeySpec kMemEfficiency{"cost.mem_efficiency",
                                        KeyType::kNumber,
                                        0.8,
                                        "",
                                        0.01,
                                        1,
                                        {},
                                        "Roofline: achievable fraction of the memory bandwidth."};
inline constexpr KeySpec kComputeEfficiency{"cost.compute_efficiency",
                                            KeyType::kNumber,
                                            0.6,
                                            "",
                                            0.01,
                                            1,
                                            {},
                                            "Roofline: achievable fraction of the fp16 tensor "
                                            "rate."};
inline constexpr KeySpec kStepOverhead{"cost.step_overhead_ms",
                                       KeyType::kNumber,
                                       0.5,
                                       "",
                                       0,
                                       1e6,
                                       {},
                                       "Roofline: fixed time per step (scheduling, launches, "
                                       "sampling)."};
inline constexpr KeySpec kProfile{
    "cost.profile",
    KeyType::kString,
    0,
    "auto",
    0,
    0,
    {},
    "The calibrated cost model's GPU profile (docs/cost_model.md), which replaces the three keys "
    "above: auto takes assets/gpu_profiles/<hardware.gpu>.toml where it exists (else the "
    "roofline), none the roofline; anything else is a profile's path, relative to the scenario "
    "file (to the current directory with --set)."};

}  // namespace keys
}  // namespace tinyserve
