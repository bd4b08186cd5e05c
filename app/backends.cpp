#include "app/backends.h"

#include "core/errors.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/device.h"
#endif

namespace tinyserve::app {

std::string cuda_status() {
#ifdef TINYSERVE_HAVE_CUDA
  const gpu::DeviceInfo info = gpu::query_device();
  return info.available ? info.name : info.reason;
#else
  return "no CUDA device: built without the CUDA backend (nvcc not found)";
#endif
}

namespace {

// What the paged kernels are built for (gpu/ and docs/kernels.md).
std::string kernel_limits(const Scenario& sc) {
  const int32_t bs = sc.engine.paged_cache.block_size;
  if (bs != 8 && bs != 16 && bs != 32) {
    return "cache.block_size = " + std::to_string(bs) + ": the CUDA kernels support block sizes 8, 16 and 32";
  }
  const int32_t hd = sc.model.head_dim;
  if (hd != 64 && hd != 128 && hd != 256) {
    return "model head_dim = " + std::to_string(hd) + ": the CUDA kernels support head dims 64, 128 and 256";
  }
  const int32_t heads = sc.model.num_heads, kv = sc.model.num_kv_heads;
  if (kv <= 0 || heads % kv != 0 || heads / kv > 8) {
    return "model heads " + std::to_string(heads) + " / KV heads " + std::to_string(kv) +
           ": the CUDA kernels support GQA groups of 1 to 8";
  }
  return "";
}

}  // namespace

std::unique_ptr<Backend> make_backend(const Scenario& sc) {
  if (sc.backend == "accounting") return std::make_unique<AccountingBackend>("modelled times");
  if (sc.backend == "cuda") {
    if (const std::string limit = kernel_limits(sc); !limit.empty()) throw InputError(sc.path, 0, limit);
  }
  if (sc.backend == "auto") {
    return std::make_unique<AccountingBackend>("modelled times (" + cuda_status() + ")");
  }
  if (sc.backend == "cuda") {
    throw InputError(sc.path, 0, "engine.backend = \"cuda\": " + cuda_status());
  }
  throw InputError(sc.path, 0, "engine.backend = \"" + sc.backend + "\" is not available yet");
}

}  // namespace tinyserve::app
