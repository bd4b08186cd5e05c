// The subcommands of the tinyserve executable. Each returns the process exit code:
// 0 success, 1 internal failure, 2 bad input.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tinyserve::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

struct BenchAllocatorOptions {
  int32_t num_blocks = 65'536;
  int64_t pairs = 10'000'000;   // allocate+free pairs per policy and repetition
  int64_t mix_ops = 2'000'000;  // manager operations per policy and repetition
  int32_t repetitions = 3;
  std::vector<std::string> policies;  // empty: all
};
int bench_allocator(const BenchAllocatorOptions& options);

int block_map_demo();

struct ConcurrencyOptions {
  std::string model = "seed-1layer";
  std::string kv_dtype = "auto";  // the model's dtype, or fp16, bf16, fp8_e4m3, fp8_e5m2
  double budget_gb = 24.0;        // 1e9 bytes
  int32_t block_size = 16;
  std::string lengths = "seed-mix";  // or "uniform" with min_len / max_len
  std::optional<int32_t> min_len;    // uniform only (default 64)
  std::optional<int32_t> max_len;    // uniform only (default 4096)
  int32_t max_model_len = 0;         // 0: the longest length the distribution draws
  uint64_t seed = 0;
};
int concurrency(const ConcurrencyOptions& options);

// `tinyserve compare RUN_A RUN_B`: run folders or summary.json files.
struct CompareOptions {
  std::string run_a, run_b;
};
int compare_runs(const CompareOptions& options);

// `tinyserve scenarios`; keys: print the reference of every scenario key instead.
int list_scenario_descriptions(const std::string& executable_dir, bool keys = false);

struct KernelBenchCliOptions {
  std::vector<std::string> versions;  // empty: all
  std::vector<std::string> configs;   // empty: A, B, C
  int32_t repetitions = 100;
  bool partition_sweep = false;
  bool block_size_sweep = true;
};
// Needs a CUDA device; without one, a one-line message and exit code 2.
int bench_kernels(const KernelBenchCliOptions& options);

struct SelectionBenchCliOptions {
  std::vector<int32_t> contexts;  // empty: 4096, 16384, 32768, 131072
  std::vector<int32_t> batches;   // empty: 1, 8, 64
  std::vector<int32_t> budgets;   // empty: 512, 1024, 2048, 4096
  std::string rule = "max";       // GQA group score: max or sum
  int32_t repetitions = 30;
  // Accuracy against budget on the structured synthetic K/V, with the CPU reference (no device
  // needed); the latency benchmark needs a CUDA device.
  bool accuracy = false;
  int32_t samples = 4;  // accuracy: decode positions per context
};
int bench_selection(const SelectionBenchCliOptions& options);

struct PrefillBenchCliOptions {
  std::vector<std::string> configs;  // empty: P1 P2 P3 P4 P1-fp8
  std::vector<std::string> kernels;  // empty: wgmma mma
  int32_t repetitions = 30;
  bool flashinfer = true;
};
// Needs a CUDA device; without one, a one-line message and exit code 2.
int bench_prefill(const PrefillBenchCliOptions& options);

// `tinyserve calibrate`: a GPU profile for the calibrated cost model (docs/cost_model.md).
struct CalibrateCliOptions {
  std::string gpu_name;             // the GPU preset it stands for; empty: from the device
  std::vector<std::string> models;  // model presets; empty: every one with standard attention
  std::string out = "gpu_profile.toml";
  int32_t repetitions = 5;
  bool quick = false;
  std::string command;  // the command line, recorded in the profile
};
// Needs a CUDA device; without one, a one-line message and exit code 2.
int calibrate(const CalibrateCliOptions& options);

// `tinyserve cost-report`: modelled against measured step times over the scenarios' steps.
struct CostReportOptions {
  std::string profile;                 // the calibrated model's GPU profile
  std::vector<std::string> scenarios;  // empty: every scenario
  std::string gpu = "h100";            // hardware.gpu the steps run under
  int64_t max_steps = 1500;            // per scenario; 0: every step
  int32_t repetitions = 3;             // runs of each step's attention (the median is kept)
  std::string out_dir;                 // steps.csv and report.md; "": none
};
// Needs a CUDA device; without one, a one-line message and exit code 2.
int cost_report(const CostReportOptions& options, const std::string& executable_dir);

struct BenchEngineOptions {
  std::string scenario = "azure_conv";
  std::string out_dir;  // "": a temporary directory
  int32_t repetitions = 3;
};
int bench_engine(const BenchEngineOptions& options, const std::string& executable_dir);

struct FidelityOptions {
  std::vector<std::string> dirs;  // harness records: workload.jsonl, config.json, decisions.jsonl
  std::vector<std::string> overrides;  // --set on the replay scenario
  bool show_divergence = true;
  int context = 3;
};
// 0 when every record is reproduced step for step, 1 otherwise.
int fidelity(const FidelityOptions& options);

}  // namespace tinyserve::app
