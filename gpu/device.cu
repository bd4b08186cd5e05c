#include <cuda_runtime.h>

#include "gpu/device.h"

namespace tinyserve::gpu {

DeviceInfo query_device() {
  DeviceInfo info;
  int count = 0;
  if (cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    // Error 35 is what a machine without an NVIDIA driver reports.
    const std::string what = err == cudaErrorInsufficientDriver
                                 ? "no usable NVIDIA driver"
                                 : std::string(cudaGetErrorString(err));
    info.reason =
        "no CUDA device: " + what + " (error " + std::to_string(static_cast<int>(err)) + ")";
    cudaGetLastError();  // clear the sticky error
    return info;
  }
  if (count == 0) {
    info.reason = "no CUDA device: the driver reports none";
    return info;
  }
  cudaDeviceProp prop{};
  if (cudaError_t err = cudaGetDeviceProperties(&prop, 0); err != cudaSuccess) {
    info.reason = std::string("cannot read device 0: ") + cudaGetErrorString(err);
    return info;
  }
  info.available = true;
  info.name = prop.name;
  info.compute_capability = prop.major * 10 + prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  info.l2_bytes = static_cast<size_t>(prop.l2CacheSize);
  cudaMemGetInfo(&info.free_memory, &info.total_memory);
  return info;
}

}  // namespace tinyserve::gpu
