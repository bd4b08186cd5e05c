// `tinyserve bench prefill`: the paged prefill kernels on the reference configurations
//   P1  16 chunks of 1,024 tokens, no prefix
//   P2  the same chunks after 8,192 cached tokens each
//   P3  one chunk of 16,384 tokens
//   P4  a mixed step: 4 chunks of 512 tokens and 128 decodes of context 2k-8k
//   P1-fp8  P1 over an fp8 e4m3 pool (scale 2^-8; q and out fp16)
// with 32 query / 8 KV heads, head dim 128, fp16, block 16, blocks scattered. Reports time,
// TFLOP/s over the causal FLOPs (4 x head_dim x heads x the keys each query attends) and the
// percentage of the dense fp16 tensor-core peak measured in the same run by a cuBLAS GEMM; P4
// against the sum of its parts run alone; FlashInfer's BatchPrefillWithPagedKVCache on the same
// data when built with it. Plain C++ header; the implementation needs a CUDA device.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "gpu/prefill_attention.h"

namespace tinyserve::gpu {

struct PrefillBenchOptions {
  std::vector<std::string> configs = {"P1", "P2", "P3", "P4", "P1-fp8"};
  std::vector<PrefillKernel> kernels = {PrefillKernel::kWgmma, PrefillKernel::kMma};
  int32_t repetitions = 30;  // timed runs per figure (the median is reported)
  int32_t warmup = 3;
  uint64_t seed = 2024;
  bool flashinfer = true;  // time FlashInfer too, when built with it
};

// Whether this build holds the FlashInfer anchor (TINYSERVE_FLASHINFER_DIR, TINYSERVE_CCCL_DIR).
bool prefill_bench_has_flashinfer();

// Prints progress and a table to out. Returns 0, or 1 when no device or a CUDA call failed.
int run_prefill_bench(const PrefillBenchOptions& options, std::ostream& out);

}  // namespace tinyserve::gpu
