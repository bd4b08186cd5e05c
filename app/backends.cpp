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

std::unique_ptr<Backend> make_backend(const Scenario& sc) {
  if (sc.backend == "accounting") return std::make_unique<AccountingBackend>("modelled times");
  if (sc.backend == "auto") {
    return std::make_unique<AccountingBackend>("modelled times (" + cuda_status() + ")");
  }
  throw InputError(sc.path, 0, "engine.backend = \"" + sc.backend + "\" is not available yet");
}

}  // namespace tinyserve::app
