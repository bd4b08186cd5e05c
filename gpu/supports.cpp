#include "gpu/supports.h"

#include "core/base/strings.h"

namespace tinyserve::gpu {

Status supports(const KvGeometry& geometry, KernelVersion kernel) {
  if (Status s = geometry.validate(); !s.ok()) return s;
  (void)kernel;  // every version holds every element type the executors hold
  return {};
}

}  // namespace tinyserve::gpu
