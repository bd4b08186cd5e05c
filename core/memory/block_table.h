// A sequence's block table: logical block i holds token positions [i * block_size, (i+1) *
// block_size).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/base/ids.h"

namespace tinyserve {

inline constexpr int32_t ceil_div(int32_t a, int32_t b) {
  return (a + b - 1) / b;
}

struct BlockTable {
  std::vector<BlockId> blocks;  // logical index -> physical block
  int32_t num_tokens = 0;       // tokens with a slot: positions [0, num_tokens)

  // Physical slot of a token position: block * block_size + offset.
  int64_t slot(int32_t position, int32_t block_size) const {
    return static_cast<int64_t>(blocks[static_cast<size_t>(position / block_size)]) * block_size +
           position % block_size;
  }
  // Tokens stored in logical block i.
  int32_t fill(size_t i, int32_t block_size) const {
    const int32_t rest = num_tokens - static_cast<int32_t>(i) * block_size;
    return rest < block_size ? rest : block_size;
  }
  BlockId last() const { return blocks.empty() ? kNoBlock : blocks.back(); }
};

}  // namespace tinyserve
