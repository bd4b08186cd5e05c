// Integer ids shared by every module. State is plain vectors indexed by these ids.
#pragma once

#include <cstdint>

// Invariant checkers run after every operation under the fuzzers; they are not what coverage
// should explore, and tracing their comparisons dominated the fuzzers' time.
#if defined(__clang__)
#define TINYSERVE_NO_COVERAGE __attribute__((no_sanitize("coverage")))
#else
#define TINYSERVE_NO_COVERAGE
#endif

namespace tinyserve {

using BlockId = int32_t;     // physical block in a pool, [0, num_blocks)
using SeqId = int32_t;       // one sequence (a request's sample or beam)
using TokenId = int32_t;     // synthetic token id
using BlockHash = uint64_t;  // content hash of a full block (prefix caching); 0 means none

inline constexpr BlockId kNoBlock = -1;
inline constexpr SeqId kNoSeq = -1;
inline constexpr BlockHash kNoHash = 0;

enum class BlockState : uint8_t { kFree, kUsed, kCached };

// Copy of one physical block's K/V into another (copy-on-write, swap-in, swap-out).
struct BlockCopy {
  BlockId src = kNoBlock;
  BlockId dst = kNoBlock;
  friend bool operator==(const BlockCopy&, const BlockCopy&) = default;
};

}  // namespace tinyserve
