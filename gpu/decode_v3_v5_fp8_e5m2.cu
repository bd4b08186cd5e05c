// The v3/v4 attention kernels for fp8 e5m2 pools (a file per dtype so they compile in parallel).
#include "gpu/decode_v3_v4.cuh"

namespace tinyserve::gpu::fast {
template cudaError_t launch<__nv_fp8_e5m2>(const Launch&, cudaStream_t);
}  // namespace tinyserve::gpu::fast
