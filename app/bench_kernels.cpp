// `tinyserve bench kernels`: the kernel benchmark of gpu/tools/kernel_bench.h, when a device
// exists.
#include <cstdio>
#include <iostream>

#include "app/backends.h"
#include "app/commands.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/device.h"
#include "gpu/tools/kernel_bench.h"
#endif

namespace tinyserve::app {

int bench_kernels(const KernelBenchCliOptions& o) {
#ifdef TINYSERVE_HAVE_CUDA
  if (const gpu::DeviceInfo device = gpu::query_device(); !device.available) {
    std::fprintf(stderr, "tinyserve: bench kernels needs a CUDA device (%s)\n",
                 device.reason.c_str());
    return kExitBadInput;
  }
  gpu::KernelBenchOptions options;
  if (!o.versions.empty()) {
    options.versions.clear();
    for (const std::string& name : o.versions) {
      KernelVersion v{};
      parse_kernel_version(name, v);
      options.versions.push_back(v);
    }
  }
  if (!o.configs.empty()) options.configs = o.configs;
  options.repetitions = o.repetitions;
  options.partition_sweep = o.partition_sweep;
  options.block_size_sweep = o.block_size_sweep;
  return gpu::run_kernel_bench(options, std::cout) == 0 ? kExitOk : kExitFailure;
#else
  (void)o;
  std::fprintf(stderr, "tinyserve: bench kernels needs the CUDA backend (%s)\n",
               cuda_status().c_str());
  return kExitBadInput;
#endif
}

}  // namespace tinyserve::app
