// GPU presets (memory, bandwidth, fp16 rate, host link) and the KV-cache capacity a model leaves
// on them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/model.h"

namespace tinyserve {

struct GpuSpec {
  std::string name;
  int64_t memory_bytes = 0;
  double memory_bandwidth = 0.0;  // bytes/s
  double fp16_flops = 0.0;        // dense (no sparsity) FP16 tensor-core FLOP/s
  double pcie_bandwidth = 25e9;   // bytes/s one way, host <-> device (swapping)
};

const std::vector<GpuSpec>& gpu_presets();

// Case-insensitive lookup among the presets; InputError (no file) listing the known names.
GpuSpec find_gpu(std::string_view name);

struct KvCapacity {
  int64_t budget_bytes = 0;  // memory x gpu_memory_utilization, over every GPU
  int64_t weight_bytes = 0;
  int64_t kv_bytes = 0;     // budget - weights
  int64_t block_bytes = 0;  // block_size x bytes per token
  int64_t num_blocks = 0;   // whole blocks in kv_bytes
  int64_t num_tokens = 0;   // num_blocks x block_size
};

// KV blocks that fit in gpu_memory_utilization of the memory of num_gpus GPUs after the weights
// (as vLLM sizes its cache, less activations). With num_gpus > 1 the weights and the KV heads are
// split evenly (tensor parallelism), which the totals express directly. InputError (no file) when
// the weights alone do not fit, naming both sizes, or when not one block fits.
// kv_dtype: the cache's element type (none: the model's dtype, kv_dtype "auto").
KvCapacity kv_capacity(const ModelSpec& model, const GpuSpec& gpu, int32_t block_size,
                       double gpu_memory_utilization = 0.9, int32_t num_gpus = 1,
                       std::optional<DType> kv_dtype = std::nullopt);

}  // namespace tinyserve
