#include <doctest/doctest.h>

#include <vector>

#include "core/memory/contiguous_allocator.h"
#include "core/memory/pool_metrics.h"
#include "tests/core/helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {
ContiguousConfig config(Reservation r, int32_t num_blocks = 64, int32_t max_len = 64) {
  ContiguousConfig c;
  c.block_size = 4;
  c.num_blocks = num_blocks;
  c.max_model_len = max_len;
  c.reservation = r;
  c.check_invariants = true;
  return c;
}
}  // namespace

TEST_CASE("every reservation name parses back") {
  for (const auto& [r, name] : kReservationNames) {
    CHECK(parse_named<Reservation>(kReservationNames, name) == r);
  }
  CHECK_FALSE(parse_named<Reservation>(kReservationNames, "lazy").has_value());
}

TEST_CASE("a max-length reservation holds the model's maximum length for every request") {
  ContiguousAllocator kv(config(Reservation::kMaxLength));
  kv.allocate(1, request(tokens(5), 9));
  CHECK(kv.stats().used_blocks == 16);  // 64 tokens / 4
  CHECK(kv.table(1).blocks == std::vector<BlockId>{0, 1});
  CHECK(kv.can_allocate(request(tokens(5), 65)) == AllocStatus::kNever);
}

TEST_CASE("a power-of-two reservation holds the next power of two of the final length") {
  ContiguousAllocator kv(config(Reservation::kPowerOfTwo));
  kv.allocate(1, request(tokens(5), 17));
  CHECK(kv.stats().used_blocks == 8);  // 32 tokens
  CHECK(kv.reservation_tokens(16) == 16);
  CHECK(kv.reservation_tokens(1) == 1);
}

TEST_CASE("an exact reservation holds the final length, rounded up to whole blocks") {
  ContiguousAllocator kv(config(Reservation::kExact));
  kv.allocate(1, request(tokens(5), 17));
  CHECK(kv.stats().used_blocks == 5);
}

TEST_CASE("appends stay inside the reservation and take no blocks") {
  ContiguousAllocator kv(config(Reservation::kExact));
  kv.allocate(1, request(tokens(3), 6));
  const int32_t used = kv.stats().used_blocks;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(kv.can_append(1));
    const AppendResult r = kv.append_slot(1);
    CHECK(r.slot == 3 + i);
  }
  CHECK(kv.stats().used_blocks == used);
  CHECK(kv.blocks_needed_to_append(1) == 0);  // the region has 8 slots for 6 tokens
  kv.append_slot(1);
  kv.append_slot(1);
  CHECK_FALSE(kv.can_append(1));
}

TEST_CASE("first-fit placement leaves holes that a large request cannot use") {
  ContiguousAllocator kv(config(Reservation::kExact, 12));
  kv.allocate(1, request(tokens(16)));  // blocks 0-3
  kv.allocate(2, request(tokens(8)));   // 4-5
  kv.allocate(3, request(tokens(16)));  // 6-9
  kv.free(2);                           // free: 4-5 and 10-11
  CHECK(kv.num_available_blocks() == 4);
  CHECK(kv.largest_free_run() == 2);
  CHECK(kv.can_allocate(request(tokens(16))) == AllocStatus::kLater);
  CHECK(kv.can_allocate(request(tokens(8))) == AllocStatus::kOk);
  kv.allocate(4, request(tokens(8)));
  CHECK(kv.table(4).blocks == std::vector<BlockId>{4, 5});  // the first hole that fits
  TemporalFragmentation temporal;
  const PoolMetrics m = measure_pool(kv, temporal, FragmentationParams{});
  CHECK(m.external_fragmentation == doctest::Approx(0.0));
  kv.free(1);
  const PoolMetrics m2 = measure_pool(kv, temporal, FragmentationParams{});
  CHECK(m2.external_fragmentation == doctest::Approx(1.0 - 4.0 / 6.0));
}

TEST_CASE("a group reserves a region per sequence and a fork copies into a spare") {
  ContiguousAllocator kv(config(Reservation::kExact));
  kv.allocate(1, request(tokens(6), 8, 3));
  CHECK(kv.stats().used_blocks == 6);
  REQUIRE(kv.can_fork(1));
  const auto copies = kv.fork(1, 2);
  CHECK(copies.size() == 2);
  for (size_t i = 0; i < copies.size(); ++i) {
    CHECK(copies[i].src == kv.table(1).blocks[i]);
    CHECK(copies[i].dst == kv.table(2).blocks[i]);
  }
  kv.fork(1, 3);
  CHECK_FALSE(kv.can_fork(1));
  kv.free(2);  // a pruned beam leaves its region to the group
  CHECK(kv.can_fork(3));
  CHECK(kv.stats().used_blocks == 6);
  kv.free(1);
  kv.free(3);
  CHECK(kv.stats().used_blocks == 0);
  CHECK(kv.largest_free_run() == 64);
}

TEST_CASE("reservation metrics split allocated slots into stored, reserved and wasted") {
  ContiguousAllocator kv(config(Reservation::kPowerOfTwo));
  kv.allocate(1, request(tokens(10), 20));  // 32 slots: 10 stored, 10 to come, 12 wasted
  TemporalFragmentation temporal;
  const PoolMetrics m = measure_pool(kv, temporal, FragmentationParams{});
  CHECK(m.kv_cache_usage == doctest::Approx(8.0 / 64));
  CHECK(m.token_utilization == doctest::Approx(10.0 / 32));
  CHECK(m.reserved_fraction == doctest::Approx(10.0 / 32));
  CHECK(m.internal_fragmentation == doctest::Approx(12.0 / 32));
}
