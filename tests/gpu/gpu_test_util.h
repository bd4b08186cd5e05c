// Helpers of the GPU tests: the skip line when no device exists, device arrays, checked calls.
#pragma once

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/device.h"

namespace tinyserve::testing {

// Prints "SKIPPED: no CUDA device (<reason>)" and returns true when no device is usable; ctest
// reports such a test as skipped.
inline bool skip_without_gpu() {
  static const gpu::DeviceInfo info = gpu::query_device();
  if (info.available) return false;
  std::string reason = info.reason;
  if (reason.starts_with("no CUDA device: ")) reason.erase(0, 16);
  std::printf("SKIPPED: no CUDA device (%s)\n", reason.c_str());
  return true;
}

// TINYSERVE_GPU_TESTS_SMALL=1 keeps every test case and code path but shrinks the sweeps
// (shorter contexts, fewer steps), so the whole GPU suite fits under compute-sanitizer.
inline bool small_gpu_tests() {
  static const bool small = std::getenv("TINYSERVE_GPU_TESTS_SMALL") != nullptr;
  return small;
}

#define CHECK_CUDA(call)                                                                     \
  do {                                                                                       \
    const cudaError_t check_err_ = (call);                                                   \
    REQUIRE_MESSAGE(check_err_ == cudaSuccess, #call, ": ", cudaGetErrorString(check_err_)); \
  } while (0)

// A device allocation filled from (and read back into) host bytes.
class DeviceArray {
 public:
  explicit DeviceArray(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) CHECK_CUDA(cudaMalloc(&ptr_, bytes));
  }
  template <typename T>
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size() * sizeof(T)) {
    if (bytes_ > 0) CHECK_CUDA(cudaMemcpy(ptr_, host.data(), bytes_, cudaMemcpyHostToDevice));
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }
  // Every byte 0xff: NaN in f32, f16 and bf16 alike.
  void poison() {
    if (bytes_ > 0) CHECK_CUDA(cudaMemset(ptr_, 0xff, bytes_));
  }
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> host(bytes_);
    if (bytes_ > 0) CHECK_CUDA(cudaMemcpy(host.data(), ptr_, bytes_, cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tinyserve::testing
