// The interface the engine drives each step: a backend executes a StepPlan
// (core/execution/step_plan.h) and reports its kernels' times.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/execution/step_plan.h"

namespace tinyserve {

// Per-kernel times of one step in milliseconds; negative when the backend did not measure it.
struct KernelTimes {
  double attention_ms = -1;  // prefill_attention_ms + decode_attention_ms
  double prefill_attention_ms = -1;
  double decode_attention_ms = -1;
  double contiguous_attention_ms = -1;  // the same batch on a contiguous layout, when measured
  double write_ms = -1;
  double copy_ms = -1;
  double swap_ms = -1;
  bool measured() const { return attention_ms >= 0; }
};

class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;         // "accounting", "cpu" or "cuda"
  virtual std::string description() const = 0;  // e.g. "NVIDIA H100 80GB HBM3", or why not
  // False when execute() ignores the plan's index lists (the engine then skips building them).
  virtual bool executes() const { return true; }
  // Executes the plan; throws BackendError when the device fails.
  virtual KernelTimes execute(const StepPlan& plan) = 0;
};

// Executes nothing: the engine's cost model gives the step its time.
class AccountingBackend final : public Backend {
 public:
  explicit AccountingBackend(std::string why = "modelled times") : why_(std::move(why)) {}
  std::string name() const override { return "accounting"; }
  std::string description() const override { return "accounting: " + why_; }
  bool executes() const override { return false; }
  KernelTimes execute(const StepPlan&) override { return {}; }

 private:
  std::string why_;
};

}  // namespace tinyserve
