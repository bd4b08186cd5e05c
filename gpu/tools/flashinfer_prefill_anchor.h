// FlashInfer's BatchPrefillWithPagedKVCache as a timing anchor for `tinyserve bench prefill`: its
// sm_90 backend ("fa3", what the Python wrapper picks on an H100 for fp16), planned on the host
// as BatchPrefillWithPagedKVCacheWrapper.plan does (PrefillSM90Plan), causal, fp16, head dim
// 128, over the same pool (FlashInfer's HND layout is TinyServe's [blocks, kv heads, block, dim]).
// Built only when CMake is given TINYSERVE_FLASHINFER_DIR and TINYSERVE_CCCL_DIR
// (TINYSERVE_HAVE_FLASHINFER_PREFILL); nothing of FlashInfer is in this repository.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tinyserve::gpu {

struct FlashInferPrefillInput {
  const void* q = nullptr;  // [nnz, num_heads, 128] fp16, device
  void* out = nullptr;      // [nnz, num_heads, 128] fp16, device
  const void* k = nullptr;  // [num_pages, num_kv_heads, page_size, 128] fp16, device
  const void* v = nullptr;
  int32_t page_size = 16;
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  float sm_scale = 1.0f;
  std::vector<int32_t> qo_indptr;   // [batch + 1], host
  std::vector<int32_t> kv_indptr;   // [batch + 1] into kv_indices (pages), host
  std::vector<int32_t> kv_indices;  // the pages of each sequence in order, host
  std::vector<int32_t> kv_lens;     // [batch] tokens of each sequence, host
};

class FlashInferPrefill {
 public:
  FlashInferPrefill();
  ~FlashInferPrefill();
  // Plans the launch and uploads its indices; "" on success, else why not.
  std::string plan(const FlashInferPrefillInput& input);
  cudaError_t run(cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyserve::gpu
