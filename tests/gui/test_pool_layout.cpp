#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "app/gui/pool_layout.h"
#include "app/gui/session.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

bool available(const std::vector<uint64_t>& bits, int64_t b) {
  return ((bits[static_cast<size_t>(b >> 6)] >> (b & 63)) & 1u) != 0;
}

void check_fits(const PoolLayout& l, float width, float height) {
  CHECK(l.columns >= 1);
  CHECK(l.width <= width + 1e-3f);
  CHECK(l.height <= height + 1e-3f);
  CHECK(l.cell >= 1.0f);
  // Every block has a cell, and no cell is past the last block but those of the last row.
  CHECK(l.num_cells() * l.blocks_per_cell >= l.num_blocks);
  CHECK((l.num_cells() - l.columns) * l.blocks_per_cell < l.num_blocks);
  // The texture is never larger than the area's pixels.
  CHECK(l.num_cells() * l.texels * l.texels <=
        static_cast<int64_t>(std::floor(width)) * static_cast<int64_t>(std::floor(height)));
}

}  // namespace

TEST_CASE("the pool map keeps a cell per block while the blocks fit its pixels") {
  for (int32_t n : {1, 7, 3400, 100000}) {
    CAPTURE(n);
    const PoolLayout l = layout_pool(n, 790, 340);
    check_fits(l, 790, 340);
    CHECK(l.blocks_per_cell == 1);
    CHECK_FALSE(l.aggregated());
  }
  CHECK(layout_pool(3400, 790, 340).texels >= 4);  // large cells with a gap and a fill gauge
}

TEST_CASE("a pool larger than the map's pixels is aggregated into one pixel a cell") {
  for (int32_t n : {268601, 1000000, 50000000}) {
    for (auto [w, h] : {std::pair{790.0f, 340.0f}, {400.0f, 230.5f}, {1700.0f, 900.0f}}) {
      CAPTURE(n);
      CAPTURE(w);
      const PoolLayout l = layout_pool(n, w, h);
      check_fits(l, w, h);
      if (n > static_cast<int64_t>(w) * static_cast<int64_t>(h)) {
        CHECK(l.aggregated());
        CHECK(l.texels == 1);
        // Most of the area is used, whatever the pool's size.
        CHECK(static_cast<double>(l.num_cells()) >= 0.4 * w * h);
      }
    }
  }
}

TEST_CASE("the map finds the cell under a point and the blocks it holds") {
  const PoolLayout l = layout_pool(50000000, 790, 340);
  REQUIRE(l.aggregated());
  int64_t seen = 0;
  for (int64_t c = 0; c < l.num_cells(); c += 997) {
    const float x = l.cell_x(c) + l.cell * 0.5f, y = l.cell_y(c) + l.cell * 0.5f;
    CHECK(l.cell_at(x, y) == c);
    CHECK(l.cell_of(l.first_block(c)) == c);
    CHECK(l.cell_of(l.end_block(c) - 1) == c);
    ++seen;
  }
  CHECK(seen > 100);
  CHECK(l.cell_at(-1, 0) == -1);
  CHECK(l.cell_at(l.width, 0) == -1);
}

TEST_CASE("used blocks per cell match a block by block count") {
  for (int32_t n : {1, 63, 64, 65, 5000, 131072 + 17}) {
    for (float area : {30.0f, 100.0f}) {
      CAPTURE(n);
      CAPTURE(area);
      std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64));
      uint64_t state = static_cast<uint64_t>(n) * 2654435761u + 1;
      for (uint64_t& w : bits) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        w = state ^ (state << 17);
      }
      const PoolLayout l = layout_pool(n, area, area * 0.6f);
      std::vector<uint32_t> used;
      count_used(bits, l, used);
      REQUIRE(used.size() == static_cast<size_t>(l.num_cells()));
      int64_t total = 0;
      for (int64_t c = 0; c < l.num_cells(); ++c) {
        int64_t expected = 0;
        for (int64_t b = l.first_block(c); b < l.end_block(c); ++b) expected += !available(bits, b);
        CHECK(used[static_cast<size_t>(c)] == expected);
        total += used[static_cast<size_t>(c)];
      }
      int64_t all = 0;
      for (int64_t b = 0; b < n; ++b) all += !available(bits, b);
      CHECK(total == all);
    }
  }
}

TEST_CASE("a snapshot of a pool too large for block views still gives its usage") {
  Session s("", [](const Scenario&) { return std::make_unique<AccountingBackend>(); });
  const std::string path = std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/poisson_zipf.toml";
  REQUIRE(s.load(path, {"workload.num_requests=5", "hardware.num_gpu_blocks=300000"}).empty());
  s.advance_exact(20);
  const Snapshot& snap = s.run().snapshot();
  CHECK(snap.stats.num_blocks == 300000);
  CHECK(snap.blocks.empty());
  CHECK_FALSE(snap.has_block_views());
  REQUIRE(snap.available_bits.size() == static_cast<size_t>((300000 + 63) / 64));
  CHECK(count_used(snap.available_bits, 0, snap.stats.num_blocks) == snap.stats.used_blocks);
  REQUIRE(snap.stats.used_blocks > 0);
}
