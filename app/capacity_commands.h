// Capacity planning: `tinyserve sweep` (a grid of configurations run in parallel processes),
// `tinyserve search` (the largest load meeting SLOs, per configuration) and `tinyserve capacity`
// (vLLM's maximum-concurrency line next to what a workload achieves). docs/capacity.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyserve::app {

struct SweepOptions {
  std::string scenario;              // name or path ("" with collect)
  std::vector<std::string> grid;     // key=v1,v2,...
  std::vector<std::string> sets;     // --set key=value, every run
  int32_t jobs = 0;                  // 0: every core
  std::string out_dir;               // "": out/sweep-<scenario>
  std::vector<std::string> outputs;  // run --outputs; empty: summary and report
  std::string backend;               // "": the scenario's
  std::string emit_jobs;             // write the commands here instead of running them
  std::string collect;               // merge the run folders of this sweep into sweep.csv
  bool progress = true;
};
int sweep(const SweepOptions& options, const std::string& executable_dir);

struct SearchOptions {
  std::string scenario;
  std::string slo;  // "ttft_p99=2s,tpot_p99=100ms"
  std::string over = "workload.rate_scale";
  std::vector<std::string> grid;
  std::vector<std::string> sets;
  std::vector<double> range;  // {lo, hi}; empty: 0.1, 10
  double precision = 0.01;    // stop when hi / lo <= 1 + precision
  double scan_step = 0;       // > 0: a linear scan from lo to hi in this step instead
  int32_t jobs = 0;
  std::string out_dir;  // "": out/search-<scenario>
  std::string backend;
  bool progress = true;
};
int search(const SearchOptions& options, const std::string& executable_dir);

struct CapacityOptions {
  std::string scenario = "capacity_llama3_8b_a100";
  std::string model, gpu;         // "": the scenario's
  int32_t num_gpus = 0;           // 0: the scenario's
  std::vector<int32_t> tokens;    // more "tokens per request" lines
  std::vector<std::string> sets;  // --set, then vLLM's flags (--block-size, ...)
  bool run = true;                // replay the scenario's workload for what it achieves
};
int capacity(const CapacityOptions& options, const std::string& executable_dir);

// vLLM v1's "Maximum concurrency for N tokens per request" for one full-attention KV cache group:
// num_blocks / cdiv(tokens_per_request, block_size).
inline double max_concurrency(int64_t num_blocks, int32_t block_size, int64_t tokens_per_request) {
  const int64_t blocks_per_request = (tokens_per_request + block_size - 1) / block_size;
  return static_cast<double>(num_blocks) /
         static_cast<double>(blocks_per_request > 0 ? blocks_per_request : 1);
}

}  // namespace tinyserve::app
