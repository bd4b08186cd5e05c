// `tinyserve bench selection`: query-aware block selection. Latency on the GPU
// (gpu/tools/selection_bench.h), or with --accuracy the accuracy against budget on the structured
// synthetic K/V through the CPU reference (core/execution/selection_accuracy.h), which needs no
// device: the GPU selects exactly the blocks the reference does (tests/gpu/test_selection.cpp).
#include <cstdio>
#include <iostream>
#include <string>

#include "app/backends.h"
#include "app/commands.h"
#include "core/execution/selection.h"
#include "core/execution/selection_accuracy.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/device.h"
#include "gpu/tools/selection_bench.h"
#endif

namespace tinyserve::app {
namespace {

int accuracy(const SelectionBenchCliOptions& o) {
  AccuracyOptions a;
  a.geometry.num_heads = 32;
  a.geometry.num_kv_heads = 8;
  a.geometry.head_dim = 128;
  a.geometry.block_size = 16;
  a.geometry.dtype = DType::kF16;
  a.geometry.seed = 2024;
  a.geometry.synthetic = SyntheticPattern::kStructured;
  if (!o.contexts.empty())
    a.contexts = o.contexts;
  else
    a.contexts = {4096, 16384, 32768, 131072};
  a.budgets = o.budgets.empty() ? std::vector<int32_t>{512, 1024, 2048, 4096} : o.budgets;
  a.rules = o.rule == "both"  ? std::vector<GroupScore>{GroupScore::kMax, GroupScore::kSum}
            : o.rule == "sum" ? std::vector<GroupScore>{GroupScore::kSum}
                              : std::vector<GroupScore>{GroupScore::kMax};
  a.samples = o.samples;
  for (int32_t context : a.contexts) {
    if (context <= 61 * (a.samples - 1)) {
      std::fprintf(stderr, "tinyserve: --contexts %d is too short for %d samples\n", context,
                   a.samples);
      return kExitBadInput;
    }
  }
  std::printf(
      "selection accuracy on the structured synthetic K/V (core/execution/synthetic_kv.h; not a "
      "trained model's): 32 q heads / 8 KV heads, head dim 128, fp16, blocks of 16, %d decode "
      "positions per context, exact attention in double\n",
      a.samples);
  std::printf("%7s %6s %4s %9s %9s %9s %12s\n", "context", "budget", "rule", "recall", "min",
              "out err", "needles");
  for (int32_t context : a.contexts) {
    AccuracyOptions one = a;
    one.contexts = {context};
    for (const AccuracyPoint& p : measure_selection_accuracy(one)) {
      std::printf("%7d %6d %4s %8.2f%% %8.2f%% %9.4f ", p.context, p.budget,
                  std::string(group_score_name(p.rule)).c_str(), 100.0 * p.recall,
                  100.0 * p.min_recall, p.output_error);
      if (p.needles == 0) {
        std::printf("%12s\n", "- (no span before)");
      } else {
        std::printf("%5ld/%-5ld (%.1f%%)\n", static_cast<long>(p.found),
                    static_cast<long>(p.needles), 100.0 * p.hit_rate());
      }
      std::fflush(stdout);
    }
  }
  std::printf(
      "recall: selected blocks' share of the attention mass the same number of best blocks "
      "holds (mean, and min over (position, KV head)); out err: ||sparse - full|| / ||full||; "
      "needles: (position, query head) pairs whose planted span's blocks were all selected\n");
  return kExitOk;
}

}  // namespace

int bench_selection(const SelectionBenchCliOptions& o) {
  if (o.accuracy) return accuracy(o);
#ifdef TINYSERVE_HAVE_CUDA
  if (const gpu::DeviceInfo device = gpu::query_device(); !device.available) {
    std::fprintf(
        stderr, "tinyserve: bench selection needs a CUDA device (%s); --accuracy runs on the CPU\n",
        device.reason.c_str());
    return kExitBadInput;
  }
  gpu::SelectionBenchOptions options;
  if (!o.contexts.empty()) options.contexts = o.contexts;
  if (!o.batches.empty()) options.batches = o.batches;
  if (!o.budgets.empty()) options.budgets = o.budgets;
  options.rule = o.rule == "sum" ? GroupScore::kSum : GroupScore::kMax;
  options.repetitions = o.repetitions;
  return gpu::run_selection_bench(options, std::cout) == 0 ? kExitOk : kExitFailure;
#else
  std::fprintf(stderr,
               "tinyserve: bench selection needs the CUDA backend (%s); --accuracy runs on the "
               "CPU\n",
               cuda_status().c_str());
  return kExitBadInput;
#endif
}

}  // namespace tinyserve::app
