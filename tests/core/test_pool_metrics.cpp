#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/base/rng.h"
#include "core/memory/kv_cache_manager.h"
#include "core/memory/pool_metrics.h"
#include "tests/core/helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {
std::vector<uint64_t> bitmap(int32_t n, std::initializer_list<std::pair<int32_t, int32_t>> runs) {
  std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
  for (auto [start, len] : runs) {
    for (int32_t b = start; b < start + len; ++b)
      bits[static_cast<size_t>(b / 64)] |= 1ull << (b % 64);
  }
  return bits;
}
}  // namespace

TEST_CASE("usage, utilization and internal fragmentation of a paged pool") {
  KvCacheConfig c;
  c.block_size = 4;
  c.num_gpu_blocks = 10;
  c.watermark = 0;
  KvCacheManager kv(c);
  kv.allocate(1, request(tokens(6)));
  kv.allocate(2, request(tokens(9, 50)));
  TemporalFragmentation temporal;
  const PoolMetrics m = measure_pool(kv, temporal, FragmentationParams{});
  CHECK(m.kv_cache_usage == doctest::Approx(0.5));
  CHECK(m.token_utilization == doctest::Approx(15.0 / 20.0));
  CHECK(m.internal_fragmentation == doctest::Approx(5.0 / 20.0));
  CHECK(m.reserved_fraction == doctest::Approx(0.0));
  CHECK(m.free_runs == 1);
  CHECK(m.external_fragmentation == doctest::Approx(0.0));
}

namespace {
// A temporal term whose last step's churn was `d` of the references (no decay).
TemporalFragmentation temporal_at(double d) {
  TemporalFragmentation t(0.0);
  t.update(static_cast<int64_t>(d * 1000), 1000);
  return t;
}
}  // namespace

TEST_CASE("an empty pool wastes nothing") {
  const PoolStats empty{16, 100};
  const PoolMetrics m =
      measure_pool(empty, FreeRunSummary{1, 100, 100, 0.0}, temporal_at(0), FragmentationParams{});
  CHECK(m.kv_cache_usage == 0);
  CHECK(m.token_utilization == 1);
  CHECK(m.internal_fragmentation == 0);
}

TEST_CASE("free runs are found across word boundaries and at the pool's end") {
  const auto bits = bitmap(130, {{0, 3}, {60, 10}, {127, 3}});
  const auto runs = free_runs(bits, 130);
  REQUIRE(runs.size() == 3);
  CHECK(runs[0].start == 0);
  CHECK(runs[0].length == 3);
  CHECK(runs[1].start == 60);
  CHECK(runs[1].length == 10);
  CHECK(runs[2].start == 127);
  CHECK(runs[2].length == 3);
  const auto full = bitmap(128, {{0, 128}});
  CHECK(free_runs(full, 128).size() == 1);
  CHECK(free_runs(full, 100)[0].length == 100);  // bits past the pool do not count
}

TEST_CASE("external fragmentation and F_spatial match a hand-computed pool") {
  // 12 blocks: free [0, 2) and [6, 10); used 2-5 and 10-11. Mean run 3; run 0 has 6 used blocks
  // after it (d = 0.5), run 1 has 2 (d = 1/6); sigma = 0.5.
  // F_spatial = 1/2 * (1/9 * e^-2 + 1/9 * e^(-2/3)) = 0.0360418
  const auto bits = bitmap(12, {{0, 2}, {6, 4}});
  const FreeRunSummary s = summarize_free_runs(bits, 12, 0.5);
  CHECK(s.num_runs == 2);
  CHECK(s.largest == 4);
  CHECK(s.total == 6);
  CHECK(s.f_spatial == doctest::Approx(0.0360418).epsilon(1e-6));
  const std::vector<FreeRun> runs = {{0, 2}, {6, 4}};
  CHECK(spatial_fragmentation(runs, 12, 0.5) == doctest::Approx(0.0360418).epsilon(1e-6));
  const PoolMetrics m = measure_pool(PoolStats{4, 12, 6}, s, temporal_at(0), FragmentationParams{});
  CHECK(m.external_fragmentation == doctest::Approx(1.0 / 3.0));
}

TEST_CASE("one free run, or runs of equal length, have no spatial fragmentation") {
  CHECK(summarize_free_runs(bitmap(64, {{10, 20}}), 64, 0.5).f_spatial == doctest::Approx(0.0));
  CHECK(summarize_free_runs(bitmap(64, {{0, 4}, {10, 4}, {40, 4}}), 64, 0.5).f_spatial ==
        doctest::Approx(0.0));
}

TEST_CASE("the one-pass F_spatial agrees with the direct formula on random pools") {
  Rng rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const auto n = static_cast<int32_t>(rng.uniform_int(1, 300));
    std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
    for (int32_t b = 0; b < n; ++b) {
      if (rng.uniform01() < 0.4) bits[static_cast<size_t>(b / 64)] |= 1ull << (b % 64);
    }
    const FreeRunSummary s = summarize_free_runs(bits, n, 0.5);
    const auto runs = free_runs(bits, n);
    CHECK(s.num_runs == static_cast<int32_t>(runs.size()));
    CHECK(s.f_spatial == doctest::Approx(spatial_fragmentation(runs, n, 0.5)).epsilon(1e-9));
  }
}

TEST_CASE("F_temporal is a geometrically weighted mean of per-step churn") {
  TemporalFragmentation t(0.9);
  CHECK(t.update(10, 20) == doctest::Approx(0.05));    // D = 0.5
  CHECK(t.update(0, 20) == doctest::Approx(0.045));    // D = 0
  CHECK(t.update(20, 10) == doctest::Approx(0.2405));  // D = 2
}

TEST_CASE("F_access is zero with one tier and hand-computed with a 90/10 split") {
  const FragmentationParams p;  // latencies 1 and 80
  CHECK(access_fragmentation(100, 0, p) == 0.0);
  CHECK(access_fragmentation(0, 0, p) == 0.0);
  CHECK(access_fragmentation(90, 10, p) == doctest::Approx(2.2170751).epsilon(1e-6));
}

TEST_CASE("F_total weighs its three terms") {
  FragmentationParams p;
  p.a = 0.5;
  p.b = 0.3;
  p.c = 0.2;
  PoolStats s{4, 12, 6};
  s.cpu_used_blocks = 0;
  const FreeRunSummary runs = summarize_free_runs(bitmap(12, {{0, 2}, {6, 4}}), 12, 0.5);
  const PoolMetrics m = measure_pool(s, runs, temporal_at(0.4), p);
  CHECK(m.f_total == doctest::Approx(0.5 * 0.0360418 + 0.3 * 0.4).epsilon(1e-6));
  s.used_blocks = 9;
  s.cpu_used_blocks = 1;
  const PoolMetrics m2 = measure_pool(s, runs, temporal_at(0), p);
  CHECK(m2.f_access == doctest::Approx(2.2170751).epsilon(1e-6));
}

TEST_CASE("the normalized F_total divides each term by its bound and stays in [0, 1]") {
  FragmentationParams p;
  PoolStats s{4, 12, 6};
  const FreeRunSummary runs = summarize_free_runs(bitmap(12, {{0, 2}, {6, 4}}), 12, 0.5);
  // Two runs: F_spatial / (2 - 1); churn 0.4 of 1000 references after none; no CPU tier.
  const PoolMetrics m = measure_pool(s, runs, temporal_at(0.4), p);
  CHECK(m.f_total_norm == doctest::Approx(0.5 * 0.0360418 + 0.3 * 0.4).epsilon(1e-6));
  // F_access's bound for latencies 1 and 80, found by brute force.
  double best = 0;
  for (int g = 1; g < 100000; ++g) best = std::max(best, access_fragmentation(g, 100000 - g, p));
  CHECK(max_access_fragmentation(p) == doctest::Approx(best).epsilon(1e-6));
  s.used_blocks = 9;
  s.cpu_used_blocks = 1;
  const PoolMetrics m2 = measure_pool(s, runs, temporal_at(0), p);
  CHECK(m2.f_total_norm == doctest::Approx(0.5 * 0.0360418 + 0.2 * 2.2170751 / best).epsilon(1e-6));
  // docs/metrics.md's worked example: F_temporal 0.05 from D = 0.5 after nothing.
  TemporalFragmentation worked(0.9);
  worked.update(10, 20);
  CHECK(measure_pool(s, runs, worked, p).f_total_norm == doctest::Approx(0.2085).epsilon(1e-3));
  // Whatever the pool, the churn and the tiers: at most 1, while F_total is unbounded.
  Rng rng(11);
  double largest_f_total = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const auto n = static_cast<int32_t>(rng.uniform_int(2, 400));
    std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
    int32_t available = 0;
    for (int32_t b = 0; b < n; ++b) {
      if (rng.uniform01() < rng.uniform01()) {
        bits[static_cast<size_t>(b / 64)] |= 1ull << (b % 64);
        ++available;
      }
    }
    PoolStats st{4, n, n - available};
    st.cpu_used_blocks = static_cast<int32_t>(rng.uniform_int(0, 50));
    TemporalFragmentation t(0.5);
    for (int k = 0; k < 5; ++k) t.update(rng.uniform_int(0, 5000), rng.uniform_int(0, 100));
    const PoolMetrics pm = measure_pool(st, summarize_free_runs(bits, n, 0.5), t, p);
    CHECK(pm.f_total_norm >= 0.0);
    CHECK(pm.f_total_norm <= 1.0);
    largest_f_total = std::max(largest_f_total, pm.f_total);
  }
  CHECK(largest_f_total > 1.0);
}

TEST_CASE("the tabulated free-run meter agrees with the direct computation") {
  Rng rng(9);
  for (int trial = 0; trial < 100; ++trial) {
    const auto n = static_cast<int32_t>(rng.uniform_int(1, 500));
    std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
    int64_t available = 0;
    for (int32_t b = 0; b < n; ++b) {
      if (rng.uniform01() < 0.5) {
        bits[static_cast<size_t>(b / 64)] |= 1ull << (b % 64);
        ++available;
      }
    }
    FreeRunMeter meter(n, 0.5);
    const FreeRunSummary a = meter.measure(bits, available), b = summarize_free_runs(bits, n, 0.5);
    CHECK(a.num_runs == b.num_runs);
    CHECK(a.largest == b.largest);
    CHECK(a.total == b.total);
    CHECK(a.f_spatial == doctest::Approx(b.f_spatial).epsilon(1e-9));
  }
}

TEST_CASE("the chunked free-run meter follows a pool that changes step after step") {
  Rng rng(13);
  for (int32_t n : {1, 63, 64, 4095, 4096, 4097, 9000, 20000}) {
    CAPTURE(n);
    std::vector<uint64_t> bits(static_cast<size_t>((n + 63) / 64), 0);
    int64_t available = 0;
    auto flip = [&](int32_t b) {
      uint64_t& word = bits[static_cast<size_t>(b / 64)];
      const uint64_t bit = 1ull << (b % 64);
      available += (word & bit) ? -1 : 1;
      word ^= bit;
    };
    for (int32_t b = 0; b < n; ++b) {
      if (rng.uniform01() < 0.7) flip(b);
    }
    FreeRunMeter meter(n, 0.5);
    for (int step = 0; step < 40; ++step) {
      const FreeRunSummary a = meter.measure(bits, available),
                           b = summarize_free_runs(bits, n, 0.5);
      REQUIRE(a.num_runs == b.num_runs);
      REQUIRE(a.largest == b.largest);
      REQUIRE(a.total == b.total);
      REQUIRE(a.f_spatial == doctest::Approx(b.f_spatial).epsilon(1e-9));
      // A few local changes, sometimes a whole region.
      const int changes = static_cast<int>(rng.uniform_int(0, 5));
      for (int i = 0; i < changes; ++i)
        flip(static_cast<int32_t>(rng.below(static_cast<uint64_t>(n))));
      if (step % 10 == 9) {
        const auto from = static_cast<int32_t>(rng.below(static_cast<uint64_t>(n)));
        for (int32_t block = from; block < std::min(n, from + 5000); ++block) {
          if (!((bits[static_cast<size_t>(block / 64)] >> (block % 64)) & 1)) flip(block);
        }
      }
    }
  }
}
