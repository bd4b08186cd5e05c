// Deterministic synthetic keys, values and queries. A row (one token's K, V or q for one layer and
// head) is a pure function of (seed, kind, token id, position, layer, head), so the CPU reference
// can recompute any K/V at any step, and sequences that share tokens at the same positions get
// identical K/V (what makes prefix-cache and fork sharing physically right).
//
// Two patterns (KvGeometry::synthetic picks one):
// - uniform: every element uniform in [-1, 1) (multiples of 2^-23: exact in float, so host and
//   device produce the same bits). Attention over it is nearly flat and every block's key bounds
//   look alike: what the bandwidth benchmarks use.
// - structured: the uniform values plus a position-dependent structure in which attention
//   concentrates as it does in trained models (see synthetic_structure below): attention sinks in
//   the first tokens, a recency window, and "topic" spans whose keys align with the queries of
//   later positions (a planted needle per query head). Accuracy figures of query-aware selection
//   are measured on this synthetic K/V, not on a trained model's.
// Everything here is integer arithmetic and one float addition of exactly representable values,
// so host and device agree bit for bit in both patterns.
#pragma once

#include <cstdint>

#include "core/base/rng.h"
#include "core/execution/paged_kv.h"

namespace tinyserve {

enum class SyntheticKind : uint8_t { kKey = 1, kValue = 2, kQuery = 3 };

enum class SyntheticPattern : uint8_t { kUniform = 0, kStructured = 1 };

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

// What a synthetic element depends on besides its row: the pattern, the head dim (the structured
// pattern splits it into subspaces) and the GQA group (a query head's KV head is head / group).
struct SyntheticSpec {
  uint64_t seed = 0;
  SyntheticPattern pattern = SyntheticPattern::kUniform;
  int32_t head_dim = 128;
  int32_t group = 1;
};

// The structured pattern. With D = head_dim, the dims split into four subspaces:
//   sink     [0, D/16)          keys of positions < kSinkTokens hold +4, every query +3.5
//   recency  [D/16, 9D/16)      keys hold a +-1 code of their chunk (position / kRecencyChunk);
//                               the query at p holds the codes of p's chunk and the one before
//   topic    [9D/16, 15D/16)    each region of kTopicRegion positions holds one span of
//                               kTopicSpan positions (offset hashed per layer and KV head) whose
//                               keys hold a +-4 code of the region (large key channels, as trained
//                               models' keys have); the query at p of query head h holds the
//                               +-0.5 code of one earlier region (hashed per position and query
//                               head): the needle that query must find
//   free        [15D/16, D)     nothing added
// on top of the uniform values. For D = 128 and scale 1/sqrt(128) the logit bonuses are about
// 9.9 (sinks), 5.7 (same or previous chunk) and 8.5 (the targeted span) against uniform noise of
// standard deviation 0.33, so the exact attention of a 32k context puts most of its mass on the
// sinks, the recent chunks and the needle, as trained models' attention does on long documents.
// Values are the same for the K of every token id (position alone decides the structure), so
// shared prefixes stay shared.
struct StructuredKv {
  static constexpr int32_t kSinkTokens = 4;
  static constexpr int32_t kRecencyChunk = 64;
  static constexpr int32_t kTopicRegion = 4096;
  static constexpr int32_t kTopicSpan = 32;
};

namespace synthetic_detail {

inline constexpr uint64_t kRecencyTag = 0x7265636e63790001ull;
inline constexpr uint64_t kTopicTag = 0x746f706963000002ull;
inline constexpr uint64_t kOffsetTag = 0x6f66667365740003ull;
inline constexpr uint64_t kTargetTag = 0x7461726765740004ull;

TINYSERVE_HD inline uint64_t code_hash(uint64_t seed, uint64_t tag, int32_t layer, int32_t head,
                                       int64_t index) {
  uint64_t h =
      hash_combine(seed ^ tag, (static_cast<uint64_t>(static_cast<uint32_t>(layer)) << 32) |
                                   static_cast<uint32_t>(head));
  return hash_combine(h, static_cast<uint64_t>(index));
}

// +1 or -1: element i of the code `h` names.
TINYSERVE_HD inline float code_sign(uint64_t h, int32_t i) {
  const uint64_t bits = splitmix64(h + static_cast<uint64_t>(i >> 6));
  return ((bits >> (i & 63)) & 1) != 0 ? 1.0f : -1.0f;
}

}  // namespace synthetic_detail

// First position of the topic span of `region` for (layer, KV head).
TINYSERVE_HD inline int32_t structured_span_start(uint64_t seed, int32_t layer, int32_t kv_head,
                                                  int32_t region) {
  using namespace synthetic_detail;
  constexpr int32_t kSlots = StructuredKv::kTopicRegion - StructuredKv::kTopicSpan + 1;
  const uint64_t h = code_hash(seed, kOffsetTag, layer, kv_head, region);
  return region * StructuredKv::kTopicRegion + static_cast<int32_t>(h % kSlots);
}

// The region whose span the query at `position` of query head `q_head` targets, or -1 when no
// region lies wholly before the position's own.
TINYSERVE_HD inline int32_t structured_target_region(uint64_t seed, int32_t layer, int32_t q_head,
                                                     int32_t position) {
  using namespace synthetic_detail;
  const int32_t regions = position / StructuredKv::kTopicRegion;
  if (regions <= 0) return -1;
  const uint64_t h = code_hash(seed, kTargetTag, layer, q_head, position);
  return static_cast<int32_t>(h % static_cast<uint64_t>(regions));
}

// The structure added to element `dim` (exactly representable; 0 outside the subspaces).
TINYSERVE_HD inline float synthetic_structure(const SyntheticSpec& s, SyntheticKind kind,
                                              int32_t position, int32_t layer, int32_t head,
                                              int32_t dim) {
  using namespace synthetic_detail;
  if (kind == SyntheticKind::kValue) return 0.0f;
  const int32_t d16 = s.head_dim / 16;
  const int32_t recency_end = 9 * d16;
  const int32_t topic_end = 15 * d16;
  const bool query = kind == SyntheticKind::kQuery;
  const int32_t kv_head = query ? head / s.group : head;
  if (dim < d16) {
    if (query) return 3.5f;
    return position < StructuredKv::kSinkTokens ? 4.0f : 0.0f;
  }
  if (dim < recency_end) {
    const int32_t i = dim - d16;
    const int32_t chunk = position / StructuredKv::kRecencyChunk;
    const float own = code_sign(code_hash(s.seed, kRecencyTag, layer, kv_head, chunk), i);
    if (!query) return own;
    if (chunk == 0) return own;
    return own + code_sign(code_hash(s.seed, kRecencyTag, layer, kv_head, chunk - 1), i);
  }
  if (dim < topic_end) {
    const int32_t i = dim - recency_end;
    int32_t region;
    if (query) {
      region = structured_target_region(s.seed, layer, head, position);
      if (region < 0) return 0.0f;
    } else {
      region = position / StructuredKv::kTopicRegion;
      const int32_t start = structured_span_start(s.seed, layer, kv_head, region);
      if (position < start || position >= start + StructuredKv::kTopicSpan) return 0.0f;
    }
    const float sign = code_sign(code_hash(s.seed, kTopicTag, layer, kv_head, region), i);
    return query ? 0.5f * sign : 4.0f * sign;
  }
  return 0.0f;
}

// Element `dim` of row `row` = synthetic_row(seed, kind, token, position, layer, head) under the
// spec's pattern.
TINYSERVE_HD inline float synthetic_element(const SyntheticSpec& s, uint64_t row,
                                            SyntheticKind kind, int32_t position, int32_t layer,
                                            int32_t head, int32_t dim) {
  const float noise = synthetic_value(row, dim);
  if (s.pattern == SyntheticPattern::kUniform) return noise;
  return noise + synthetic_structure(s, kind, position, layer, head, dim);
}

}  // namespace tinyserve
