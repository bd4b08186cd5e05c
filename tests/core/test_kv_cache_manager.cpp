#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "core/memory/kv_cache_manager.h"
#include "core/memory/prefix_cache.h"
#include "tests/core/helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {
KvCacheConfig config(int32_t gpu_blocks, int32_t block_size = 4, bool prefix = false,
                     int32_t cpu_blocks = 0) {
  KvCacheConfig c;
  c.block_size = block_size;
  c.num_gpu_blocks = gpu_blocks;
  c.num_cpu_blocks = cpu_blocks;
  c.enable_prefix_caching = prefix;
  c.watermark = 0.0;
  c.check_invariants = true;
  return c;
}
}  // namespace

TEST_CASE("allocate maps every prompt position to its own slot") {
  KvCacheManager kv(config(8));
  const auto prompt = tokens(10);
  REQUIRE(kv.can_allocate(request(prompt)) == AllocStatus::kOk);
  CHECK(kv.allocate(1, request(prompt)) == 0);
  const BlockTable& t = kv.table(1);
  CHECK(t.blocks.size() == 3);
  CHECK(t.num_tokens == 10);
  std::set<int64_t> slots;
  for (int32_t pos = 0; pos < 10; ++pos) {
    const int64_t slot = t.slot(pos, 4);
    CHECK(slot == t.blocks[static_cast<size_t>(pos / 4)] * 4 + pos % 4);
    slots.insert(slot);
  }
  CHECK(slots.size() == 10);
  CHECK(kv.stored_tokens() == 10);
  CHECK(kv.gpu_pool().num_used() == 3);
}

TEST_CASE("a prompt that cannot fit even an empty pool is never admitted") {
  KvCacheConfig c = config(10);
  c.watermark = 0.2;  // two blocks kept free
  KvCacheManager kv(c);
  CHECK(kv.can_allocate(request(tokens(32))) == AllocStatus::kOk);     // 8 blocks
  CHECK(kv.can_allocate(request(tokens(33))) == AllocStatus::kNever);  // 9 > 10 - 2
}

TEST_CASE("admission waits while it would eat into the watermark") {
  KvCacheConfig c = config(10);
  c.watermark = 0.2;
  KvCacheManager kv(c);
  kv.allocate(1, request(tokens(16)));                                       // 4 blocks, 6 left
  CHECK(kv.can_allocate(request(tokens(16, 5000))) == AllocStatus::kOk);     // leaves 2
  CHECK(kv.can_allocate(request(tokens(17, 5000))) == AllocStatus::kLater);  // would leave 1
}

TEST_CASE("appending takes a new block only at a block boundary") {
  KvCacheManager kv(config(8));
  kv.allocate(1, request(tokens(6)));
  CHECK(kv.blocks_needed_to_append(1) == 0);
  AppendResult r = kv.append_slot(1);  // position 6
  CHECK_FALSE(r.new_block);
  CHECK(r.slot == kv.table(1).slot(6, 4));
  kv.append_slot(1);  // position 7 fills block 1
  CHECK(kv.blocks_needed_to_append(1) == 1);
  r = kv.append_slot(1);  // position 8
  CHECK(r.new_block);
  CHECK(kv.table(1).blocks.size() == 3);
  CHECK(kv.stored_tokens() == 9);
}

TEST_CASE("a forked block is copied before the first write") {
  KvCacheManager kv(config(8));
  kv.allocate(1, request(tokens(6)));
  CHECK(kv.fork(1, 2).empty());
  const BlockTable before = kv.table(1);
  CHECK(kv.table(2).blocks == before.blocks);
  CHECK(kv.gpu_pool().ref_count(before.blocks[1]) == 2);
  CHECK(kv.blocks_needed_to_append(2) == 1);
  const AppendResult r = kv.append_slot(2);
  CHECK(r.cow.src == before.blocks[1]);
  CHECK(r.cow.dst == kv.table(2).blocks[1]);
  CHECK(r.cow.dst != r.cow.src);
  CHECK(kv.table(2).blocks[0] == before.blocks[0]);  // the full block stays shared
  CHECK(kv.gpu_pool().ref_count(before.blocks[0]) == 2);
  CHECK(kv.gpu_pool().ref_count(before.blocks[1]) == 1);
  // The other holder now owns the old block alone and writes in place.
  CHECK(kv.blocks_needed_to_append(1) == 0);
  const AppendResult r1 = kv.append_slot(1);
  CHECK(r1.cow.src == kNoBlock);
  CHECK(kv.table(1).blocks == before.blocks);
  CHECK(kv.stored_tokens() == 4 + 2 + 3 + 1);  // shared block, copied block, original block
}

TEST_CASE("a fork at a block boundary needs no copy") {
  KvCacheManager kv(config(8));
  kv.allocate(1, request(tokens(8)));
  kv.fork(1, 2);
  const AppendResult r = kv.append_slot(2);
  CHECK(r.cow.src == kNoBlock);
  CHECK(r.new_block);
  CHECK(kv.gpu_pool().ref_count(kv.table(1).blocks[1]) == 2);
}

TEST_CASE("shared blocks return to the pool only when their last holder frees them") {
  KvCacheManager kv(config(8));
  kv.allocate(1, request(tokens(8)));
  kv.fork(1, 2);
  kv.fork(1, 3);
  kv.free(1);
  kv.free(2);
  CHECK(kv.gpu_pool().num_used() == 2);
  kv.free(3);
  CHECK(kv.gpu_pool().num_used() == 0);
  CHECK(kv.gpu_pool().num_free() == 8);
  CHECK(kv.stored_tokens() == 0);
  CHECK_FALSE(kv.has(3));
}

TEST_CASE("a prompt sharing a computed prefix reuses its full blocks") {
  KvCacheManager kv(config(16, 4, true));
  const auto system = tokens(8, 1);
  const auto a = concat(system, tokens(5, 100));
  const auto b = concat(system, tokens(3, 200));
  CHECK(kv.allocate(1, request(a)) == 0);
  kv.mark_computed(1, 13);
  CHECK(kv.allocate(2, request(b)) == 8);
  CHECK(kv.table(2).blocks[0] == kv.table(1).blocks[0]);
  CHECK(kv.table(2).blocks[1] == kv.table(1).blocks[1]);
  CHECK(kv.table(2).blocks[2] != kv.table(1).blocks[2]);
  CHECK(kv.gpu_pool().ref_count(kv.table(1).blocks[0]) == 2);
  CHECK(kv.prefix_hit_tokens() == 8);
  CHECK(kv.prefix_query_tokens() == 13 + 11);
}

TEST_CASE("blocks are not published to the prefix cache before they are computed") {
  KvCacheManager kv(config(16, 4, true));
  const auto a = tokens(12);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 5);  // only block 0 is computed
  CHECK(kv.allocate(2, request(a)) == 4);
  kv.mark_computed(1, 12);
  CHECK(kv.allocate(3, request(a)) == 8);  // block 2 holds the last token: recomputed
}

TEST_CASE("the last prompt token is always recomputed") {
  KvCacheManager kv(config(16, 4, true));
  const auto a = tokens(8);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 8);
  CHECK(kv.allocate(2, request(a)) == 4);  // block 1 holds the last token
  const auto longer = concat(a, tokens(1, 77));
  CHECK(kv.allocate(3, request(longer)) == 8);
}

TEST_CASE("partial blocks are never cached") {
  KvCacheManager kv(config(16, 4, true));
  const auto a = tokens(6);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 6);
  kv.free(1);
  CHECK(kv.gpu_pool().num_cached() == 1);
  CHECK(kv.gpu_pool().num_free() == 15);
}

TEST_CASE("a freed prompt's full blocks stay cached until evicted, least recently used first") {
  KvCacheManager kv(config(4, 4, true));
  const auto a = tokens(9, 1), b = tokens(9, 500);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 9);
  kv.free(1);  // a's two full blocks are cached, tail released first; its partial block is free
  CHECK(kv.gpu_pool().num_cached() == 2);
  kv.allocate(2, request(b));  // two free blocks, then one eviction: a's tail block
  CHECK(kv.gpu_pool().num_evictions() == 1);
  kv.mark_computed(2, 9);
  kv.free(2);
  CHECK(kv.allocate(3, request(a)) == 4);     // a's head block survived
  CHECK(kv.gpu_pool().num_evictions() == 2);  // b's tail went next
  kv.free(3);
  CHECK(kv.allocate(4, request(b)) == 4);  // b's head block survived
}

TEST_CASE("a prefix hit on a cached block counts against the free blocks at admission") {
  KvCacheManager kv(config(3, 4, true));
  const auto a = tokens(9);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 9);
  kv.free(1);                                              // two cached blocks, one free
  CHECK(kv.can_allocate(request(a)) == AllocStatus::kOk);  // 2 revived + 1 new = 3
  kv.allocate(2, request(a));
  CHECK(kv.gpu_pool().num_available() == 0);
  const auto a_again = a;
  CHECK(kv.can_allocate(request(a_again)) == AllocStatus::kLater);  // hits are in use: needs 1 more
}

TEST_CASE("hits on blocks in use cost no new blocks at admission") {
  KvCacheManager kv(config(4, 4, true));
  const auto a = tokens(9);
  kv.allocate(1, request(a));
  kv.mark_computed(1, 9);                                  // 3 blocks used, 1 free
  CHECK(kv.can_allocate(request(a)) == AllocStatus::kOk);  // shares 2, needs 1
  kv.allocate(2, request(a));
  CHECK(kv.gpu_pool().num_available() == 0);
}

TEST_CASE("a swap round trip moves a group's blocks out and back once each") {
  KvCacheManager kv(config(8, 4, false, 8));
  kv.allocate(1, request(tokens(6)));
  kv.fork(1, 2);
  kv.append_slot(2);  // copy-on-write: blocks {0, 1} and {0, 2}
  const std::vector<SeqId> group = {1, 2};
  CHECK(kv.blocks_to_swap(group) == 3);
  REQUIRE(kv.can_swap_out(group));
  const auto out = kv.swap_out(group);
  CHECK(out.size() == 3);
  CHECK(kv.tier(1) == Tier::kCpu);
  CHECK(kv.gpu_pool().num_used() == 0);
  CHECK(kv.cpu_pool().num_used() == 3);
  CHECK(kv.cpu_pool().ref_count(kv.table(1).blocks[0]) == 2);
  CHECK(kv.stored_tokens() == 0);
  REQUIRE(kv.can_swap_in(group));
  const auto in = kv.swap_in(group);
  CHECK(in.size() == 3);
  CHECK(kv.tier(2) == Tier::kGpu);
  CHECK(kv.cpu_pool().num_used() == 0);
  CHECK(kv.table(1).blocks[0] == kv.table(2).blocks[0]);
  CHECK(kv.gpu_pool().ref_count(kv.table(1).blocks[0]) == 2);
  CHECK(kv.stored_tokens() == 4 + 2 + 3);
  // Every swapped-out GPU block comes back through one CPU block.
  for (const BlockCopy& c : out) {
    int found = 0;
    for (const BlockCopy& d : in) found += d.src == c.dst;
    CHECK(found == 1);
  }
}

TEST_CASE("swap-out is refused when the CPU pool is too small") {
  KvCacheManager kv(config(8, 4, false, 2));
  kv.allocate(1, request(tokens(9)));
  const std::vector<SeqId> group = {1};
  CHECK_FALSE(kv.can_swap_out(group));
}

TEST_CASE("the invariant checker reports a count no table accounts for") {
  KvCacheConfig c = config(8);
  c.check_invariants = false;
  KvCacheManager kv(c);
  kv.allocate(1, request(tokens(5)));
  CHECK(kv.check_invariants().empty());
  kv.gpu_pool_for_testing().incref(kv.table(1).blocks[0]);
  const std::string error = kv.check_invariants();
  CHECK(error.find("has count 2 but 1 tables hold it") != std::string::npos);
}

TEST_CASE("with checks on, the operation after a corruption throws") {
  KvCacheManager kv(config(8));
  kv.allocate(1, request(tokens(5)));
  kv.gpu_pool_for_testing().incref(kv.table(1).blocks[1]);
  CHECK_THROWS_AS(kv.append_slot(1), InvariantViolation);
}

TEST_CASE("a swapped-out sequence publishes nothing to the GPU prefix cache") {
  KvCacheManager kv(config(8, 4, true, 8));
  const auto a = tokens(9);
  kv.allocate(1, request(a));
  const std::vector<SeqId> group = {1};
  kv.swap_out(group);
  kv.mark_computed(1, 9);
  CHECK(kv.gpu_pool().num_hashed() == 0);
  kv.swap_in(group);
  kv.mark_computed(1, 9);
  CHECK(kv.gpu_pool().num_hashed() == 2);
}

TEST_CASE("a hash chain given by the caller is used as the prompt's identity") {
  KvCacheManager kv(config(16, 4, true));
  const auto a = tokens(9);
  std::vector<BlockHash> chain;
  hash_chain(a, 4, 2, chain);
  AllocRequest r = request(a);
  r.block_hashes = chain;
  kv.allocate(1, r);
  kv.mark_computed(1, 9);
  CHECK(kv.allocate(2, request(a)) == 8);  // the same tokens, hashed by the manager: a hit
  std::vector<BlockHash> other = {chain[0] ^ 1, chain[1] ^ 1};
  AllocRequest r3 = request(a);
  r3.block_hashes = other;
  CHECK(kv.can_allocate(r3) == AllocStatus::kOk);
  CHECK(kv.allocate(3, r3) == 0);  // a different identity: no hit
}
