#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "core/execution/key_bounds.h"
#include "core/execution/reference_executor.h"
#include "core/execution/selection.h"
#include "core/execution/selection_accuracy.h"
#include "tests/core/plan_fixture.h"
#include "tests/core/selection_fixture.h"

using namespace tinyserve;
using tinyserve::testing::PlanFixture;
using tinyserve::testing::RandomSelectionProblem;

namespace {

// The pool dtypes whose key bounds the executors keep (fp8 pools: not yet).
constexpr DType kBoundDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

KvGeometry selection_geometry(DType t, int32_t heads, int32_t kv_heads, int32_t block_size,
                              SyntheticPattern pattern) {
  KvGeometry g;
  g.num_layers = 2;
  g.num_heads = heads;
  g.num_kv_heads = kv_heads;
  g.head_dim = 64;
  g.block_size = block_size;
  g.dtype = t;
  g.num_gpu_blocks = 64;
  g.num_cpu_blocks = 24;
  g.seed = 7;
  g.synthetic = pattern;
  g.key_bounds = true;
  return g;
}

}  // namespace

TEST_CASE("a selection keeps every block when the budget covers the context, else the budget's") {
  SelectionSettings s;
  s.budget_tokens = 64;
  CHECK(selected_block_count(s, 1, 16) == 1);
  CHECK(selected_block_count(s, 64, 16) == 4);
  CHECK(selected_block_count(s, 65, 16) == 4);
  CHECK(selected_block_count(s, 1000, 16) == 4);
  s.budget_tokens = 8;  // under two blocks: still the first and the last
  CHECK(selected_block_count(s, 1000, 16) == 2);
  s.budget_tokens = 0;
  s.budget_ratio = 0.25f;
  CHECK(selected_block_count(s, 1024, 16) == 16);
  CHECK(selected_block_count(s, 1025, 16) == 17);  // ceil(256.25) = 257 tokens -> 17 blocks

  const std::vector<int32_t> lens = {1, 40, 1000};
  s.budget_tokens = 32;
  const SelectionPlan plan = plan_selection(s, lens, 16);
  CHECK(plan.counts == std::vector<int32_t>{1, 2, 2});
  // Sequence 2 reads block 0 and its last block, which holds 1000 - 62 * 16 = 8 tokens.
  CHECK(plan.context_lens == std::vector<int32_t>{1, 40 - 16, 16 + 8});
  CHECK(plan.max_selected == 2);
  CHECK(plan.blocks_total == 1 + 3 + 63);
  CHECK(plan.blocks_selected == 1 + 2 + 2);
  CHECK(plan.tokens_total == 1041);
}

TEST_CASE("block writes group a step's slots by block with the first and last offset written") {
  const std::vector<int64_t> slots = {35, -1, 3, 33, 34, 0, 1, 2, 16};
  const std::vector<BlockWrite> w = block_writes(slots, 16);
  REQUIRE(w.size() == 3);
  CHECK((w[0].block == 0 && w[0].first == 0 && w[0].last == 3));
  CHECK((w[0].token_begin == 2 && w[0].token_end == 8));
  CHECK((w[1].block == 1 && w[1].first == 0 && w[1].last == 0));
  CHECK((w[1].token_begin == 8 && w[1].token_end == 9));
  CHECK((w[2].block == 2 && w[2].first == 1 && w[2].last == 3));
  CHECK((w[2].token_begin == 0 && w[2].token_end == 5));
}

TEST_CASE("a block bound is an upper bound of q.k over the block and adds up as documented") {
  Rng rng(3);
  for (DType t : kBoundDTypes) {
    for (int32_t d : {64, 128, 256}) {
      CAPTURE(dtype_name(t));
      CAPTURE(d);
      const int32_t bs = 8;
      std::vector<uint8_t> k(static_cast<size_t>(bs * d * dtype_size(t)));
      PagedKv cache{k.data(), nullptr, t, 1, 1, 1, bs, d, {}};
      for (int32_t i = 0; i < bs * d; ++i)
        store_element(k.data(), t, i, static_cast<float>(rng.normal()));
      std::vector<uint8_t> b(static_cast<size_t>(2 * d * dtype_size(t)));
      KeyBounds bounds{b.data(), t, 1, 1, 1, d};
      const std::vector<BlockWrite> all = {{0, 0, bs - 1}};
      update_key_bounds_reference(cache, bounds, all);
      std::vector<float> q(static_cast<size_t>(d));
      for (float& x : q) x = round_to(t, static_cast<float>(rng.normal()));
      const float bound = block_bound(q.data(), bounds, 0, 0);
      double exact = 0.0;
      for (int32_t i = 0; i < d; ++i) {
        const double lo = load_element(b.data(), t, i), hi = load_element(b.data(), t, d + i);
        exact += std::max(q[i] * lo, q[i] * hi);
      }
      CHECK(std::abs(bound - exact) <= 1e-5 * std::max(1.0, std::abs(exact)));
      for (int32_t r = 0; r < bs; ++r) {
        double dot = 0.0;
        for (int32_t i = 0; i < d; ++i) dot += q[i] * load_element(k.data(), t, r * d + i);
        CHECK(dot <= exact + 1e-9);
      }
    }
  }
}

TEST_CASE("block scores combine a group's heads by max or sum and stop at each sequence's end") {
  const RandomSelectionProblem p(DType::kF16, 8, 2, 64, 16, {33, 100}, 11, false);
  for (GroupScore rule : {GroupScore::kMax, GroupScore::kSum}) {
    const std::vector<float> scores =
        block_scores_reference(p.key_bounds, p.batch, 16, DType::kF16, rule);
    const int32_t width = p.batch.max_blocks_per_seq;
    for (int32_t b = 0; b < 2; ++b) {
      const int32_t blocks = (p.lens[b] + 15) / 16;
      for (int32_t kv = 0; kv < 2; ++kv) {
        for (int32_t j = 0; j < width; ++j) {
          const float got = scores[(b * 2 + kv) * width + j];
          if (j >= blocks) {
            CHECK(std::isinf(got));
            continue;
          }
          float combined = 0.0f;
          for (int32_t g = 0; g < 4; ++g) {
            std::vector<float> q(64);
            for (int32_t i = 0; i < 64; ++i) {
              q[i] = load_element(p.q.data(), DType::kF16, ((b * 8) + kv * 4 + g) * 64 + i);
            }
            const float s = block_bound(q.data(), p.key_bounds, p.tables[b * width + j], kv);
            combined = g == 0 ? s : rule == GroupScore::kMax ? std::max(combined, s) : combined + s;
          }
          CHECK(got == combined * p.batch.scale);
        }
      }
    }
  }
}

TEST_CASE("top-K keeps the first and last block and prefers the lower block among equal scores") {
  // One sequence of 8 blocks and one KV head with hand-made scores.
  std::vector<int32_t> table = {70, 71, 72, 73, 74, 75, 76, 77};
  std::vector<int32_t> lens = {8 * 16 - 3};
  DecodeBatch batch;
  batch.block_tables = table.data();
  batch.context_lens = lens.data();
  batch.batch = 1;
  batch.num_heads = 1;
  batch.max_blocks_per_seq = 8;
  const std::vector<float> scores = {-9.0f, 1.0f, 5.0f, 3.0f, 5.0f, 3.0f, 3.0f, -9.0f};
  SelectionSettings s;
  s.budget_tokens = 4 * 16;
  const SelectionPlan plan = plan_selection(s, lens, 16);
  const BlockSelection sel = select_blocks_reference(scores, batch, 1, 16, plan);
  CHECK(sel.logical == std::vector<int32_t>{0, 2, 4, 7});
  CHECK(sel.block_tables == std::vector<int32_t>{70, 72, 74, 77});
  s.budget_tokens = 5 * 16;  // one of the three 3.0s: the lowest, block 3
  const BlockSelection five =
      select_blocks_reference(scores, batch, 1, 16, plan_selection(s, lens, 16));
  CHECK(five.logical == std::vector<int32_t>{0, 2, 3, 4, 7});
  CHECK(five.context_lens == std::vector<int32_t>{4 * 16 + 13});
}

TEST_CASE("the top-K reference picks the best-scoring blocks on random and tied scores") {
  for (bool coarse : {false, true}) {
    const RandomSelectionProblem p(DType::kBF16, 16, 4, 128, 8, {7, 8, 9, 200, 777, 1500},
                                   5 + coarse, coarse);
    const std::vector<float> scores =
        block_scores_reference(p.key_bounds, p.batch, 8, DType::kBF16, GroupScore::kMax);
    SelectionSettings s;
    s.budget_tokens = 120;
    const SelectionPlan plan = plan_selection(s, p.lens, 8);
    const BlockSelection sel = select_blocks_reference(scores, p.batch, 4, 8, plan);
    const int32_t width = p.batch.max_blocks_per_seq;
    int64_t ties = 0;
    for (int32_t b = 0; b < p.batch.batch; ++b) {
      const int32_t blocks = (p.lens[b] + 7) / 8;
      for (int32_t kv = 0; kv < 4; ++kv) {
        const float* row = scores.data() + (b * 4 + kv) * width;
        const int32_t* chosen = sel.logical.data() + sel.row(b, kv);
        const int32_t count = sel.counts[b];
        CHECK(std::is_sorted(chosen, chosen + count));
        CHECK(chosen[0] == 0);
        CHECK(chosen[count - 1] == blocks - 1);
        for (int32_t i = count; i < sel.max_selected; ++i) CHECK(chosen[i] == -1);
        // No unchosen middle block beats a chosen one, nor ties it from a lower position.
        for (int32_t j = 1; j < blocks - 1; ++j) {
          if (std::binary_search(chosen, chosen + count, j)) continue;
          for (int32_t i = 0; i < count; ++i) {
            const int32_t c = chosen[i];
            if (c == 0 || c == blocks - 1) continue;
            CHECK(row[j] <= row[c]);
            if (row[j] == row[c]) {
              CHECK(j > c);
              ++ties;
            }
          }
        }
        for (int32_t i = 0; i < count; ++i) {
          CHECK(sel.block_tables[sel.row(b, kv) + i] == p.tables[b * width + chosen[i]]);
        }
      }
    }
    if (coarse) CHECK(ties > 0);
  }
}

TEST_CASE("paged reference attention reads each KV head's own blocks with per-head tables") {
  Rng rng(8);
  const int32_t bs = 4, d = 64, kv_heads = 2, heads = 4, blocks = 6;
  PagedKv cache{nullptr, nullptr, DType::kF32, 1, blocks, kv_heads, bs, d, {}};
  std::vector<float> k(static_cast<size_t>(cache.layer_elements())), v(k.size());
  for (float& x : k) x = static_cast<float>(rng.normal());
  for (float& x : v) x = static_cast<float>(rng.normal());
  cache.k = k.data();
  cache.v = v.data();
  std::vector<float> q(static_cast<size_t>(heads * d));
  for (float& x : q) x = static_cast<float>(rng.normal());
  std::vector<float> out(q.size());
  // KV head 0 reads blocks 5, 1; KV head 1 reads blocks 2, 4; 7 tokens each.
  const std::vector<int32_t> per_head = {5, 1, 2, 4};
  const std::vector<int32_t> lens = {7};
  DecodeBatch sparse;
  sparse.q = q.data();
  sparse.out = out.data();
  sparse.block_tables = per_head.data();
  sparse.context_lens = lens.data();
  sparse.batch = 1;
  sparse.num_heads = heads;
  sparse.max_blocks_per_seq = 2;
  sparse.max_context_len = 7;
  sparse.scale = attention_scale(d);
  sparse.table_head_stride = 2;
  const std::vector<double> got = paged_attention_f64(cache, sparse);
  for (int32_t kv = 0; kv < kv_heads; ++kv) {
    DecodeBatch shared = sparse;
    shared.table_head_stride = 0;
    shared.block_tables = per_head.data() + 2 * kv;
    const std::vector<double> want = paged_attention_f64(cache, shared);
    for (int32_t h = kv * 2; h < kv * 2 + 2; ++h) {
      for (int32_t i = 0; i < d; ++i) CHECK(got[h * d + i] == want[h * d + i]);
    }
  }
}

TEST_CASE("key bounds kept through prefill, decode, copy-on-write and swaps equal each block's") {
  for (SyntheticPattern pattern : {SyntheticPattern::kUniform, SyntheticPattern::kStructured}) {
    for (DType t : kBoundDTypes) {
      CAPTURE(dtype_name(t));
      const KvGeometry g = selection_geometry(t, 4, 2, 8, pattern);
      auto created = ReferenceExecutor::create(g);
      REQUIRE_MESSAGE(created.ok(), created.status.error);
      auto ex = std::move(created.value);
      PlanFixture fixture(g, 21);
      size_t copies = 0, swaps = 0, checked = 0;
      for (int step = 0; step < 30; ++step) {
        const StepPlan plan = fixture.next();
        copies += plan.copies.size();
        swaps += plan.swap_in.size() + plan.swap_out.size();
        const StepResult r = ex->execute(plan);
        REQUIRE_MESSAGE(r.ok(), r.status.error);
        for (const PlanFixture::Seq& s : fixture.seqs()) {
          const auto len = static_cast<int32_t>(s.tokens.size());
          const PagedKv pool = s.swapped ? ex->cpu_pool() : ex->gpu_pool();
          const KeyBounds bounds = s.swapped ? ex->cpu_bounds() : ex->gpu_bounds();
          for (int32_t l = 0; l < g.num_layers; ++l) {
            for (size_t j = 0; j < s.blocks.size(); ++j) {
              const auto filled =
                  std::min<int32_t>(g.block_size, len - static_cast<int32_t>(j) * g.block_size);
              if (filled <= 0) continue;
              const std::vector<float> want = key_bounds_of(pool.layer(l), s.blocks[j], filled);
              const KeyBounds layer = bounds.layer(l);
              for (size_t i = 0; i < want.size(); ++i) {
                const int64_t at = layer.index(s.blocks[j], 0, 0, 0) + static_cast<int64_t>(i);
                REQUIRE(load_element(layer.data, layer.dtype, at) == want[i]);
              }
              ++checked;
            }
          }
        }
      }
      CHECK(checked > 100);
      CHECK(copies > 0);
      CHECK(swaps > 0);
    }
  }
}

TEST_CASE("with selection on, the CPU executor attends to the selected blocks of each KV head") {
  for (DType t : kBoundDTypes) {
    for (GroupScore rule : {GroupScore::kMax, GroupScore::kSum}) {
      CAPTURE(dtype_name(t));
      const KvGeometry g = selection_geometry(t, 8, 2, 4, SyntheticPattern::kStructured);
      auto created = ReferenceExecutor::create(g);
      REQUIRE_MESSAGE(created.ok(), created.status.error);
      auto ex = std::move(created.value);
      PlanFixture fixture(g, 33);
      int32_t sparse_rows = 0;
      for (int step = 0; step < 25; ++step) {
        StepPlan plan = fixture.next();
        plan.selection.budget_tokens = 12;  // three blocks of 4
        plan.selection.group_score = rule;
        const StepResult r = ex->execute(plan);
        REQUIRE_MESSAGE(r.ok(), r.status.error);
        if (plan.num_decodes() == 0) {
          CHECK_FALSE(r.selection.active);
          continue;
        }
        CHECK(r.selection.active);
        CHECK(r.selection.blocks_read <= r.selection.blocks_total);
        CHECK(r.selection.bytes_selected <= r.selection.bytes_full);
        const auto out = ex->read_output();
        REQUIRE(out.ok());
        const size_t per_query = static_cast<size_t>(g.num_heads) * g.head_dim;
        for (int32_t l = 0; l < g.num_layers; ++l) {
          const BlockSelection& sel = ex->last_selection(l);
          REQUIRE(sel.batch == plan.num_decodes());
          for (int32_t b = plan.num_prefills; b < plan.batch(); ++b) {
            const int32_t row = b - plan.num_prefills;
            const auto& seq = fixture.seqs()[fixture.entries()[b].seq];
            const auto len = static_cast<int32_t>(seq.tokens.size());
            std::vector<std::vector<int32_t>> blocks(static_cast<size_t>(g.num_kv_heads));
            for (int32_t kv = 0; kv < g.num_kv_heads; ++kv) {
              const int32_t* chosen = sel.logical.data() + sel.row(row, kv);
              blocks[kv].assign(chosen, chosen + sel.counts[row]);
            }
            const auto blocks_of_seq = static_cast<int32_t>((seq.tokens.size() + 3) / 4);
            if (sel.counts[row] < blocks_of_seq) ++sparse_rows;
            const std::vector<double> exact = fixture.exact_attention(seq, l, len - 1, 1, &blocks);
            const float* got =
                out.value.data() +
                (static_cast<size_t>(l) * plan.num_queries() + plan.query_start[b]) * per_query;
            CHECK(testing::relative_error(got, exact.data(), per_query) <
                  testing::tolerance(t) * 0.5);
          }
        }
      }
      CHECK(sparse_rows > 20);
    }
  }
}

TEST_CASE("a budget that covers every context gives full attention's output bit for bit") {
  const KvGeometry g = selection_geometry(DType::kBF16, 8, 2, 4, SyntheticPattern::kStructured);
  auto full = std::move(ReferenceExecutor::create(g).value);
  auto selected = std::move(ReferenceExecutor::create(g).value);
  PlanFixture fixture(g, 41);
  for (int step = 0; step < 15; ++step) {
    StepPlan plan = fixture.next();
    REQUIRE(full->execute(plan).ok());
    plan.selection.budget_tokens = 1 << 20;
    const StepResult r = selected->execute(plan);
    REQUIRE(r.ok());
    CHECK(r.selection.blocks_read == r.selection.blocks_total);
    CHECK(full->read_output().value == selected->read_output().value);
  }
}

TEST_CASE("a plan asking for selection needs key bounds and a sane budget") {
  KvGeometry g = selection_geometry(DType::kF16, 4, 2, 8, SyntheticPattern::kUniform);
  g.key_bounds = false;
  StepPlan plan;
  plan.block_size = g.block_size;
  plan.selection.budget_tokens = 64;
  CHECK(validate_plan(g, plan).error.find("key bounds") != std::string::npos);
  g.key_bounds = true;
  CHECK(validate_plan(g, plan).ok());
  g.dtype = DType::kFp8E4M3;  // not yet: key bounds of fp8 pools
  CHECK(g.validate().error.find("not supported yet") != std::string::npos);
  g.dtype = DType::kF16;
  plan.selection.budget_tokens = 0;
  plan.selection.budget_ratio = 1.5f;
  CHECK_FALSE(validate_plan(g, plan).ok());
  plan.selection.budget_ratio = -0.5f;
  CHECK_FALSE(validate_plan(g, plan).ok());
}

TEST_CASE("the structured synthetic K/V adds position structure on top of the uniform values") {
  const SyntheticSpec uniform{9, SyntheticPattern::kUniform, 128, 4};
  const SyntheticSpec structured{9, SyntheticPattern::kStructured, 128, 4};
  const uint64_t row = synthetic_row(9, SyntheticKind::kKey, 5, 3, 1, 2);
  for (int32_t i = 0; i < 128; ++i) {
    CHECK(synthetic_element(uniform, row, SyntheticKind::kKey, 3, 1, 2, i) ==
          synthetic_value(row, i));
  }
  // Sinks: the first tokens' sink dims, every query's.
  CHECK(synthetic_structure(structured, SyntheticKind::kKey, 3, 1, 2, 0) == 4.0f);
  CHECK(synthetic_structure(structured, SyntheticKind::kKey, 4, 1, 2, 0) == 0.0f);
  CHECK(synthetic_structure(structured, SyntheticKind::kQuery, 9000, 1, 5, 7) == 3.5f);
  CHECK(synthetic_structure(structured, SyntheticKind::kValue, 3, 1, 2, 0) == 0.0f);
  // The planted span of a region holds the region's code; outside it nothing.
  const int32_t start = structured_span_start(9, 1, 2, 3);
  CHECK(start >= 3 * StructuredKv::kTopicRegion);
  CHECK(start + StructuredKv::kTopicSpan <= 4 * StructuredKv::kTopicRegion);
  const int32_t topic_dim = 9 * 128 / 16;
  CHECK(std::abs(synthetic_structure(structured, SyntheticKind::kKey, start, 1, 2, topic_dim)) ==
        4.0f);
  CHECK(synthetic_structure(structured, SyntheticKind::kKey, start - 1, 1, 2, topic_dim) == 0.0f);
  // A query targets a region wholly before its own, and none in the first region.
  CHECK(structured_target_region(9, 1, 5, 4000) == -1);
  for (int32_t p : {4096, 10000, 40000, 131071}) {
    const int32_t r = structured_target_region(9, 1, 5, p);
    CHECK(r >= 0);
    CHECK(r < p / StructuredKv::kTopicRegion);
  }
  // Its topic dims carry that region's code at half weight: aligned with the span's keys.
  const int32_t p = 40000;
  const int32_t r = structured_target_region(9, 1, 5, p);
  double dot = 0.0;
  for (int32_t i = topic_dim; i < 15 * 128 / 16; ++i) {
    dot += synthetic_structure(structured, SyntheticKind::kQuery, p, 1, 5, i) *
           synthetic_structure(structured, SyntheticKind::kKey,
                               structured_span_start(9, 1, 5 / 4, r), 1, 5 / 4, i);
  }
  CHECK(dot == 48 * 4 * 0.5);
}

TEST_CASE(
    "on structured K/V at 32k the needles are found at budget 1024 and recall passes 95% at 2048") {
  AccuracyOptions o;
  o.geometry.num_heads = 32;
  o.geometry.num_kv_heads = 8;
  o.geometry.head_dim = 128;
  o.geometry.block_size = 16;
  o.geometry.dtype = DType::kF16;
  o.geometry.seed = 4;
  o.geometry.synthetic = SyntheticPattern::kStructured;
  o.contexts = {32768};
  o.budgets = {1024, 2048};
  o.rules = {GroupScore::kMax};
  o.samples = 2;
  const std::vector<AccuracyPoint> points = measure_selection_accuracy(o);
  REQUIRE(points.size() == 2);
  CHECK(points[0].needles == 2 * 32);
  CHECK(points[0].found == points[0].needles);
  CHECK(points[1].recall >= 0.95);
  CHECK(points[1].output_error < points[0].output_error);
  // On the uniform pattern attention is spread over every block: the same budget loses most of
  // the output.
  o.geometry.synthetic = SyntheticPattern::kUniform;
  o.contexts = {8192};
  o.budgets = {1024};
  o.samples = 1;
  const AccuracyPoint uniform = measure_selection_accuracy(o)[0];
  MESSAGE("uniform K/V, 8k, budget 1024: recall ", uniform.recall, ", output error ",
          uniform.output_error);
  CHECK(uniform.needles == 0);
  CHECK(uniform.output_error > 0.5);
}
