#include "gpu/decode_v6_plan.h"

#include <algorithm>
#include <cassert>

namespace tinyserve::gpu::v6 {

WorkList build_work_list(const int32_t* lens, int32_t batch, int32_t max_len, int32_t num_kv_heads,
                         int32_t tile_tokens, int32_t warps, int32_t item_cost) {
  item_cost = std::max(item_cost, 0);
  assert(batch >= 1 && num_kv_heads >= 1 && tile_tokens >= 1 && max_len >= 1);
  WorkList w;
  w.tile_tokens = tile_tokens;
  w.num_items = batch * num_kv_heads;
  std::vector<WorkItem> items(static_cast<size_t>(w.num_items));
  int64_t total = 0;
  for (int32_t b = 0; b < batch; ++b) {
    const int32_t len = lens != nullptr ? std::max(lens[b], 1) : max_len;
    for (int32_t h = 0; h < num_kv_heads; ++h) {
      WorkItem& it = items[static_cast<size_t>(b) * num_kv_heads + h];
      it.seq = b;
      it.kv_head = h;
      it.planned_len = len;
      it.tiles = (len + tile_tokens - 1) / tile_tokens;
      it.flat_begin = static_cast<int32_t>(total);
      total += it.tiles;
    }
  }
  assert(total < (int64_t{1} << 31));
  w.total_tiles = static_cast<int32_t>(total);
  w.num_warps = static_cast<int32_t>(std::clamp<int64_t>(warps, 1, total));

  // Cut the cost space (item i at [flat_begin + i * item_cost, + tiles + item_cost)) into equal
  // shares; a cut that falls in an item's tiles-free tail moves to the item's end.
  const int64_t cost = total + static_cast<int64_t>(item_cost) * w.num_items;
  std::vector<int32_t> begin(static_cast<size_t>(w.num_warps) + 1);
  size_t at = 0;
  for (int32_t i = 0; i <= w.num_warps; ++i) {
    const int64_t c = cost * i / w.num_warps;
    while (at < items.size() &&
           items[at].flat_begin + static_cast<int64_t>(at + 1) * item_cost + items[at].tiles <= c) {
      ++at;
    }
    if (at == items.size()) {
      begin[i] = static_cast<int32_t>(total);
    } else {
      const int64_t into = c - (items[at].flat_begin + static_cast<int64_t>(at) * item_cost);
      begin[i] =
          items[at].flat_begin + static_cast<int32_t>(std::min<int64_t>(into, items[at].tiles));
    }
  }
  // The warp whose range holds flat tile f.
  const auto warp_of = [&](int32_t f) {
    return static_cast<int32_t>(std::upper_bound(begin.begin(), begin.end(), f) - begin.begin()) -
           1;
  };
  std::vector<int32_t> first_item(static_cast<size_t>(w.num_warps));
  int32_t parts = 0;
  size_t item = 0;
  for (int32_t i = 0; i < w.num_warps; ++i) {
    while (item + 1 < items.size() && items[item].flat_begin + items[item].tiles <= begin[i]) {
      ++item;
    }
    first_item[i] = static_cast<int32_t>(item);  // meaningless for an empty range
  }
  for (WorkItem& it : items) {
    it.first_warp = warp_of(it.flat_begin);
    it.parts = warp_of(it.flat_begin + it.tiles - 1) - it.first_warp + 1;
    it.part_base = 0;
    if (it.parts > 1) {
      it.part_base = parts;
      parts += it.parts;
    }
  }
  w.num_parts = parts;

  // The image: warp_begin, warp_item, then the items 32-byte aligned, then the counters.
  w.warp_begin_offset = 0;
  w.warp_item_offset = begin.size();
  w.items_offset = (w.warp_item_offset + first_item.size() + 7) / 8 * 8;
  w.counters_offset = w.items_offset + 8 * items.size();
  w.image.assign(w.counters_offset + items.size(), 0);
  std::copy(begin.begin(), begin.end(), w.image.begin());
  std::copy(first_item.begin(), first_item.end(),
            w.image.begin() + static_cast<std::ptrdiff_t>(w.warp_item_offset));
  for (size_t i = 0; i < items.size(); ++i) {
    const WorkItem& it = items[i];
    const int32_t words[8] = {it.seq,         it.kv_head, it.flat_begin, it.tiles,
                              it.planned_len, it.parts,   it.first_warp, it.part_base};
    std::copy(words, words + 8,
              w.image.begin() + static_cast<std::ptrdiff_t>(w.items_offset + 8 * i));
  }
  return w;
}

int32_t default_v6_warps(int32_t ctas_per_sm, int32_t multiprocessors) {
  return std::max(1, ctas_per_sm) * std::max(1, multiprocessors) * 4;
}

}  // namespace tinyserve::gpu::v6
