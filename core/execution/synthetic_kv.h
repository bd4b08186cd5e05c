// Deterministic synthetic keys, values and queries. A row (one token's K, V or q for one layer and
// head) is a pure function of (seed, kind, token id, position, layer, head), so the CPU reference
// can recompute any K/V at any step, and sequences that share tokens at the same positions get
// identical K/V (what makes prefix-cache and fork sharing physically right). Values are uniform
// multiples of 2^-23 in [-1, 1): exact in float, so host and device produce the same bits.
#pragma once

#include <cstdint>

#include "core/execution/paged_kv.h"
#include "core/base/rng.h"

namespace tinyserve {

enum class SyntheticKind : uint8_t { kKey = 1, kValue = 2, kQuery = 3 };

// Identifies one row; head is the KV head for keys and values, the query head for queries.
TINYSERVE_HD inline uint64_t synthetic_row(uint64_t seed, SyntheticKind kind, int32_t token,
                                           int32_t position, int32_t layer, int32_t head) {
  uint64_t h = hash_combine(seed, static_cast<uint64_t>(kind));
  h = hash_combine(h, static_cast<uint32_t>(token));
  h = hash_combine(h, static_cast<uint32_t>(position));
  h = hash_combine(
      h, (static_cast<uint64_t>(static_cast<uint32_t>(layer)) << 32) | static_cast<uint32_t>(head));
  return h;
}

TINYSERVE_HD inline float synthetic_value(uint64_t row, int32_t dim) {
  const uint64_t x = splitmix64(row + static_cast<uint64_t>(dim + 1) * 0x9e3779b97f4a7c15ull);
  const auto centered = static_cast<int32_t>(x >> 40) - (1 << 23);  // [-2^23, 2^23)
  return static_cast<float>(centered) * (1.0f / 8388608.0f);
}

}  // namespace tinyserve
