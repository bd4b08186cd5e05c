// The v3/v4 attention kernels for one dtype (a file per dtype so they compile in parallel).
#include "gpu/decode_v3_v4.cuh"

namespace tinyserve::gpu::fast {
template cudaError_t launch<float>(const Launch&, cudaStream_t);
}  // namespace tinyserve::gpu::fast
