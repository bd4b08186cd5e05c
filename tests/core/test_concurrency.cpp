#include <doctest/doctest.h>

#include <memory>

#include "core/config/concurrency.h"
#include "core/config/model.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/kv_cache_manager.h"
#include "tests/core/test_files.h"

using namespace tinyserve;

namespace {

// The users each real allocator admits, one after another, until one does not fit.
int64_t admitted(KvAllocator& allocator, const std::vector<int32_t>& lengths, int32_t max_len) {
  const std::vector<TokenId> tokens(static_cast<size_t>(max_len), 1);
  int64_t users = 0;
  for (int32_t len : lengths) {
    len = std::min(len, max_len);
    const AllocRequest r{std::span<const TokenId>(tokens).first(static_cast<size_t>(len)), len, 1};
    if (allocator.can_allocate(r) != AllocStatus::kOk) break;
    allocator.allocate(static_cast<SeqId>(users++), r);
  }
  return users;
}

}  // namespace

TEST_CASE("the stress test admits as many users as the real allocators do") {
  LengthDist d;
  d.kind = LengthKind::kUniform;
  d.min = 3;
  d.max = 90;
  for (const int32_t bs : {1, 4, 16}) {
    for (const int32_t max_len : {90, 64}) {
      CAPTURE(bs);
      CAPTURE(max_len);
      const ConcurrencyResult r = max_concurrency(300, bs, d, max_len, 7);
      const std::vector<int32_t> lengths = sample_lengths(d, 300 * 16, 7);
      const Reservation kinds[] = {Reservation::kMaxLength, Reservation::kPowerOfTwo,
                                   Reservation::kExact};
      for (size_t i = 0; i < 3; ++i) {
        ContiguousConfig c;
        c.block_size = bs;
        c.num_blocks = 300;
        c.max_model_len = max_len;
        c.reservation = kinds[i];
        ContiguousAllocator allocator(c);
        CHECK(r.contenders[i].at_max.users == admitted(allocator, lengths, max_len));
        CHECK(r.contenders[i].at_max.blocks == allocator.stats().used_blocks);
      }
      KvCacheConfig p;
      p.block_size = bs;
      p.num_gpu_blocks = 300;
      p.watermark = 0;
      KvCacheManager paged(p);
      CHECK(r.contenders[3].at_max.users == admitted(paged, lengths, max_len));
      CHECK(r.contenders[3].at_max.tokens == paged.stats().stored_tokens);
    }
  }
}

TEST_CASE("the seed's experiment: 357 users reserving the maximum, 2,401 paged, in 24 GB") {
  const ModelSpec seed = find_model("seed-1layer");
  const auto blocks = static_cast<int64_t>(24e9 / static_cast<double>(seed.bytes_per_token() * 16));
  const ConcurrencyResult r = max_concurrency(blocks, 16, seed_mix(), 4096, 0);
  CHECK(r.contenders[0].at_max.users == 357);
  CHECK(r.contenders[3].at_max.users == 2401);
  // The seed's ladder: contiguous fails at 400, paged passes 2,400 and fails at 2,500.
  CHECK(r.contenders[0].ladder.size() == 3);
  CHECK(r.ladder[r.contenders[3].ladder.size()] == 2500);
  // An fp8 cache holds twice the blocks: about twice the users.
  const ConcurrencyResult fp8 = max_concurrency(blocks * 2, 16, seed_mix(), 4096, 0);
  CHECK(fp8.contenders[3].at_max.users >= 2 * 2401 - 10);
}

TEST_CASE("a uniform distribution reserves its own longest length, not the seed's") {
  LengthDist d;
  d.kind = LengthKind::kUniform;
  d.min = 100;
  d.max = 200;
  CHECK(longest_length(d) == 200);
  CHECK(longest_length(seed_mix()) == 4096);
  const ConcurrencyResult r = max_concurrency(91552, 16, d, longest_length(d), 0);
  CHECK(r.contenders[0].at_max.users == 91552 / 13);  // 200 tokens: 13 blocks each
}

TEST_CASE("a budget that would take too many users to draw is refused") {
  LengthDist d;
  d.kind = LengthKind::kUniform;
  d.min = 1;
  d.max = 2;
  CHECK(testing::input_error([&] { max_concurrency(int64_t{1} << 40, 1, d, 2, 0); }));
  CHECK(testing::input_error([&] { max_concurrency(0, 16, d, 2, 0); }));
}
