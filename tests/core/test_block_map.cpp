#include <doctest/doctest.h>

#include "core/memory/block_map.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/kv_cache_manager.h"
#include "tests/core/helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

TEST_CASE("the block map line shows owners, shared, cached and free blocks") {
  KvCacheConfig c;
  c.block_size = 4;
  c.num_gpu_blocks = 10;
  c.enable_prefix_caching = true;
  c.watermark = 0;
  KvCacheManager kv(c);
  const auto a = tokens(8, 1);
  kv.allocate(3, request(a));  // blocks 0, 1
  kv.mark_computed(3, 8);
  kv.allocate(7, request(tokens(6, 900)));    // blocks 2, 3
  kv.fork(7, 9);                              // 2, 3 shared
  kv.append_slot(9);                          // block 3 copied to 4
  kv.allocate(11, request(tokens(4, 300)));   // block 5
  kv.free(3);                                 // both full prompt blocks stay cached
  CHECK(block_map_line(kv) == "cc*ABC....");  // A = seq 7, B = seq 9, C = seq 11
}

TEST_CASE("the dump lists the pool's counts and every sequence's block table") {
  ContiguousConfig c;
  c.block_size = 4;
  c.num_blocks = 8;
  c.reservation = Reservation::kExact;
  ContiguousAllocator kv(c);
  kv.allocate(5, request(tokens(5), 12));
  const std::string dump = dump_block_map(kv, 4);
  CHECK(dump.find("GPU pool: 8 blocks x 4 slots | used 3, cached 0, free 5 | 5 tokens stored") !=
        std::string::npos);
  CHECK(dump.find("0 AA-.\n4 ....\n") != std::string::npos);
  CHECK(dump.find("seq 5 (A): 5 tokens, blocks [0 1]") != std::string::npos);
}

TEST_CASE("named sequences keep their letters in the dump when others finish") {
  KvCacheConfig c;
  c.block_size = 4;
  c.num_gpu_blocks = 8;
  c.watermark = 0;
  KvCacheManager kv(c);
  kv.allocate(0, request(tokens(4, 1)));    // block 0
  kv.allocate(1, request(tokens(4, 100)));  // block 1
  kv.allocate(2, request(tokens(4, 200)));  // block 2
  const std::vector<SeqId> named = {0, 1};
  kv.free(0);
  const std::string dump = dump_block_map(kv, 8, named);
  // Seq 1 stays B although seq 0 has gone; seq 2, not named, comes after the named ones.
  CHECK(dump.find("0 .BC.....\n") != std::string::npos);
  CHECK(dump.find("legend: . free  c cached  * shared  - reserved, empty  B seq 1  C seq 2\n") !=
        std::string::npos);
  CHECK(dump.find("seq 1 (B): 4 tokens") != std::string::npos);
  // Without names, letters follow the live sequences in id order.
  CHECK(dump_block_map(kv, 8).find("0 .AB.....\n") != std::string::npos);
}
