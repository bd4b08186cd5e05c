// A Backend that runs each step's plan on a KvExecutor (the CPU reference, core/
// reference_executor.h, or the CUDA executor, gpu/cuda_executor.h) and reports its stage times.
#pragma once

#include <memory>
#include <string>

#include "core/execution/backend.h"
#include "core/execution/kv_executor.h"

namespace tinyserve {

class ExecutorBackend final : public Backend {
 public:
  // name: "cpu" or "cuda"; description: what the status bar shows (the GPU's name, or why the
  // CPU reference runs).
  ExecutorBackend(std::unique_ptr<KvExecutor> executor, std::string name, std::string description)
      : executor_(std::move(executor)),
        name_(std::move(name)),
        description_(std::move(description)) {}

  std::string name() const override { return name_; }
  std::string description() const override { return description_; }
  KernelTimes execute(const StepPlan& plan) override {
    const StepResult r = executor_->execute(plan);
    if (!r.ok())
      throw BackendError(name_ + " backend, step " + std::to_string(plan.step) + ": " +
                         r.status.error);
    KernelTimes t;
    t.attention_ms = r.times.attention_ms;
    t.prefill_attention_ms = r.times.prefill_attention_ms;
    t.decode_attention_ms = r.times.decode_attention_ms;
    t.contiguous_attention_ms = r.times.contiguous_attention_ms;
    t.write_ms = r.times.write_kv_ms;
    t.copy_ms = r.times.copy_blocks_ms;
    t.swap_ms = r.times.swap_in_ms + r.times.swap_out_ms;
    return t;
  }
  KvExecutor& executor() { return *executor_; }

 private:
  std::unique_ptr<KvExecutor> executor_;
  std::string name_;
  std::string description_;
};

}  // namespace tinyserve
