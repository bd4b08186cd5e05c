#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/memory/free_list.h"

using namespace tinyserve;

namespace {
std::vector<BlockId> pop_all(FreeList& list) {
  std::vector<BlockId> out;
  while (!list.empty()) out.push_back(list.pop());
  return out;
}
}  // namespace

TEST_CASE("every policy name parses back to its policy") {
  for (const auto& [p, name] : kFreeListPolicyNames) {
    CHECK(parse_named<FreeListPolicy>(kFreeListPolicyNames, name) == p);
  }
  CHECK_FALSE(parse_named<FreeListPolicy>(kFreeListPolicyNames, "fastest").has_value());
}

TEST_CASE("LIFO hands out the most recently freed block first") {
  FreeList list(FreeListPolicy::kLifo, 8, 0);
  CHECK(list.pop() == 0);
  CHECK(list.pop() == 1);
  CHECK(list.pop() == 2);
  list.push(1, false);
  list.push(0, false);
  CHECK(list.pop() == 0);
  CHECK(list.pop() == 1);
  CHECK(list.size() == 5);
}

TEST_CASE("FIFO hands out the least recently freed block first") {
  FreeList list(FreeListPolicy::kFifo, 4, 0);
  CHECK(list.pop() == 0);
  CHECK(list.pop() == 1);
  list.push(1, false);
  list.push(0, false);
  CHECK(pop_all(list) == std::vector<BlockId>{2, 3, 1, 0});
}

TEST_CASE("random hands out every free block exactly once and replays for a seed") {
  FreeList a(FreeListPolicy::kRandom, 100, 7), b(FreeListPolicy::kRandom, 100, 7);
  FreeList c(FreeListPolicy::kRandom, 100, 8);
  const std::vector<BlockId> order_a = pop_all(a), order_b = pop_all(b), order_c = pop_all(c);
  CHECK(order_a == order_b);
  CHECK(order_a != order_c);
  std::vector<BlockId> sorted = order_a;
  std::sort(sorted.begin(), sorted.end());
  for (BlockId i = 0; i < 100; ++i) CHECK(sorted[static_cast<size_t>(i)] == i);
}

TEST_CASE("best-fit takes the smallest free run that holds the request") {
  FreeList list(FreeListPolicy::kBestFit, 16, 0, nullptr);
  // Free runs: [0,4) length 4, [6,8) length 2, [10,16) length 6.
  for (BlockId b : {0, 1, 2, 3, 6, 7, 10, 11, 12, 13, 14, 15}) list.push(b, false);
  std::vector<BlockId> out;
  list.pop_run(2, kNoBlock, out);
  CHECK(out == std::vector<BlockId>{6, 7});
  out.clear();
  list.pop_run(5, kNoBlock, out);
  CHECK(out == std::vector<BlockId>{10, 11, 12, 13, 14});
  out.clear();
  list.pop_run(1, kNoBlock, out);  // the hole of one at 15 before the run of four
  CHECK(out == std::vector<BlockId>{15});
}

TEST_CASE("best-fit extends the caller's last block when the next block is free") {
  FreeList list(FreeListPolicy::kBestFit, 16, 0);
  std::vector<BlockId> a, b;
  list.pop_run(3, kNoBlock, a);  // the whole pool is one run: 0, 1, 2
  CHECK(a == std::vector<BlockId>{0, 1, 2});
  CHECK(list.pop(2) == 3);  // continues sequence a
  list.pop_run(2, 3, b);
  CHECK(b == std::vector<BlockId>{4, 5});
}

TEST_CASE("best-fit falls back to the longest runs when no run is long enough") {
  FreeList list(FreeListPolicy::kBestFit, 12, 0, nullptr);
  for (BlockId b : {0, 1, 4, 5, 6, 9}) list.push(b, false);  // runs of 2, 3 and 1
  std::vector<BlockId> out;
  list.pop_run(5, kNoBlock, out);
  CHECK(out == std::vector<BlockId>{4, 5, 6, 0, 1});
  CHECK(list.size() == 1);
}

TEST_CASE("best-fit merges a freed block with its free neighbours into one run") {
  FreeList list(FreeListPolicy::kBestFit, 8, 0, nullptr);
  list.push(2, false);
  list.push(4, false);
  list.push(3, false);  // joins [2] and [4] into [2, 5)
  std::vector<BlockId> out;
  list.pop_run(3, kNoBlock, out);
  CHECK(out == std::vector<BlockId>{2, 3, 4});
  CHECK(list.empty());
}

TEST_CASE("LRU hands out the least recently released block, free or cached") {
  FreeList list(FreeListPolicy::kLru, 4, 0);
  CHECK(list.pop() == 0);
  CHECK(list.pop() == 1);
  list.push(1, true);   // cached
  list.push(0, false);  // free, released after it
  CHECK(list.num_cached() == 1);
  CHECK(list.num_free() == 3);
  CHECK(pop_all(list) == std::vector<BlockId>{2, 3, 1, 0});
}

TEST_CASE("other policies evict a cached block only when no free block is left, oldest first") {
  for (const auto& [policy, name] : kFreeListPolicyNames) {
    if (policy == FreeListPolicy::kLru) continue;
    CAPTURE(name);
    FreeList list(policy, 4, 3);
    std::vector<BlockId> taken;
    list.pop_run(4, kNoBlock, taken);
    std::sort(taken.begin(), taken.end());
    CHECK(taken == std::vector<BlockId>{0, 1, 2, 3});
    list.push(2, true);
    list.push(0, true);
    list.push(3, false);
    CHECK(list.size() == 3);
    CHECK(list.pop() == 3);  // the free one first
    CHECK(list.pop() == 2);  // then the least recently released cached one
    CHECK(list.pop() == 0);
    CHECK(list.empty());
  }
}

TEST_CASE("a revived cached block leaves the free list") {
  FreeList list(FreeListPolicy::kFifo, 3, 0);
  std::vector<BlockId> taken;
  list.pop_run(3, kNoBlock, taken);
  list.push(1, true);
  list.push(2, true);
  list.revive(1);
  CHECK_FALSE(list.contains_cached(1));
  CHECK(list.num_cached() == 1);
  CHECK(list.pop() == 2);
  CHECK(list.empty());
}
