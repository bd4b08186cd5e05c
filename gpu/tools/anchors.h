// Anchors: public kernels timed beside TinyServe's, in the same run and on the same data. They
// are built only when CMake is given a FlashInfer checkout (-DTINYSERVE_FLASHINFER_DIR=...,
// -DTINYSERVE_CCCL_DIR=..., see docs/benchmarks.md); without it the lists are empty. Plain C++.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/execution/paged_kv.h"

namespace tinyserve::gpu {

// One decode batch as TinyServe's bench holds it: device pools in TinyServe's layout
// ([num_blocks, num_kv_heads, block_size, head_dim], FlashInfer's HND), device q, out, tables and
// lengths in `batch`, and host copies of the tables and lengths (what a planner reads).
struct DecodeProblem {
  PagedKv cache;
  DecodeBatch batch;
  const int32_t* host_tables = nullptr;  // [batch, max_blocks_per_seq]
  const int32_t* host_lens = nullptr;    // [batch]
};

class DecodeAnchor {
 public:
  virtual ~DecodeAnchor() = default;
  virtual std::string name() const = 0;
  // Plans for the problem and allocates what the runs need. Empty on success, else why the
  // anchor does not cover this problem (dtype, shape).
  virtual std::string prepare(const DecodeProblem& problem) = 0;
  // Computes the problem's attention into problem.batch.out.
  virtual cudaError_t run(cudaStream_t stream) = 0;
};

// FlashInfer's BatchDecodeWithPagedKVCache, CUDA-core and tensor-core paths
// (gpu/tools/anchors/flashinfer_decode.cu); empty unless built with FlashInfer.
std::vector<std::unique_ptr<DecodeAnchor>> flashinfer_decode_anchors();

}  // namespace tinyserve::gpu
