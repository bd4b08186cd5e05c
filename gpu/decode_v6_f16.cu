// v6 for f16 pools (a file per dtype so they compile in parallel).
#include "gpu/decode_v6.cuh"

namespace tinyserve::gpu::v6 {
template cudaError_t launch<__half>(const Launch&, cudaStream_t);
}  // namespace tinyserve::gpu::v6
