// Checked CUDA calls. TS_CUDA_TRY returns the error from the enclosing function (a launcher
// returning cudaError_t); TS_CUDA_STATUS turns it into a Status with file, line and call;
// TS_CUDA_CHECK throws it as a CudaError (tools and benchmarks, where a failure ends the run).
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "core/base/strings.h"
#include "core/execution/kv_executor.h"

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

struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace tinyserve::gpu

#define TS_CUDA_STATUS(call) ::tinyserve::gpu::cuda_status((call), #call, __FILE__, __LINE__)

#define TS_CUDA_CHECK(call)                                                    \
  do {                                                                         \
    const ::tinyserve::Status ts_status_ = TS_CUDA_STATUS(call);               \
    if (!ts_status_.ok()) throw ::tinyserve::gpu::CudaError(ts_status_.error); \
  } while (0)
