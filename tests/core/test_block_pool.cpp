#include <doctest/doctest.h>

#include <vector>

#include "core/memory/block_pool.h"

using namespace tinyserve;

TEST_CASE("a new pool has every block free") {
  for (const auto& [policy, policy_name] : kFreeListPolicyNames) {
    BlockPool pool(8, policy, 1);
    CHECK(pool.num_free() == 8);
    CHECK(pool.num_used() == 0);
    CHECK(pool.num_cached() == 0);
    CHECK(pool.check().empty());
  }
}

TEST_CASE("a block is used from allocation until its last reference is released") {
  for (const auto& [policy, policy_name] : kFreeListPolicyNames) {
    BlockPool pool(4, policy, 1);
    const BlockId b = pool.allocate();
    CHECK(pool.state(b) == BlockState::kUsed);
    CHECK(pool.ref_count(b) == 1);
    pool.incref(b);
    pool.release(b);
    CHECK(pool.state(b) == BlockState::kUsed);
    pool.release(b);
    CHECK(pool.state(b) == BlockState::kFree);
    CHECK(pool.num_free() == 4);
    CHECK(pool.check().empty());
  }
}

TEST_CASE("a hashed block stays cached at count zero and a lookup revives it") {
  BlockPool pool(4, FreeListPolicy::kLifo);
  const BlockId b = pool.allocate();
  pool.set_hash(b, 42);
  pool.release(b);
  CHECK(pool.state(b) == BlockState::kCached);
  CHECK(pool.num_cached() == 1);
  CHECK(pool.num_available() == 4);
  CHECK(pool.find(42) == b);
  CHECK(pool.acquire(42) == b);
  CHECK(pool.ref_count(b) == 1);
  CHECK(pool.num_cached() == 0);
  CHECK(pool.acquire(43) == kNoBlock);
  CHECK(pool.check().empty());
}

TEST_CASE("free blocks are taken before any cached block is evicted") {
  for (FreeListPolicy policy : {FreeListPolicy::kLifo, FreeListPolicy::kFifo,
                                FreeListPolicy::kBestFit, FreeListPolicy::kRandom}) {
    BlockPool pool(4, policy, 3);
    const BlockId cached = pool.allocate();
    pool.set_hash(cached, 7);
    pool.release(cached);
    std::vector<BlockId> out;
    pool.allocate(3, out);
    for (BlockId b : out) CHECK(b != cached);
    CHECK(pool.num_evictions() == 0);
    CHECK(pool.find(7) == cached);
    pool.allocate(1, out);  // nothing free is left: the cached block goes
    CHECK(out.back() == cached);
    CHECK(pool.num_evictions() == 1);
    CHECK(pool.find(7) == kNoBlock);
    CHECK(pool.take_evicted() == std::vector<BlockId>{cached});
    CHECK(pool.check().empty());
  }
}

TEST_CASE("cached blocks are evicted least recently released first") {
  BlockPool pool(3, FreeListPolicy::kLifo);
  std::vector<BlockId> b;
  pool.allocate(3, b);
  for (int i = 0; i < 3; ++i)
    pool.set_hash(b[static_cast<size_t>(i)], 100 + static_cast<BlockHash>(i));
  pool.release(b[1]);
  pool.release(b[0]);
  pool.release(b[2]);
  CHECK(pool.acquire(100) == b[0]);  // a hit refreshes nothing until released again
  pool.release(b[0]);                // now b[0] is the most recent
  CHECK(pool.allocate() == b[1]);
  CHECK(pool.allocate() == b[2]);
  CHECK(pool.allocate() == b[0]);
  CHECK(pool.num_evictions() == 3);
}

TEST_CASE("under LRU the least recently released block is taken even when it is cached") {
  BlockPool pool(3, FreeListPolicy::kLru);
  std::vector<BlockId> b;
  pool.allocate(2, b);  // 0 and 1 (the queue starts in id order)
  pool.set_hash(b[0], 9);
  pool.release(b[0]);  // queue: 2, 0(cached)
  pool.release(b[1]);  // queue: 2, 0(cached), 1
  CHECK(pool.allocate() == 2);
  CHECK(pool.allocate() == b[0]);  // evicted although block 1 is free
  CHECK(pool.num_evictions() == 1);
  CHECK(pool.allocate() == b[1]);
  CHECK(pool.check().empty());
}

TEST_CASE("the availability bitmap follows reference counts") {
  BlockPool pool(70, FreeListPolicy::kFifo);
  std::vector<BlockId> b;
  pool.allocate(66, b);
  const auto& bits = pool.available_bits();
  REQUIRE(bits.size() == 2);
  CHECK(bits[0] == 0);
  CHECK(bits[1] == 0b1111ull << 2);
  pool.release(b[5]);
  CHECK(bits[0] == 1ull << 5);
  CHECK(pool.check().empty());
}

TEST_CASE("reference churn sums each block's net count change between marks") {
  BlockPool pool(4, FreeListPolicy::kLifo);
  const BlockId a = pool.allocate();  // +1
  const BlockId b = pool.allocate();  // +1
  pool.incref(a);                     // a: +2 in all
  CHECK(pool.take_ref_churn() == 3);
  pool.incref(b);
  pool.release(b);  // net 0
  pool.release(a);  // -1
  CHECK(pool.take_ref_churn() == 1);
  CHECK(pool.take_ref_churn() == 0);
  CHECK(pool.total_refs() == 2);
}
