// A run's step metrics as columns, one per plotted metric, kept in step with the engine's
// history (appending only what is new each frame).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "app/gui/column.h"
#include "core/engine/step_metrics.h"

namespace tinyserve::app {

enum class Metric : uint8_t {
  kKvCacheUsage,
  kTokenUtilization,
  kInternalFragmentation,
  kExternalFragmentation,
  kReservedFraction,
  kFTotal,
  kFSpatial,
  kFTemporal,
  kFAccess,
  kRunning,
  kWaiting,
  kSwapped,
  kRunningSeqs,
  kBatchSize,
  kPreemptions,
  kPreemptionsTotal,
  kRecomputedTotal,
  kPrefixHitRate,
  kCachedBlocks,
  kEvictions,
  kCowCopies,
  kThroughput,
  kThroughputWindow,  // over the last kThroughputWindow steps: smoother than one step's
  kStepMs,
  kModelledAttentionMs,
  kAttentionMs,
  kContiguousAttentionMs,
  kModelledPrefillAttentionMs,  // the step's attention split: prefill chunks, then decodes
  kModelledDecodeAttentionMs,
  kPrefillAttentionMs,  // measured, -1 when not measured
  kDecodeAttentionMs,
  kDecodeBytesRead,  // K/V (and key-bound) bytes the decodes read, in MB; with selection off
  kDecodeBytesFull,  // both 0 (metrics.csv's decode_bytes_* columns)
  kFinishedTotal,
  kCount
};
inline constexpr size_t kNumMetrics = static_cast<size_t>(Metric::kCount);
inline constexpr size_t kThroughputWindow = 32;

float metric_value(const StepMetrics& m, Metric metric);

// Attention times summed over a range of steps (from prefix sums: O(1) whatever the range).
struct AttentionSums {
  double modelled_ms = 0;              // every step's modelled time
  double measured_ms = 0;              // measured steps only
  double modelled_ms_of_measured = 0;  // the modelled time of those measured steps
  double contiguous_ms = 0;            // steps with a measured contiguous time
  int64_t steps = 0, measured_steps = 0, contiguous_steps = 0;
};

class RunColumns {
 public:
  // Appends the steps of history not seen yet (restarts when history is shorter than before).
  void sync(std::span<const StepMetrics> history);
  size_t size() const { return step_.size(); }
  const std::vector<double>& time() const { return time_; }  // simulated seconds, ascending
  const std::vector<double>& step() const { return step_; }  // step index, ascending
  const Column& operator[](Metric m) const { return columns_[static_cast<size_t>(m)]; }
  AttentionSums attention_sums(size_t begin, size_t end) const;
  bool measured() const { return measured_; }  // some step has a measured attention time
  bool contiguous_measured() const { return contiguous_measured_; }

 private:
  std::vector<double> time_, step_;
  std::array<Column, kNumMetrics> columns_;
  std::vector<double> generated_;  // output tokens generated up to each step (for the window)
  double start_time_ = 0;
  std::vector<AttentionSums> sums_;  // [size + 1] prefix sums, sums_[i] over steps [0, i)
  bool measured_ = false, contiguous_measured_ = false;
};

}  // namespace tinyserve::app
