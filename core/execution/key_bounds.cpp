#include "core/execution/key_bounds.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace tinyserve {

std::vector<BlockWrite> block_writes(std::span<const int64_t> slot_mapping, int32_t block_size) {
  std::vector<std::pair<int64_t, int32_t>> slots;  // (slot, token index)
  slots.reserve(slot_mapping.size());
  for (size_t i = 0; i < slot_mapping.size(); ++i) {
    if (slot_mapping[i] >= 0) slots.emplace_back(slot_mapping[i], static_cast<int32_t>(i));
  }
  std::sort(slots.begin(), slots.end());
  std::vector<BlockWrite> writes;
  for (const auto& [slot, token] : slots) {
    const auto block = static_cast<int32_t>(slot / block_size);
    const auto offset = static_cast<int32_t>(slot % block_size);
    if (!writes.empty() && writes.back().block == block) {
      BlockWrite& w = writes.back();
      w.last = offset;
      w.token_begin = std::min(w.token_begin, token);
      w.token_end = std::max(w.token_end, token + 1);
    } else {
      writes.push_back({block, offset, offset, token, token + 1});
    }
  }
  return writes;
}

void update_key_bounds_reference(const PagedKv& cache, const KeyBounds& bounds,
                                 std::span<const BlockWrite> writes) {
  assert(cache.num_layers == bounds.num_layers && cache.num_blocks == bounds.num_blocks &&
         cache.num_kv_heads == bounds.num_kv_heads && cache.head_dim == bounds.head_dim);
  const int32_t d = cache.head_dim;
  for (int32_t l = 0; l < cache.num_layers; ++l) {
    const PagedKv layer = cache.layer(l);
    const KeyBounds out = bounds.layer(l);
    for (const BlockWrite& w : writes) {
      assert(w.block >= 0 && w.block < cache.num_blocks && w.first <= w.last);
      for (int32_t h = 0; h < cache.num_kv_heads; ++h) {
        for (int32_t i = 0; i < d; ++i) {
          const auto key = [&](int32_t r) {
            return load_element(layer.k, layer.dtype, layer.index(w.block, h, r, i));
          };
          const int64_t at_lo = out.index(w.block, h, 0, i);
          const int64_t at_hi = out.index(w.block, h, 1, i);
          // Slot 0 written: the block starts afresh; otherwise widen what it had.
          float lo = w.first == 0 ? key(0) : load_element(out.data, out.dtype, at_lo);
          float hi = w.first == 0 ? key(0) : load_element(out.data, out.dtype, at_hi);
          for (int32_t r = w.first; r <= w.last; ++r) {
            lo = std::min(lo, key(r));
            hi = std::max(hi, key(r));
          }
          store_element(out.data, out.dtype, at_lo, lo);
          store_element(out.data, out.dtype, at_hi, hi);
        }
      }
    }
  }
}

void copy_key_bounds_reference(const KeyBounds& src, const KeyBounds& dst,
                               std::span<const BlockCopy> copies) {
  assert(src.num_layers == dst.num_layers && src.block_elements() == dst.block_elements() &&
         src.dtype == dst.dtype);
  const int64_t block_bytes = src.block_elements() * dtype_size(src.dtype);
  for (int32_t l = 0; l < src.num_layers; ++l) {
    const auto* from = static_cast<const char*>(src.layer(l).data);
    auto* to = static_cast<char*>(dst.layer(l).data);
    for (const BlockCopy& c : copies) {
      assert(c.src >= 0 && c.src < src.num_blocks && c.dst >= 0 && c.dst < dst.num_blocks);
      std::memmove(to + c.dst * block_bytes, from + c.src * block_bytes,
                   static_cast<size_t>(block_bytes));
    }
  }
}

std::vector<float> key_bounds_of(const PagedKv& layer, int64_t block, int32_t filled) {
  assert(layer.num_layers == 1 && filled >= 1 && filled <= layer.block_size);
  const int32_t d = layer.head_dim;
  std::vector<float> out(static_cast<size_t>(layer.num_kv_heads) * 2 * d);
  for (int32_t h = 0; h < layer.num_kv_heads; ++h) {
    for (int32_t i = 0; i < d; ++i) {
      float lo = load_element(layer.k, layer.dtype, layer.index(block, h, 0, i));
      float hi = lo;
      for (int32_t r = 1; r < filled; ++r) {
        const float x = load_element(layer.k, layer.dtype, layer.index(block, h, r, i));
        lo = std::min(lo, x);
        hi = std::max(hi, x);
      }
      out[(static_cast<size_t>(h) * 2) * d + i] = lo;
      out[(static_cast<size_t>(h) * 2 + 1) * d + i] = hi;
    }
  }
  return out;
}

}  // namespace tinyserve
