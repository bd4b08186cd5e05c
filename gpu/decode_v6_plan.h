// v6's work list, built on the host (gpu/decode_v6.cuh runs it). The items are the batch's
// (sequence, KV head) pairs in order, each cut into tiles of tile_tokens; their tiles, one item
// after the other, form one flat sequence, which is cut into num_warps equal ranges. Plain C++
// (the planner is pure host code; the tests check its invariants without a GPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tinyserve::gpu::v6 {

// One (sequence, KV head), as the kernel reads it (32 bytes).
struct WorkItem {
  int32_t seq;
  int32_t kv_head;
  int32_t flat_begin;   // its first tile in the flat order
  int32_t tiles;        // ceil(planned_len / tile_tokens)
  int32_t planned_len;  // the length planned for (no token at or past it is read)
  int32_t parts;        // warps whose ranges overlap it; 1: that warp writes the output
  int32_t first_warp;   // the first of them
  int32_t part_base;    // partial slot of first_warp's part (parts > 1)
};
static_assert(sizeof(WorkItem) == 32);

struct WorkList {
  int32_t tile_tokens = 16;
  int32_t num_warps = 0;
  int32_t num_items = 0;
  int32_t num_parts = 0;  // partial slots, over all items with parts > 1
  int32_t total_tiles = 0;
  // The device image, int32 words: warp_begin [num_warps + 1], warp_item [num_warps], items
  // [num_items] (8 words each, 32-byte aligned), counters [num_items] (zeros).
  std::vector<int32_t> image;
  size_t warp_begin_offset = 0;  // in words
  size_t warp_item_offset = 0;
  size_t items_offset = 0;
  size_t counters_offset = 0;

  size_t image_bytes() const { return image.size() * sizeof(int32_t); }
};

// What starting and finishing an item costs a warp (its query and length, the output or its
// part), counted in tiles: the warps' shares are equal in tiles plus this per item they touch.
inline constexpr int32_t kDefaultItemCost = 1;

// lens: [batch] context lengths (or nullptr: every sequence planned at max_len). warps: the
// warps to spread the work over (capped at the number of tiles). item_cost: see above; the
// shares are cut in a cost space where each item is followed by item_cost tiles of no data, so
// a warp may get no tile at all (it then returns at once).
WorkList build_work_list(const int32_t* lens, int32_t batch, int32_t max_len, int32_t num_kv_heads,
                         int32_t tile_tokens, int32_t warps, int32_t item_cost = kDefaultItemCost);

// The warps v6 launches by default: its resident warps (CTAs per SM x SMs x 4): one wave.
int32_t default_v6_warps(int32_t ctas_per_sm, int32_t multiprocessors);

}  // namespace tinyserve::gpu::v6
