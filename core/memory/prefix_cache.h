// Prefix caching: a full block is named by hash(parent block's hash, its token ids), so equal
// prefixes give equal hash chains whatever the request. The index itself lives in BlockPool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/ids.h"
#include "core/base/rng.h"

namespace tinyserve {

inline constexpr BlockHash kRootHash = 0x7f4a7c159e3779b9ull;  // the parent of block 0

// Two tokens a step through a rotate-xor-multiply chain (each step a bijection of the state),
// then a full avalanche with the parent. 64-bit: collisions are negligible at simulator scales.
inline BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = splitmix64(parent) ^ tokens.size();
  size_t i = 0;
  for (; i + 1 < tokens.size(); i += 2) {
    const uint64_t w = static_cast<uint32_t>(tokens[i]) |
                       (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i + 1])) << 32);
    h = (((h << 23) | (h >> 41)) ^ w) * kMul;
  }
  if (i < tokens.size()) h = (((h << 23) | (h >> 41)) ^ static_cast<uint32_t>(tokens[i])) * kMul;
  h = splitmix64(h ^ parent);
  return h == kNoHash ? 1 : h;  // 0 means "no hash"
}

// Number of leading full blocks a prompt may take from the cache: the last prompt token is always
// recomputed, so only blocks inside the first (length - 1) tokens count.
inline int32_t max_cacheable_blocks(int32_t prompt_len, int32_t block_size) {
  return prompt_len > 0 ? (prompt_len - 1) / block_size : 0;
}

// Appends the hash chain of the first num_blocks full blocks of tokens to out.
inline void hash_chain(std::span<const TokenId> tokens, int32_t block_size, int32_t num_blocks,
                       std::vector<BlockHash>& out) {
  BlockHash parent = out.empty() ? kRootHash : out.back();
  for (auto i = static_cast<int32_t>(out.size()); i < num_blocks; ++i) {
    parent = hash_block(parent, tokens.subspan(static_cast<size_t>(i) * block_size,
                                               static_cast<size_t>(block_size)));
    out.push_back(parent);
  }
}

}  // namespace tinyserve
