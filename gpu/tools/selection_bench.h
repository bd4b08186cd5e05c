// `tinyserve bench selection`: latency of query-aware selection on the GPU (key-bound updates,
// block scores, top-K, sparse attention over the selected blocks) against full v5 decode on the
// same data, with the device-to-device copy bandwidth measured in the same run. Plain C++
// header; the implementation needs a CUDA device. (Accuracy against budget is measured on the CPU:
// core/execution/selection_accuracy.h.)
#pragma once

#include <cstdint>
#include <ostream>
#include <vector>

#include "core/execution/step_plan.h"

namespace tinyserve::gpu {

struct SelectionBenchOptions {
  std::vector<int32_t> contexts = {4096, 16384, 32768, 131072};
  std::vector<int32_t> batches = {1, 8, 64};
  std::vector<int32_t> budgets = {512, 1024, 2048, 4096};  // tokens
  GroupScore rule = GroupScore::kMax;
  int32_t repetitions = 30;  // timed runs per figure (the median is reported)
  int32_t warmup = 3;
  uint64_t seed = 2024;
  bool bound_updates = true;  // key-bound update against reshape_and_cache
};

// Prints progress and a table to out. Returns 0, or 1 when no device or a CUDA call failed.
int run_selection_bench(const SelectionBenchOptions& options, std::ostream& out);

}  // namespace tinyserve::gpu
