// `tinyserve bench prefill`: the prefill benchmark of gpu/tools/prefill_bench.h, when a device
// exists.
#include <cstdio>
#include <iostream>

#include "app/backends.h"
#include "app/commands.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/device.h"
#include "gpu/tools/prefill_bench.h"
#endif

namespace tinyserve::app {

int bench_prefill(const PrefillBenchCliOptions& o) {
#ifdef TINYSERVE_HAVE_CUDA
  if (const gpu::DeviceInfo device = gpu::query_device(); !device.available) {
    std::fprintf(stderr, "tinyserve: bench prefill needs a CUDA device (%s)\n",
                 device.reason.c_str());
    return kExitBadInput;
  }
  gpu::PrefillBenchOptions options;
  if (!o.configs.empty()) options.configs = o.configs;
  if (!o.kernels.empty()) {
    options.kernels.clear();
    for (const std::string& name : o.kernels) {
      options.kernels.push_back(name == "simt"  ? gpu::PrefillKernel::kSimt
                                : name == "mma" ? gpu::PrefillKernel::kMma
                                                : gpu::PrefillKernel::kWgmma);
    }
  }
  options.repetitions = o.repetitions;
  options.flashinfer = o.flashinfer;
  return gpu::run_prefill_bench(options, std::cout) == 0 ? kExitOk : kExitFailure;
#else
  (void)o;
  std::fprintf(stderr, "tinyserve: bench prefill needs the CUDA backend (%s)\n",
               cuda_status().c_str());
  return kExitBadInput;
#endif
}

}  // namespace tinyserve::app
