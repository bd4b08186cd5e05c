#include "app/gui/pool_layout.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tinyserve::app {

namespace {

constexpr int32_t kMinCellPixels = 4;  // smaller cells are a texel per block, scaled
constexpr int32_t kMaxCellPixels = 48;

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// A grid of n cells with the area's aspect, within w x h cells.
void grid(int64_t n, int32_t w, int32_t h, int32_t& columns, int32_t& rows) {
  auto cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n) * w / h)));
  cols = std::clamp<int64_t>(cols, 1, std::min<int64_t>(n, w));
  if (ceil_div(n, cols) > h) cols = std::min<int64_t>(w, ceil_div(n, h));
  columns = static_cast<int32_t>(cols);
  rows = static_cast<int32_t>(ceil_div(n, cols));
}

// Set bits of bits in [begin, end).
int64_t count_set(std::span<const uint64_t> bits, int64_t begin, int64_t end) {
  if (begin >= end) return 0;
  const auto wa = static_cast<size_t>(begin >> 6), wb = static_cast<size_t>(end >> 6);
  const unsigned a = static_cast<unsigned>(begin & 63), b = static_cast<unsigned>(end & 63);
  if (wa == wb) {
    const uint64_t mask = (~uint64_t{0} << a) & ((uint64_t{1} << b) - 1);
    return std::popcount(bits[wa] & mask);
  }
  int64_t n = std::popcount(bits[wa] >> a);
  for (size_t w = wa + 1; w < wb; ++w) n += std::popcount(bits[w]);
  if (b > 0) n += std::popcount(bits[wb] & ((uint64_t{1} << b) - 1));
  return n;
}

}  // namespace

int64_t PoolLayout::cell_at(float x, float y) const {
  if (columns == 0 || x < 0 || y < 0 || x >= width || y >= height) return -1;
  const auto col = static_cast<int64_t>(x / cell);
  const auto row = static_cast<int64_t>(y / cell);
  if (col >= columns || row >= rows) return -1;
  const int64_t c = row * columns + col;
  return first_block(c) < num_blocks ? c : -1;
}

BlockId PoolLayout::first_block(int64_t c) const {
  return static_cast<BlockId>(std::min<int64_t>(c * blocks_per_cell, num_blocks));
}

BlockId PoolLayout::end_block(int64_t c) const {
  return static_cast<BlockId>(std::min<int64_t>((c + 1) * blocks_per_cell, num_blocks));
}

PoolLayout layout_pool(int32_t num_blocks, float width, float height) {
  PoolLayout l;
  l.num_blocks = num_blocks;
  const auto w = static_cast<int32_t>(std::floor(width));
  const auto h = static_cast<int32_t>(std::floor(height));
  if (num_blocks <= 0 || w < 1 || h < 1) return l;
  const auto ideal =
      static_cast<int32_t>(std::sqrt(static_cast<double>(w) * h / static_cast<double>(num_blocks)));
  for (int32_t s = std::min(ideal, kMaxCellPixels); s >= kMinCellPixels; --s) {
    const int32_t cols = w / s;
    const auto rows = static_cast<int32_t>(ceil_div(num_blocks, cols));
    if (static_cast<int64_t>(rows) * s <= h) {
      l.columns = cols;
      l.rows = rows;
      l.texels = s;
      l.cell = static_cast<float>(s);
      l.width = static_cast<float>(cols * s);
      l.height = static_cast<float>(rows * s);
      return l;
    }
  }
  // A texel per block while the blocks fit the pixels, else a texel per group of blocks.
  const int64_t pixels = static_cast<int64_t>(w) * h;
  l.blocks_per_cell = std::max<int64_t>(1, ceil_div(num_blocks, pixels));
  grid(ceil_div(num_blocks, l.blocks_per_cell), w, h, l.columns, l.rows);
  l.texels = 1;
  l.cell = std::min(width / static_cast<float>(l.columns), height / static_cast<float>(l.rows));
  l.width = l.cell * static_cast<float>(l.columns);
  l.height = l.cell * static_cast<float>(l.rows);
  return l;
}

int64_t count_used(std::span<const uint64_t> available_bits, int64_t begin, int64_t end) {
  if (begin >= end) return 0;
  const int64_t have = static_cast<int64_t>(available_bits.size()) * 64;
  return end - begin - count_set(available_bits, std::min(begin, have), std::min(end, have));
}

void count_used(std::span<const uint64_t> available_bits, const PoolLayout& l,
                std::vector<uint32_t>& out) {
  out.assign(static_cast<size_t>(l.num_cells()), 0);
  for (int64_t c = 0; c < l.num_cells(); ++c) {
    const int64_t begin = l.first_block(c), end = l.end_block(c);
    if (begin >= end) break;
    out[static_cast<size_t>(c)] = static_cast<uint32_t>(count_used(available_bits, begin, end));
  }
}

}  // namespace tinyserve::app
