// The scheduler's decisions on hand-built cases, driven through the engine.
#include <doctest/doctest.h>

#include "core/scheduling/scheduler.h"
#include "tests/core/engine_helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

TEST_CASE("requests are admitted in arrival order once they have arrived") {
  auto e = make_engine(small_engine(64), {req(0, 8, 3, 0.0), req(1, 8, 3, 1.0)});
  e->step();
  CHECK(count_events(*e, EventKind::kAdmit, 0) == 1);
  CHECK(e->last().waiting == 0);
  while (e->scheduler().running().size() > 0) e->step();  // request 0 finishes at 30 ms
  CHECK(e->now() == doctest::Approx(0.03));
  e->step();  // nothing runs: the clock jumps to the next arrival
  CHECK(count_events(*e, EventKind::kAdmit, 1) == 1);
  CHECK(e->now() == doctest::Approx(1.01));
}

TEST_CASE("a long prompt is prefilled in chunks of the token budget") {
  EngineConfig c = small_engine(128);
  c.scheduler.max_num_batched_tokens = 64;
  auto e = make_engine(c, {req(0, 150, 2)});
  e->step();
  CHECK(e->last().prefill_tokens == 64);
  CHECK(e->last().generated_tokens == 0);
  e->step();
  CHECK(e->last().prefill_tokens == 64);
  e->step();
  CHECK(e->last().prefill_tokens == 22);
  CHECK(e->last().generated_tokens == 1);  // the first token comes with the last chunk
  e->step();
  CHECK(e->last().decode_tokens == 1);
  CHECK(e->done());
  CHECK(e->summary().ttft_s.mean == doctest::Approx(0.03));
}

TEST_CASE("without chunking a prompt waits until it fits the remaining budget whole") {
  EngineConfig c = small_engine(128);
  c.scheduler.max_num_batched_tokens = 64;
  c.scheduler.chunked_prefill = false;
  auto e = make_engine(c, {req(0, 40, 2), req(1, 40, 2)});
  e->step();
  CHECK(e->last().prefill_tokens == 40);
  CHECK(e->last().waiting == 1);
  e->step();  // request 0 decodes first, then request 1's 40 tokens fit
  CHECK(e->last().decode_tokens == 1);
  CHECK(e->last().prefill_tokens == 40);
}

TEST_CASE("decodes come before new prefills and take their share of the budget") {
  EngineConfig c = small_engine(256);
  c.scheduler.max_num_batched_tokens = 32;
  auto e = make_engine(c, {req(0, 8, 10), req(1, 8, 10), req(2, 60, 2, 0.005)});
  e->step();  // both short prompts
  CHECK(e->last().prefill_tokens == 16);
  e->step();  // 2 decodes, then 30 tokens of request 2's prompt
  CHECK(e->last().decode_tokens == 2);
  CHECK(e->last().prefill_tokens == 30);
}

TEST_CASE("max_num_seqs caps the sequences running at once") {
  EngineConfig c = small_engine(256);
  c.scheduler.max_num_seqs = 2;
  auto e = make_engine(c, {req(0, 4, 5), req(1, 4, 5), req(2, 4, 5)});
  e->step();
  CHECK(e->last().running == 2);
  CHECK(e->last().waiting == 1);
}

TEST_CASE("a decode without a free slot preempts the most recently admitted request") {
  // 6 blocks of 4: two requests of 8 tokens take 2 blocks each, then grow.
  EngineConfig c = small_engine(6);
  auto e = make_engine(c, {req(0, 8, 12), req(1, 8, 12)});
  e->step();  // both admitted; request 1 is the newer
  int preempted_step = -1;
  for (int i = 0; i < 12 && !e->done(); ++i) {
    e->step();
    if (count_events(*e, EventKind::kPreemptRecompute) > 0) {
      CHECK(count_events(*e, EventKind::kPreemptRecompute, 1) == 1);
      preempted_step = i;
      break;
    }
  }
  REQUIRE(preempted_step >= 0);
  CHECK(e->last().preemptions == 1);
  CHECK(e->scheduler().waiting().size() == 1);
  CHECK(e->last().recomputed_tokens_total > 8);
  while (!e->done()) e->step();
  CHECK(e->summary().finished == 2);
}

TEST_CASE("the lowest-priority victim policy preempts the least important request") {
  EngineConfig c = small_engine(6);
  c.scheduler.victim = VictimPolicy::kLowestPriority;
  auto r0 = req(0, 8, 12), r1 = req(1, 8, 12);
  r0.priority = 5;  // less important, although admitted first
  r1.priority = 0;
  auto e = make_engine(c, {r0, r1});
  bool seen = false;
  while (!e->done() && !seen) {
    e->step();
    if (count_events(*e, EventKind::kPreemptRecompute) > 0) {
      CHECK(count_events(*e, EventKind::kPreemptRecompute, 0) == 1);
      seen = true;
    }
  }
  CHECK(seen);
}

TEST_CASE("swap preemption moves a request's blocks to the CPU pool and back") {
  EngineConfig c = small_engine(6, 4, 16);
  c.scheduler.preemption = PreemptionMode::kSwap;
  auto e = make_engine(c, {req(0, 8, 12), req(1, 8, 12)});
  bool swapped_out = false, swapped_in = false;
  while (!e->done()) {
    e->step();
    if (count_events(*e, EventKind::kPreemptSwap, 1) == 1) {
      swapped_out = true;
      CHECK(e->last().swapped == 1);
      CHECK(e->last().swapped_out_blocks > 0);
      CHECK(e->last().cpu_cache_usage > 0);
      CHECK(e->last().pool.f_access > 0);
    }
    if (count_events(*e, EventKind::kSwapIn, 1) == 1) {
      swapped_in = true;
      CHECK(e->last().swapped_in_blocks > 0);
    }
  }
  CHECK(swapped_out);
  CHECK(swapped_in);
  CHECK(e->summary().recomputed_tokens == 0);
  CHECK(e->summary().swapped_bytes > 0);
  CHECK(e->summary().finished == 2);
}

TEST_CASE("swap preemption falls back to recompute when the CPU pool is full") {
  EngineConfig c = small_engine(6, 4, 1);
  c.scheduler.preemption = PreemptionMode::kSwap;
  auto e = make_engine(c, {req(0, 8, 12), req(1, 8, 12)});
  int recomputes = 0, swaps = 0;
  while (!e->done()) {
    e->step();
    recomputes += count_events(*e, EventKind::kPreemptRecompute);
    swaps += count_events(*e, EventKind::kPreemptSwap);
  }
  CHECK(recomputes > 0);
  CHECK(swaps == 0);
}

TEST_CASE("the watermark keeps admission from taking the last free blocks") {
  EngineConfig c = small_engine(10);
  paged_options(c).watermark = 0.2;  // 2 blocks
  auto e = make_engine(c, {req(0, 17, 2), req(1, 17, 2)});
  e->step();
  CHECK(e->last().running == 1);  // 5 + 5 blocks would leave fewer than 2
  CHECK(e->last().waiting == 1);
}

TEST_CASE("a request that can never fit is rejected instead of waiting forever") {
  auto e = make_engine(small_engine(4), {req(0, 100, 2), req(1, 4, 2)});
  while (!e->done()) e->step();
  const RunSummary s = e->summary();
  CHECK(s.rejected == 1);
  CHECK(s.finished == 1);
}

TEST_CASE("a request that outgrows the whole pool while running alone is rejected, not restarted") {
  // 12 blocks of 10: three samples of 79 tokens need 4 shared + 3 x 4 own blocks at the end.
  EngineConfig c = small_engine(12, 10, 7);
  RequestSpec r = req(0, 39, 40);
  r.n = 3;
  for (PreemptionMode mode : {PreemptionMode::kRecompute, PreemptionMode::kSwap}) {
    c.scheduler.preemption = mode;
    auto e = make_engine(c, {r, req(1, 10, 5, 0.5)});
    int steps = 0;
    while (!e->done() && steps++ < 1000) e->step();
    REQUIRE(e->done());
    CHECK(e->summary().rejected == 1);
    CHECK(e->summary().finished == 1);
  }
}
