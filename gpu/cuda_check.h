// Checked CUDA calls. TS_CUDA_TRY returns the error from the enclosing function (a launcher
// returning cudaError_t); TS_CUDA_STATUS turns it into a Status with file, line and call.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/kv_executor.h"
#include "core/strings.h"

#define TS_CUDA_TRY(call)                       \
  do {                                          \
    const cudaError_t ts_err_ = (call);         \
    if (ts_err_ != cudaSuccess) return ts_err_; \
  } while (0)

// After a kernel launch: the launch error, if any.
#define TS_CUDA_TRY_LAUNCH() TS_CUDA_TRY(cudaGetLastError())

namespace tinyserve::gpu {

inline Status cuda_status(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return {};
  return Status::failure(cat(file, ":", line, ": ", call, " failed: ", cudaGetErrorName(err), " (",
                             cudaGetErrorString(err), ")"));
}

}  // namespace tinyserve::gpu

#define TS_CUDA_STATUS(call) ::tinyserve::gpu::cuda_status((call), #call, __FILE__, __LINE__)
