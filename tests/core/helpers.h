// Small helpers shared by the core tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/ids.h"
#include "core/memory/kv_allocator.h"

namespace tinyserve::testing {

// Tokens [first, first + n): distinct prompts get distinct ranges, shared prefixes share them.
inline std::vector<TokenId> tokens(int32_t n, int32_t first = 1000) {
  std::vector<TokenId> t(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = first + i;
  return t;
}

inline std::vector<TokenId> concat(std::vector<TokenId> a, const std::vector<TokenId>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline AllocRequest request(const std::vector<TokenId>& t, int32_t final_len = 0,
                            int32_t num_seqs = 1) {
  return AllocRequest{t, final_len == 0 ? static_cast<int32_t>(t.size()) : final_len, num_seqs};
}

}  // namespace tinyserve::testing
