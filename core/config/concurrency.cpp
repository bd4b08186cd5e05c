#include "core/config/concurrency.h"

#include <algorithm>
#include <bit>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

// The seed's ladder of batch sizes: 100 to 500, 1000, then every 100 from 2000.
std::vector<int64_t> seed_ladder(int64_t limit) {
  std::vector<int64_t> ladder = {100, 200, 300, 400, 500, 1000};
  for (int64_t b = 2000; b <= limit; b += 100) ladder.push_back(b);
  return ladder;
}

int64_t blocks_for(int64_t tokens, int32_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

}  // namespace

int32_t longest_length(const LengthDist& d) {
  switch (d.kind) {
    case LengthKind::kFixed:
      return d.value;
    case LengthKind::kUniform:
    case LengthKind::kZipf:
      return d.max;
    case LengthKind::kMix:
      return std::max(d.max, d.long_max);
  }
  return d.max;
}

namespace {

enum { kMaxLength, kPowerOfTwo, kExact, kPaged, kContenders };

// One pass over the draws: each allocator admits users until the first that does not fit; the
// state at each ladder batch size is recorded.
void admit(ConcurrencyResult& r, const LengthDist& lengths, uint64_t seed, int64_t bound,
           const std::function<void(int64_t, int64_t)>& progress) {
  LengthStream draws(lengths, seed);
  for (ConcurrencyContender& c : r.contenders) {
    c.at_max = {};
    c.ladder.clear();
  }
  bool open[kContenders] = {true, true, true, true};
  int open_count = kContenders;
  const int32_t bs = r.block_size;
  for (int64_t user = 0; open_count > 0; ++user) {
    if (progress && (user & ((int64_t{1} << 20) - 1)) == 0) progress(user, bound);
    const int32_t len = std::min(draws.next(), r.max_len);
    const int64_t need[kContenders] = {
        blocks_for(r.max_len, bs),
        blocks_for(static_cast<int64_t>(std::bit_ceil(static_cast<uint32_t>(len))), bs),
        blocks_for(len, bs), blocks_for(len, bs)};
    for (int i = 0; i < kContenders; ++i) {
      if (!open[i]) continue;
      ConcurrencyContender& c = r.contenders[static_cast<size_t>(i)];
      if (c.at_max.blocks + need[i] > r.num_blocks) {
        open[i] = false;
        --open_count;
        continue;
      }
      c.at_max.users = user + 1;
      c.at_max.blocks += need[i];
      c.at_max.tokens += len;
      if (c.ladder.size() < r.ladder.size() && c.at_max.users == r.ladder[c.ladder.size()]) {
        c.ladder.push_back(c.at_max);
      }
    }
  }
}

// The seed's ladder when the paged allocator reaches at most 5,000 users; beyond, about 20 rungs
// at round multiples. Either way one rung past the paged maximum, where every allocator fails.
std::vector<int64_t> ladder_for(int64_t max_users) {
  if (max_users <= 5000) return seed_ladder(max_users + 100);
  int64_t step = 1;  // 1, 2, 5, 10, 20, 50, ...
  for (int k = 0; step * 20 < max_users; ++k) step = k % 3 == 1 ? step * 5 / 2 : step * 2;
  std::vector<int64_t> ladder;
  for (int64_t b = step; b <= max_users + step; b += step) ladder.push_back(b);
  return ladder;
}

}  // namespace

ConcurrencyResult max_concurrency(int64_t num_blocks, int32_t block_size, const LengthDist& lengths,
                                  int32_t max_len, uint64_t seed,
                                  const std::function<void(int64_t, int64_t)>& progress) {
  if (num_blocks < 1) throw_input_error("", 0, "the budget holds no block of this model");
  LengthStream{lengths, seed};  // InputError now for an invalid distribution
  ConcurrencyResult r;
  r.num_blocks = num_blocks;
  r.block_size = block_size;
  r.max_len = max_len;
  const int32_t shortest =
      lengths.kind == LengthKind::kFixed ? lengths.value : std::max(1, lengths.min);
  // The paged allocator, the tightest, stops within this many users.
  const int64_t bound = num_blocks / blocks_for(std::min(shortest, max_len), block_size) + 1;
  if (bound > kMaxConcurrencyUsers) {
    throw_input_error(
        "", 0,
        cat("the budget holds ", num_blocks, " blocks of ", block_size, " tokens: up to ", bound,
            " users of ", shortest, " tokens, more than the ", kMaxConcurrencyUsers,
            " this test draws; use a smaller budget or longer lengths"));
  }
  const char* names[kContenders] = {"contiguous max-length", "contiguous power-of-two",
                                    "contiguous exact", "paged"};
  r.contenders.resize(kContenders);
  for (int i = 0; i < kContenders; ++i) r.contenders[static_cast<size_t>(i)].name = names[i];
  r.contenders[kPaged].name = cat("paged (block ", block_size, ")");
  // The same draws twice: the first finds the maximum, which decides the ladder to record.
  admit(r, lengths, seed, bound, progress);
  r.ladder = ladder_for(r.contenders[kPaged].at_max.users);
  admit(r, lengths, seed, bound, {});
  return r;
}

}  // namespace tinyserve
