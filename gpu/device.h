// Which CUDA device, if any, this process can use. Safe to call with no driver installed.
#pragma once

#include <string>

namespace tinyserve::gpu {

struct DeviceInfo {
  bool available = false;
  std::string name;            // e.g. "NVIDIA H100 80GB HBM3"
  std::string reason;          // why no device is usable, when !available
  int compute_capability = 0;  // major * 10 + minor
  int multiprocessors = 0;
  size_t total_memory = 0;  // bytes
  size_t free_memory = 0;   // bytes, at the time of the query
  size_t l2_bytes = 0;
};

DeviceInfo query_device();

}  // namespace tinyserve::gpu
