#include "gpu/supports.h"

#include "core/base/strings.h"
#include "gpu/prefill_attention.h"

namespace tinyserve::gpu {

Status supports(const KvGeometry& geometry, KernelVersion kernel) {
  if (Status s = geometry.validate(); !s.ok()) return s;
  if (!kernel_supports(kernel, geometry.dtype)) {
    return Status::failure(cat("kernel ", kernel_version_name(kernel), " does not read ",
                               dtype_name(geometry.dtype), " pools; v3 to v6 do"));
  }
  if (geometry.key_bounds && (kernel == KernelVersion::kV1 || kernel == KernelVersion::kV2)) {
    return Status::failure(
        cat("query-aware selection (key bounds, per-KV-head block tables) needs "
            "kernel v3 to v6, not ",
            kernel_version_name(kernel)));
  }
  // Steps with prefill chunks need a prefill kernel: simt, every other kernel's fallback.
  if (!prefill_kernel_available(PrefillKernel::kSimt, geometry.dtype)) {
    return Status::failure(cat("no prefill kernel reads ", dtype_name(geometry.dtype), " pools"));
  }
  return {};
}

}  // namespace tinyserve::gpu
