// v6's host-built work list: pure host code, checked without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/base/rng.h"
#include "gpu/decode_v6_plan.h"

using namespace tinyserve;
using namespace tinyserve::gpu::v6;

namespace {

WorkItem item_at(const WorkList& w, int32_t i) {
  const int32_t* p = w.image.data() + w.items_offset + 8 * static_cast<size_t>(i);
  return WorkItem{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]};
}

// Every tile of every item is covered by exactly one warp; warps get equal shares; the parts
// of a shared item are the warps overlapping it, with consecutive partial slots.
void check_list(const std::vector<int32_t>& lens, int32_t kv_heads, int32_t tile, int32_t warps,
                int32_t item_cost = 0) {
  CAPTURE(lens.size());
  CAPTURE(kv_heads);
  CAPTURE(tile);
  CAPTURE(warps);
  CAPTURE(item_cost);
  const auto batch = static_cast<int32_t>(lens.size());
  const int32_t max_len = *std::max_element(lens.begin(), lens.end());
  const WorkList w = build_work_list(lens.data(), batch, max_len, kv_heads, tile, warps, item_cost);
  REQUIRE(w.num_items == batch * kv_heads);
  int64_t total = 0;
  for (int32_t len : lens) total += kv_heads * ((len + tile - 1) / tile);
  CHECK(w.total_tiles == total);
  CHECK(w.num_warps == std::min<int64_t>(warps, total));
  const int32_t* begin = w.image.data() + w.warp_begin_offset;
  const int32_t* first = w.image.data() + w.warp_item_offset;
  CHECK(begin[0] == 0);
  CHECK(begin[w.num_warps] == total);
  // Each warp's share of the cost (its tiles, plus item_cost for every item it starts or
  // ends in) is within one item's cost of an equal share.
  const int64_t share = (total + static_cast<int64_t>(item_cost) * w.num_items) / w.num_warps;
  for (int32_t i = 0; i < w.num_warps; ++i) {
    const int32_t n = begin[i + 1] - begin[i];
    CHECK(begin[i + 1] >= begin[i]);
    if (item_cost == 0) {
      CHECK(n >= share);
      CHECK(n <= share + 1);
    } else {
      CHECK(n <= share + 1);
    }
    if (n == 0) continue;
    const WorkItem it = item_at(w, first[i]);
    CHECK(it.flat_begin <= begin[i]);
    CHECK(begin[i] < it.flat_begin + it.tiles);
  }
  int32_t next_part = 0;
  int64_t flat = 0;
  for (int32_t i = 0; i < w.num_items; ++i) {
    const WorkItem it = item_at(w, i);
    CHECK(it.seq == i / kv_heads);
    CHECK(it.kv_head == i % kv_heads);
    CHECK(it.planned_len == lens[it.seq]);
    CHECK(it.flat_begin == flat);
    flat += it.tiles;
    // The warps overlapping [flat_begin, flat_begin + tiles).
    int32_t overlapping = 0, lowest = -1;
    for (int32_t k = 0; k < w.num_warps; ++k) {
      if (begin[k] < it.flat_begin + it.tiles && it.flat_begin < begin[k + 1]) {
        if (lowest < 0) lowest = k;
        ++overlapping;
      }
    }
    CHECK(it.parts == overlapping);
    CHECK(it.first_warp == lowest);
    if (it.parts > 1) {
      CHECK(it.part_base == next_part);
      next_part += it.parts;
    }
    CHECK(w.image[w.counters_offset + static_cast<size_t>(i)] == 0);
  }
  CHECK(w.num_parts == next_part);
  CHECK(w.items_offset % 8 == 0);  // 32-byte aligned items
}

}  // namespace

TEST_CASE("v6's work list covers every tile once, in equal shares per warp") {
  Rng rng(5);
  for (int32_t warps : {1, 2, 7, 64, 1056, 1000000}) {
    for (int32_t tile : {16, 32}) {
      std::vector<int32_t> lens(static_cast<size_t>(rng.uniform_int(1, 70)));
      for (int32_t& len : lens) len = static_cast<int32_t>(rng.uniform_int(1, 5000));
      const auto kv_heads = static_cast<int32_t>(rng.uniform_int(1, 8));
      check_list(lens, kv_heads, tile, warps);
      check_list(lens, kv_heads, tile, warps, 1);
      check_list(lens, kv_heads, tile, warps, 3);
    }
  }
  check_list({32768, 32768, 32768}, 8, 16, 1056);  // long items shared by many warps
  check_list({1}, 1, 16, 1056);                    // fewer tiles than warps
}

TEST_CASE("v6 plans every sequence at the longest length when lengths are unknown") {
  const WorkList w = build_work_list(nullptr, 3, 100, 2, 16, 4, 0);
  CHECK(w.total_tiles == 3 * 2 * 7);
  CHECK(item_at(w, 5).planned_len == 100);
  CHECK(default_v6_warps(2, 132) == 1056);
}
