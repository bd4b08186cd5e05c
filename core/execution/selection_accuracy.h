// Accuracy of query-aware selection against budget, on synthetic K/V
// (core/execution/synthetic_kv.h; the structured pattern is the one where attention concentrates):
// the CPU reference builds one long sequence per seed, takes decode queries at sampled positions,
// selects blocks exactly as the executors do (core/execution/selection.h) and compares with exact
// attention. What `tinyserve bench selection` reports and the tests check; these are figures on
// synthetic K/V, not on a trained model.
#pragma once

#include <cstdint>
#include <vector>

#include "core/execution/kv_executor.h"

namespace tinyserve {

struct AccuracyOptions {
  KvGeometry geometry;  // num_layers 1; num_gpu_blocks is ignored (sized to the longest context)
  std::vector<int32_t> contexts = {32768};
  std::vector<int32_t> budgets = {1024, 2048};  // tokens
  std::vector<GroupScore> rules = {GroupScore::kMax};
  int32_t samples = 4;  // decode positions per context: contexts - 1 - 61 * i
};

struct AccuracyPoint {
  int32_t context = 0;
  int32_t budget = 0;
  GroupScore rule = GroupScore::kMax;
  int32_t samples = 0;
  double recall = 0.0;        // mean over samples and (sequence, KV head) pairs
  double min_recall = 1.0;    // the worst pair
  double output_error = 0.0;  // ||sparse - full|| / ||full|| over every sample's outputs
  int64_t needles = 0;        // (sample, query head) pairs whose query targets a span
  int64_t found = 0;          // ... whose span's blocks were all selected
  double hit_rate() const {
    return needles > 0 ? static_cast<double>(found) / static_cast<double>(needles) : 1.0;
  }
};

// One point per (context, budget, rule), in that nesting order.
std::vector<AccuracyPoint> measure_selection_accuracy(const AccuracyOptions& options);

}  // namespace tinyserve
