// The seed's max-concurrency stress test: users, each one sequence of a length drawn from a
// distribution (capped at max_len), are admitted one after another into a budget of KV blocks
// until one does not fit, for each way of holding them: contiguous reservation of max_len, of the
// next power of two of the length, of the exact length, and paged blocks. Nothing is freed, so
// each allocator's count is a prefix sum of the blocks each user takes, computed in one pass over
// the draws (linear in the users, exact in 64 bits); tests check it against the real allocators.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/workload/workload.h"

namespace tinyserve {

struct ConcurrencyRung {
  int64_t users = 0;
  int64_t blocks = 0;  // held by the first `users` users
  int64_t tokens = 0;  // they store
};

struct ConcurrencyContender {
  std::string name;
  ConcurrencyRung at_max;               // the most users that fit
  std::vector<ConcurrencyRung> ladder;  // at each ladder batch size reached
};

struct ConcurrencyResult {
  int64_t num_blocks = 0;
  int32_t block_size = 0;
  int32_t max_len = 0;
  std::vector<int64_t> ladder;  // the seed's batch sizes, up to what the paged allocator reaches
  std::vector<ConcurrencyContender>
      contenders;  // contiguous max-length, power-of-two, exact; paged
};

// Users drawn at most (about 10 s of draws); a budget that would admit more is refused.
inline constexpr int64_t kMaxConcurrencyUsers = 1'000'000'000;

// progress(users drawn so far, an upper bound of the users to draw) is called every 2^20 users.
// InputError (no file) for an invalid distribution, a budget with no block, or more users than
// kMaxConcurrencyUsers.
ConcurrencyResult max_concurrency(int64_t num_blocks, int32_t block_size, const LengthDist& lengths,
                                  int32_t max_len, uint64_t seed,
                                  const std::function<void(int64_t, int64_t)>& progress = {});

// The longest length a distribution draws.
int32_t longest_length(const LengthDist& lengths);

}  // namespace tinyserve
