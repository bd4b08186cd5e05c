// `tinyserve bench kernels`: latency and effective bandwidth of every attention kernel version on
// the reference configurations, against the device-to-device copy bandwidth measured in the same
// run; fp8 pools (bytes read, and speedup over fp16); the anchors (FlashInfer) when built in;
// paged vs contiguous vs padded batch; reshape_and_cache; block copies and swaps.
// Plain C++ header; the implementation needs a CUDA device.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/execution/kv_executor.h"

namespace tinyserve::gpu {

struct KernelBenchOptions {
  std::vector<KernelVersion> versions = {KernelVersion::kV1, KernelVersion::kV2,
                                         KernelVersion::kV3, KernelVersion::kV4,
                                         KernelVersion::kV5, KernelVersion::kV6};
  std::vector<std::string> configs = {"A", "B", "C"};  // the reference configurations
  int32_t repetitions = 100;  // timed runs per kernel (the median is reported)
  int32_t warmup = 5;
  // Slow kernels (v1, v2) get fewer repetitions: at least 3, at most what fits this budget.
  double slow_budget_ms = 1500.0;
  uint64_t seed = 2024;
  bool reshape = true;           // reshape_and_cache of a 64 x 2048-token prefill
  bool copies = true;            // copy_blocks on the GPU and swaps through pinned memory
  bool block_size_sweep = true;  // paged vs contiguous for block sizes 8..128 (config B)
  bool partition_sweep = false;  // v5 for several split-KV partition sizes
  bool v6_sweep = false;         // v6 for several numbers of warps (waves of resident warps)
  bool fp8 = true;               // fp8 rows: the same K/V quantized to e4m3 (and e5m2)
};

// Prints progress and a table to out. Returns 0, or 1 when no device or a CUDA call failed.
int run_kernel_bench(const KernelBenchOptions& options, std::ostream& out);

}  // namespace tinyserve::gpu
