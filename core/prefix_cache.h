// Prefix caching: a full block is named by hash(parent block's hash, its token ids), so equal
// prefixes give equal hash chains whatever the request. The index itself lives in BlockPool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/rng.h"

namespace tinyserve {

inline constexpr BlockHash kRootHash = 0x7f4a7c159e3779b9ull;  // the parent of block 0

inline BlockHash hash_block(BlockHash parent, std::span<const TokenId> tokens) {
  uint64_t h = parent;
  for (TokenId t : tokens) h = hash_combine(h, static_cast<uint32_t>(t));
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
