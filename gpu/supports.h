// What the CUDA kernels support, stated once: the command line, the GUI and the CUDA executor all
// ask here (plain C++; compiled into tinyserve_gpu, so only builds with the CUDA backend have it).
#pragma once

#include "core/execution/kv_executor.h"

namespace tinyserve::gpu {

// Success, or why the kernels cannot run this geometry with this attention kernel: the executors'
// own limits (KvGeometry::validate: head dim 64/128/256, power-of-two block sizes 1 to 256, GQA
// groups 1 to 8, no latent cache, no key bounds of fp8 pools) and each kernel's element types (v1
// and v2 do not read fp8, nor the per-KV-head block tables of query-aware selection).
// The prefill kernels read every executor dtype (gpu/prefill_attention.h: simt everywhere, mma
// and wgmma for fp16, bf16 and fp8), so the decode kernel decides.
Status supports(const KvGeometry& geometry, KernelVersion kernel);

}  // namespace tinyserve::gpu
