#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "app/gui/column.h"
#include "app/gui/run_columns.h"

using namespace tinyserve;
using namespace tinyserve::app;

TEST_CASE("a column's min/max over any range matches a scan of its values") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-50.0f, 50.0f);
  Column column;
  std::vector<float> values;
  for (int n = 0; n < 1500; ++n) {
    values.push_back(value(rng));
    column.push(values.back());
    for (int trial = 0; trial < 8; ++trial) {
      size_t a = rng() % (values.size() + 1), b = rng() % (values.size() + 1);
      if (a > b) std::swap(a, b);
      const MinMax got = column.range(a, b);
      if (a == b) {
        CHECK(got.empty());
        continue;
      }
      const auto [lo, hi] = std::minmax_element(values.begin() + static_cast<ptrdiff_t>(a),
                                                values.begin() + static_cast<ptrdiff_t>(b));
      REQUIRE(got.min == *lo);
      REQUIRE(got.max == *hi);
    }
  }
}

TEST_CASE("a column's range past its end is clipped to its values") {
  Column column;
  for (float v : {3.0f, -1.0f, 4.0f}) column.push(v);
  const MinMax all = column.range(0, 100);
  CHECK(all.min == -1.0f);
  CHECK(all.max == 4.0f);
  CHECK(column.range(3, 10).empty());
}

TEST_CASE("run columns append only the steps they have not seen, and restart after a reset") {
  std::vector<StepMetrics> history(10);
  for (size_t i = 0; i < history.size(); ++i) {
    history[i].step = static_cast<int64_t>(i);
    history[i].time_s = 0.5 * static_cast<double>(i + 1);
    history[i].step_ms = 500;
    history[i].generated_tokens = 4;
    history[i].pool.kv_cache_usage = 0.1 * static_cast<double>(i);
  }
  RunColumns columns;
  columns.sync(std::span<const StepMetrics>(history).first(4));
  CHECK(columns.size() == 4);
  columns.sync(history);
  CHECK(columns.size() == 10);
  CHECK(columns[Metric::kKvCacheUsage][9] == doctest::Approx(0.9));
  // 4 tokens every 0.5 s, whatever the window.
  CHECK(columns[Metric::kThroughputWindow][0] == doctest::Approx(8.0));
  CHECK(columns[Metric::kThroughputWindow][9] == doctest::Approx(8.0));
  columns.sync(std::span<const StepMetrics>(history).first(2));
  CHECK(columns.size() == 2);
}
