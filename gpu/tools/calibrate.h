// `tinyserve calibrate` and the measured side of `tinyserve cost-report` (docs/cost_model.md).
// calibrate times the parts of a step on the GPU over grids of shapes and writes a GPU profile
// (core/execution/gpu_profile.h): the model presets' dense layers as cuBLAS GEMMs with dummy
// random weights, decode and paged prefill attention from the executor's kernels, the launch of
// an empty kernel, block copies and swaps. StepMeasurer executes an engine's steps for real: the
// step's attention (the executor on the step's block tables, one layer) and the model's GEMMs for
// the step's tokens, timed the way calibrate times them. Plain C++ header; the implementation
// needs a CUDA device.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/execution/backend.h"
#include "core/execution/gpu_profile.h"
#include "core/execution/kv_executor.h"
#include "core/execution/model_shapes.h"

namespace tinyserve::gpu {

struct CalibrateOptions {
  std::string gpu_name;  // the GPU preset the profile stands for; empty: from the device's name
  std::vector<std::string> models;  // model presets; empty: every preset with standard attention
  std::string command;              // recorded in the profile
  int32_t repetitions = 5;          // timed runs per grid point (the median is kept)
  bool quick = false;               // a coarse grid (tests, a first look)
};

// Measures the profile, printing progress to log. Throws CudaError when a CUDA call fails.
// Precondition: a CUDA device (query_device().available).
GpuProfile calibrate(const CalibrateOptions& options, std::ostream& log);

// A Backend for the engine that executes each plan `repetitions` times on a CudaExecutor (each
// run's stage times; the medians are reported) and times the model's GEMMs on request.
class StepMeasurer final : public Backend {
 public:
  // geometry: one layer (num_layers 1); shapes: the model's GEMMs (empty: none).
  static Expected<std::unique_ptr<StepMeasurer>> create(const KvGeometry& geometry,
                                                        const ModelShapes& shapes,
                                                        int32_t repetitions);
  ~StepMeasurer() override;
  StepMeasurer(const StepMeasurer&) = delete;
  StepMeasurer& operator=(const StepMeasurer&) = delete;

  std::string name() const override { return "cuda"; }
  std::string description() const override;
  KernelTimes execute(const StepPlan& plan) override;

  // Every layer's GEMMs for `tokens` new tokens: one layer of each kind (the layers sharing a
  // weight set, e.g. attention, dense MLP, MoE) timed in order on its own weights, times its
  // layers. Measured once per token count.
  double gemm_ms(int64_t tokens);
  double lm_head_ms(int64_t sampled);

 private:
  struct Impl;
  explicit StepMeasurer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyserve::gpu
