#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/execution/reference_executor.h"
#include "tests/core/plan_fixture.h"

using namespace tinyserve;
using tinyserve::testing::PlanFixture;

namespace {

KvGeometry small_geometry(DType t, int32_t heads, int32_t kv_heads, int32_t block_size) {
  KvGeometry g;
  g.num_layers = 2;
  g.num_heads = heads;
  g.num_kv_heads = kv_heads;
  g.head_dim = 64;
  g.block_size = block_size;
  g.dtype = t;
  g.num_gpu_blocks = 64;
  g.num_cpu_blocks = 24;
  g.seed = 99;
  return g;
}

}  // namespace

TEST_CASE("the CPU executor's attention equals attention recomputed from each token list") {
  for (DType t : kExecutorDTypes) {
    for (int32_t bs : {4, 16}) {
      CAPTURE(dtype_name(t));
      CAPTURE(bs);
      const KvGeometry g = small_geometry(t, 4, 2, bs);
      auto created = ReferenceExecutor::create(g);
      REQUIRE(created.ok());
      ReferenceExecutor& ex = *created.value;
      PlanFixture fixture(g, 5 + static_cast<uint64_t>(bs));
      int32_t checked = 0, prefill_queries = 0;
      size_t copies = 0, swaps_in = 0, swaps_out = 0;
      for (int step = 0; step < 25; ++step) {
        const StepPlan plan = fixture.next();
        copies += plan.copies.size();
        swaps_in += plan.swap_in.size();
        swaps_out += plan.swap_out.size();
        prefill_queries += plan.num_prefill_queries();
        const StepResult r = ex.execute(plan);
        REQUIRE_MESSAGE(r.ok(), r.status.error);
        CHECK(r.stages_applied == 5);
        CHECK(r.times.attention_ms == r.times.prefill_attention_ms + r.times.decode_attention_ms);
        const auto out = ex.read_output();
        REQUIRE(out.ok());
        const size_t per_query = static_cast<size_t>(g.num_heads) * g.head_dim;
        const auto queries = static_cast<size_t>(plan.num_queries());
        REQUIRE(out.value.size() == per_query * queries * g.num_layers);
        for (int32_t l = 0; l < g.num_layers; ++l) {
          const std::vector<double> exact = fixture.exact_step_attention(l);
          REQUIRE(exact.size() == per_query * queries);
          for (size_t i = 0; i < queries; ++i) {
            const float* got = out.value.data() + (l * queries + i) * per_query;
            CAPTURE(step);
            CAPTURE(i);
            CHECK(testing::relative_error(got, exact.data() + i * per_query, per_query) <
                  testing::tolerance(t) * 0.5);
            ++checked;
          }
        }
      }
      CHECK(checked > 200);
      CHECK(prefill_queries > 50);
      CHECK(fixture.partial_chunks() > 0);
      CHECK(fixture.prefix_hits() > 0);
      CHECK(fixture.mixed_steps() > 0);
      CHECK(copies > 0);
      CHECK(swaps_in > 0);
      CHECK(swaps_out > 0);
    }
  }
}

TEST_CASE("the CPU executor quantizes fp8 pools with per-KV-head scales") {
  for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
    CAPTURE(dtype_name(t));
    KvGeometry g = small_geometry(t, 6, 3, 8);
    g.k_head_scales = {0.004f, 0.01f, 0.5f};
    g.v_head_scales = {0.3f, 0.002f, 0.0625f};
    auto created = ReferenceExecutor::create(g);
    REQUIRE(created.ok());
    ReferenceExecutor& ex = *created.value;
    PlanFixture fixture(g, 8);
    for (int step = 0; step < 10; ++step) {
      const StepPlan plan = fixture.next();
      REQUIRE(ex.execute(plan).ok());
      const auto out = ex.read_output();
      REQUIRE(out.ok());
      const size_t per_query = static_cast<size_t>(g.num_heads) * g.head_dim;
      const std::vector<double> exact = fixture.exact_step_attention(0);
      for (int32_t i = 0; i < plan.num_queries(); ++i) {
        CAPTURE(step);
        CAPTURE(i);
        CHECK(testing::relative_error(out.value.data() + i * per_query,
                                      exact.data() + i * per_query,
                                      per_query) < testing::tolerance(t) * 0.5);
      }
    }
    // Head 2's keys, stored with scale 0.5, use only the bottom of the range: all below 2 in
    // magnitude, where head 0's (scale 0.004) reach past 200.
    float max_head[3] = {};
    for (BlockId b = 0; b < g.num_gpu_blocks; ++b) {
      const BlockData data = ex.read_block(Pool::kGpu, 0, b).value;
      for (size_t i = 0; i < data.k.size(); ++i) {
        const auto h = static_cast<size_t>(i / (g.block_size * g.head_dim));
        max_head[h] = std::max(max_head[h],
                               std::abs(load_element(data.k.data(), t, static_cast<int64_t>(i))));
      }
    }
    CHECK(max_head[2] <= 2.0f);
    CHECK(max_head[0] > 200.0f);
  }
}

TEST_CASE("a swapped-out block comes back bit-exact") {
  const KvGeometry g = small_geometry(DType::kBF16, 4, 4, 8);
  auto ex = std::move(ReferenceExecutor::create(g).value);
  StepPlan fill;
  fill.block_size = g.block_size;
  for (int32_t i = 0; i < 16; ++i) {
    fill.slot_mapping.push_back(3 * 8 + i);  // blocks 3 and 4
    fill.new_tokens.push_back(100 + i);
    fill.new_positions.push_back(i);
  }
  REQUIRE(ex->execute(fill).ok());
  const BlockData before = ex->read_block(Pool::kGpu, 1, 4).value;
  StepPlan out;
  out.block_size = g.block_size;
  out.swap_out = {{4, 7}};
  out.copies = {{3, 4}};  // overwrite the swapped block on the GPU
  REQUIRE(ex->execute(out).ok());
  CHECK(ex->read_block(Pool::kCpu, 1, 7).value.k == before.k);
  CHECK(ex->read_block(Pool::kGpu, 1, 4).value.k != before.k);
  StepPlan back;
  back.block_size = g.block_size;
  back.swap_in = {{7, 9}};
  REQUIRE(ex->execute(back).ok());
  const BlockData after = ex->read_block(Pool::kGpu, 1, 9).value;
  CHECK(after.k == before.k);
  CHECK(after.v == before.v);
}

TEST_CASE("an invalid plan is refused and changes nothing") {
  const KvGeometry g = small_geometry(DType::kF16, 4, 2, 8);
  auto ex = std::move(ReferenceExecutor::create(g).value);
  StepPlan fill;
  fill.block_size = g.block_size;
  fill.slot_mapping = {0, 1, 2};
  fill.new_tokens = {5, 6, 7};
  fill.new_positions = {0, 1, 2};
  REQUIRE(ex->execute(fill).ok());
  const BlockData before = ex->read_block(Pool::kGpu, 0, 0).value;
  StepPlan bad;
  bad.block_size = g.block_size;
  bad.copies = {{0, 1}};
  bad.slot_mapping = {3, 4000};
  bad.new_tokens = {1, 2};
  bad.new_positions = {3, 4};
  const StepResult r = ex->execute(bad);
  CHECK_FALSE(r.ok());
  CHECK(r.stages_applied == 0);
  CHECK(r.status.error.find("4000") != std::string::npos);
  CHECK(ex->read_block(Pool::kGpu, 0, 0).value.k == before.k);
  CHECK(ex->read_block(Pool::kGpu, 0, 1).value.k != before.k);
}

TEST_CASE("the CPU executor refuses pools over its memory limit and bad geometries") {
  KvGeometry g = small_geometry(DType::kF32, 4, 4, 16);
  g.num_gpu_blocks = 1 << 20;
  const auto r = ReferenceExecutor::create(g);
  CHECK_FALSE(r.ok());
  CHECK(r.status.error.find("bytes") != std::string::npos);
  g.num_gpu_blocks = 4;
  g.head_dim = 80;
  CHECK_FALSE(ReferenceExecutor::create(g).ok());
}
