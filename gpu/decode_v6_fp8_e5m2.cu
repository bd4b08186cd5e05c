// v6 for fp8_e5m2 pools (a file per dtype so they compile in parallel).
#include "gpu/decode_v6.cuh"

namespace tinyserve::gpu::v6 {
template cudaError_t launch<__nv_fp8_e5m2>(const Launch&, cudaStream_t);
}  // namespace tinyserve::gpu::v6
