// What an engine run is configured with, resolved once (by core/config/scenario from a scenario
// file, or by hand in tests): one geometry of the KV cache that the allocator, the cost model, the
// backend, the metrics and the GUI all read, and one typed choice of allocator.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "core/base/named.h"
#include "core/execution/cost_model.h"
#include "core/execution/kv_executor.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/free_list.h"
#include "core/memory/pool_metrics.h"
#include "core/scheduling/scheduler.h"

namespace tinyserve {

// model: the cost model's time throughout. measured: a backend's measured attention time
// (scaled from its layers to the model's) replaces the modelled one; arrivals then interleave
// differently, so such runs need not match other backends beyond time. steps: every step lasts
// 1 and arrival times are step numbers (as the vLLM reference harness counts), so a workload
// replays against a scheduler that has no clock; an idle engine jumps to the next arrival.
enum class ClockMode : uint8_t { kModel, kMeasured, kSteps };

inline constexpr Named<ClockMode> kClockModeNames[] = {
    {ClockMode::kModel, "model"}, {ClockMode::kMeasured, "measured"}, {ClockMode::kSteps, "steps"}};

// The paged KV-cache manager (core/memory/kv_cache_manager.h).
struct PagedOptions {
  FreeListPolicy free_list = FreeListPolicy::kLifo;
  bool prefix_caching = false;
  double watermark = 0.01;  // fraction of GPU blocks kept free when admitting
};

// A contiguous baseline (core/memory/contiguous_allocator.h): no prefix cache, no swapping.
struct ContiguousOptions {
  Reservation reservation = Reservation::kMaxLength;
  double watermark = 0.0;
};

using AllocatorOptions = std::variant<PagedOptions, ContiguousOptions>;

struct EngineConfig {
  std::string name = "scenario";
  uint64_t seed = 0;
  KvGeometry geometry;        // the KV cache: pools, block size, shape, dtype
  int32_t max_model_len = 0;  // longest request served (prompt + output); 0: no limit
  AllocatorOptions allocator = PagedOptions{};
  SchedulerConfig scheduler;
  CostModel cost;
  FragmentationParams fragmentation;
  ClockMode clock = ClockMode::kModel;
  // Query-aware block selection for the decodes (attention.selection; off by default): carried
  // by every step's plan, charged by the cost model. On, geometry.key_bounds is on too.
  SelectionSettings selection;
  int64_t max_steps = 0;          // 0: until every request is done
  bool keep_history = false;      // keep every step's metrics (the GUI's time series)
  bool record_decisions = false;  // keep every step's decision record (decisions.h)
  // Allocator and engine invariants after every step (debug builds otherwise check the allocator
  // after every operation).
  bool check_invariants = false;

  bool paged() const { return std::holds_alternative<PagedOptions>(allocator); }
  bool prefix_caching() const {
    const auto* p = std::get_if<PagedOptions>(&allocator);
    return p != nullptr && p->prefix_caching;
  }
};

// The configuration's options of one allocator kind, or that kind's defaults when the other is
// chosen (what a view shows for the allocator not in use).
template <typename Options>
Options options_or_default(const EngineConfig& config) {
  const auto* options = std::get_if<Options>(&config.allocator);
  return options != nullptr ? *options : Options{};
}

}  // namespace tinyserve
