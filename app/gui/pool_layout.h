// Where the pool map puts the blocks: a grid of cells filling an area, one block a cell while
// blocks fit the area's pixels, else one pixel a cell of consecutive blocks (the map then shows
// the share of each cell's blocks in use). No ImGui or GL: the texture and the view use it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/ids.h"

namespace tinyserve::app {

struct PoolLayout {
  int32_t num_blocks = 0;
  int32_t columns = 0, rows = 0;  // cells
  int32_t texels = 1;             // texels per cell side (> 1: a gap and a fill gauge)
  int64_t blocks_per_cell = 1;    // > 1: a cell aggregates this many consecutive blocks
  float cell = 1;                 // pixels per cell side on screen
  float width = 0, height = 0;    // of the whole map, in pixels

  bool aggregated() const { return blocks_per_cell > 1; }
  int64_t num_cells() const { return static_cast<int64_t>(columns) * rows; }
  // The cell under a point (offset from the map's corner, pixels); -1 outside the map or past
  // the last block.
  int64_t cell_at(float x, float y) const;
  int64_t cell_of(BlockId b) const { return b / blocks_per_cell; }
  // Blocks [first, last) of a cell.
  BlockId first_block(int64_t cell) const;
  BlockId end_block(int64_t cell) const;
  // The cell's corner, offset from the map's corner (pixels).
  float cell_x(int64_t c) const { return static_cast<float>(c % columns) * cell; }
  float cell_y(int64_t c) const { return static_cast<float>(c / columns) * cell; }
};

// Cells of 4 to 48 pixels when the blocks fit; then a texel per block scaled up; past the area's
// pixels, one pixel a cell of as many blocks as it takes (width x height cells at most).
PoolLayout layout_pool(int32_t num_blocks, float width, float height);

// Used blocks (bit clear in available_bits: words of 64 blocks, bit set when free or cached) in
// [begin, end), in O((end - begin) / 64).
int64_t count_used(std::span<const uint64_t> available_bits, int64_t begin, int64_t end);
// ... in each cell of the layout: out[cell] for every cell, in O(num_blocks / 64 + cells).
void count_used(std::span<const uint64_t> available_bits, const PoolLayout& layout,
                std::vector<uint32_t>& out);

}  // namespace tinyserve::app
