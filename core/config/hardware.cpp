#include "core/config/hardware.h"

#include <cmath>
#include <limits>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

std::string gib(int64_t bytes) {
  return cat(std::round(static_cast<double>(bytes) / static_cast<double>(kGiB) * 100.0) / 100.0,
             " GiB");
}

}  // namespace

// Datasheet figures. Memory sizes ("24 GB") are binary, as GPU DRAM is; bandwidth and FLOP/s are
// decimal. FP16 rates are the dense tensor-core figures (datasheets quote sparsity figures at twice
// these). The host link is what a swap achieves: about 25 GB/s one way on PCIe 4.0 x16, 50 on
// PCIe 5.0 x16 (kept at 25 for the GPUs whose presets predate the field, as measured swaps on
// them rarely exceed it).
const std::vector<GpuSpec>& gpu_presets() {
  static const std::vector<GpuSpec> kPresets = {
      // A10 datasheet: 24 GB GDDR6, 600 GB/s, FP16 tensor 125 TFLOPS (250 with sparsity).
      {"A10", 24 * kGiB, 600e9, 125e12, 25e9},
      // L4 datasheet: 24 GB GDDR6, 300 GB/s, FP16 tensor 242 TFLOPS with sparsity.
      {"L4", 24 * kGiB, 300e9, 121e12, 25e9},
      // L40S datasheet: 48 GB GDDR6, 864 GB/s, FP16 tensor 362.05 TFLOPS (733 with sparsity),
      // PCIe 4.0 x16.
      {"L40S", 48 * kGiB, 864e9, 362.05e12, 25e9},
      // A100 datasheet (SXM): 40 GB HBM2, 1,555 GB/s; FP16 tensor 312 TFLOPS (624 with sparsity).
      {"A100-40GB", 40 * kGiB, 1555e9, 312e12, 25e9},
      // A100 datasheet (SXM): 80 GB HBM2e, 2,039 GB/s; FP16 tensor 312 TFLOPS.
      {"A100-80GB", 80 * kGiB, 2039e9, 312e12, 25e9},
      // H100 datasheet (SXM): 80 GB HBM3, 3.35 TB/s, FP16 tensor 1,979 TFLOPS with sparsity.
      {"H100", 80 * kGiB, 3.35e12, 989.5e12, 25e9},
      // H200 datasheet (SXM): 141 GB HBM3e, 4.8 TB/s, FP16 tensor 1,979 TFLOPS with sparsity.
      {"H200", 141 * kGiB, 4.8e12, 989.5e12, 25e9},
      // B200 (HGX B200 datasheet): 180 GB HBM3e per GPU, 7.7 TB/s, FP16/BF16 tensor 2.25 PFLOPS
      // dense (4.5 with sparsity), PCIe 5.0 x16.
      {"B200", 180 * kGiB, 7.7e12, 2.25e15, 50e9},
      // AMD Instinct MI300X datasheet: 192 GB HBM3, 5.3 TB/s, FP16 matrix 1,307.4 TFLOPS dense
      // (2,614.9 with sparsity), PCIe 5.0 x16.
      {"MI300X", 192 * kGiB, 5.3e12, 1307.4e12, 50e9},
  };
  return kPresets;
}

GpuSpec find_gpu(std::string_view name) {
  std::string known;
  for (const GpuSpec& g : gpu_presets()) {
    if (ascii_lower(g.name) == ascii_lower(name)) return g;
    known += (known.empty() ? "" : ", ") + g.name;
  }
  throw_input_error("", 0, cat("unknown GPU ", quoted(name), ", expected one of: ", known));
}

KvCapacity kv_capacity(const ModelSpec& model, const GpuSpec& gpu, int32_t block_size,
                       double gpu_memory_utilization, int32_t num_gpus,
                       std::optional<DType> kv_dtype) {
  if (block_size < 1 || block_size > (1 << 20)) {
    throw_input_error(
        "", 0, cat("block_size: expected a whole number in [1, 1048576], found ", block_size));
  }
  if (!(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0)) {
    throw_input_error("", 0,
                      cat("gpu_memory_utilization: expected a fraction in (0, 1], found ",
                          gpu_memory_utilization));
  }
  if (num_gpus < 1 || num_gpus > 1024) {
    throw_input_error("", 0,
                      cat("num_gpus: expected a whole number in [1, 1024], found ", num_gpus));
  }
  KvCapacity c;
  c.budget_bytes = static_cast<int64_t>(
                       std::floor(static_cast<double>(gpu.memory_bytes) * gpu_memory_utilization)) *
                   num_gpus;
  c.weight_bytes = model.weight_bytes();
  if (c.weight_bytes > c.budget_bytes) {
    throw_input_error(
        "", 0,
        cat(model.name, " weights need ", gib(c.weight_bytes), " but ", num_gpus, " x ", gpu.name,
            " at gpu_memory_utilization ", gpu_memory_utilization, " give ", gib(c.budget_bytes)));
  }
  c.kv_bytes = c.budget_bytes - c.weight_bytes;
  c.block_bytes = model.kv_bytes_per_token(kv_dtype.value_or(model.dtype)) * block_size;
  c.num_blocks = c.block_bytes > 0 ? c.kv_bytes / c.block_bytes : 0;
  if (c.num_blocks < 1) {
    throw_input_error("", 0,
                      cat("no KV block fits: ", gib(c.kv_bytes), " left after ", model.name,
                          " weights on ", num_gpus, " x ", gpu.name, ", one block of ", block_size,
                          " tokens needs ", c.block_bytes, " bytes"));
  }
  c.num_tokens = c.num_blocks * block_size;
  return c;
}

}  // namespace tinyserve
