// The sm_90a prefill kernel's launcher (gpu/prefill_wgmma_sm90.cu), for gpu/prefill_attention.cu
// only. Built when CMAKE_CUDA_ARCHITECTURES holds 90 (TINYSERVE_HAVE_SM90A).
#pragma once

#include <cuda_runtime_api.h>

#include "core/base/half.h"
#include "gpu/prefill_common.cuh"

namespace tinyserve::gpu::prefill {

int wgmma_tile_rows();            // packed rows per work item
int wgmma_kv_tile(int head_dim);  // KV tokens per tile
// grid: persistent CTAs (at most one per SM).
cudaError_t launch_wgmma(const Args& a, DType dtype, int head_dim, int grid, cudaStream_t stream);

}  // namespace tinyserve::gpu::prefill
