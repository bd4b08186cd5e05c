// The cost model's error against measured step times (`tinyserve cost-report`,
// docs/cost_model.md): each step's modelled time under the roofline and the calibrated model
// beside its measured time, and per step kind the median and 90th percentile (nearest rank) of
// the absolute relative error |modelled - measured| / measured.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/execution/cost_model.h"

namespace tinyserve {

enum class StepKind : uint8_t { kDecode, kPrefill, kMixed };
inline constexpr StepKind kAllStepKinds[] = {StepKind::kDecode, StepKind::kPrefill,
                                             StepKind::kMixed};
std::string_view step_kind_name(StepKind kind);  // "decode", "prefill", "mixed"
// Decode-only, prefill-only (chunks, no decode), or mixed (both).
StepKind step_kind(const StepWork& work);

struct StepSample {
  std::string scenario;
  StepKind kind = StepKind::kDecode;
  double measured_s = 0;  // > 0
  double roofline_s = 0;
  double calibrated_s = 0;
};

struct ErrorSummary {
  int64_t steps = 0;
  double median = 0;  // of |modelled - measured| / measured
  double p90 = 0;
  double max = 0;
  double bias = 0;  // median of (modelled - measured) / measured: < 0 when the model is fast
};

enum class CostModelKind : uint8_t { kRoofline, kCalibrated };
// Over the samples (all of them, or those of one kind); an empty summary for none.
ErrorSummary relative_error(std::span<const StepSample> samples, CostModelKind model);
ErrorSummary relative_error(std::span<const StepSample> samples, CostModelKind model,
                            StepKind kind);

// The report's tables (markdown): per step kind and over all steps, then per scenario.
std::string cost_report_markdown(std::span<const StepSample> samples);

}  // namespace tinyserve
