// Whose decisions the scheduler and the KV-cache manager reproduce (scheduler.semantics).
//
//   vllm-v1  vLLM 0.33's v1 engine, decision for decision (docs/fidelity.md): blocks follow the
//            tokens each step schedules, full blocks are cached when scheduled (generated tokens
//            included), freed unhashed blocks are reused first and cached ones evicted least
//            recently freed first, running requests are served in order under one token budget,
//            the newest is preempted and recomputed, no watermark, a null block, parallel
//            samples as independent requests.
//   vllm-v0  vLLM v0's block manager: a prompt's blocks are all taken at admission (with a
//            watermark), decodes before prefills, swap or recompute, samples and beams forked
//            with copy-on-write.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/base/named.h"

namespace tinyserve {

enum class Semantics : uint8_t { kVllmV1, kVllmV0 };

inline constexpr Named<Semantics> kSemanticsNames[] = {{Semantics::kVllmV1, "vllm-v1"},
                                                       {Semantics::kVllmV0, "vllm-v0"}};

inline std::string_view to_string(Semantics s) {
  return name_of<Semantics>(kSemanticsNames, s);
}

}  // namespace tinyserve
