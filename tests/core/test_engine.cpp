#include "core/engine/engine.h"
#include "core/memory/kv_cache_manager.h"

#include <doctest/doctest.h>

#include <string>

#include "tests/core/engine_helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

TEST_CASE("parallel samples are forked from the prompt and share its blocks") {
  RequestSpec r = req(0, 10, 4);
  r.n = 3;
  auto e = make_engine(small_engine(64), {r});
  e->step();  // prefill, first sampling: two forks
  CHECK(count_events(*e, EventKind::kFork) == 2);
  const auto& kv = dynamic_cast<const KvCacheManager&>(e->allocator());
  CHECK(kv.gpu_pool().num_used() == 3);  // 10 tokens in 3 blocks, shared by 3 sequences
  CHECK(kv.gpu_pool().ref_count(0) == 3);
  e->step();  // each sample writes its first token into the shared partial block
  CHECK(count_events(*e, EventKind::kCopyOnWrite) == 2);
  CHECK(e->last().cow_copies == 2);
  CHECK(e->last().decode_tokens == 3);
  CHECK(kv.gpu_pool().ref_count(0) == 3);  // full blocks stay shared
  while (!e->done()) e->step();
  CHECK(e->summary().generated_tokens == 12);
  CHECK(kv.gpu_pool().num_used() == 0);
}

TEST_CASE("beam search keeps beam_width beams that share blocks and prunes the rest") {
  RequestSpec r = req(0, 12, 8);
  r.beam_width = 4;
  EngineConfig c = small_engine(128);
  auto e = make_engine(c, {r});
  e->step();
  CHECK(count_events(*e, EventKind::kFork) == 3);
  int forks = 0, frees = 0, cows = 0;
  while (!e->done()) {
    e->step();
    if (!e->done()) CHECK(e->last().running_seqs == 4);
    forks += count_events(*e, EventKind::kFork);
    frees += count_events(*e, EventKind::kFree);
    cows += count_events(*e, EventKind::kCopyOnWrite);
  }
  CHECK(forks > 0);   // chosen beams were forked...
  CHECK(frees >= 4);  // ...others pruned, and all freed at the end
  CHECK(cows > 0);
  CHECK(e->summary().finished == 1);
  CHECK(dynamic_cast<const KvCacheManager&>(e->allocator()).gpu_pool().num_used() == 0);
}

TEST_CASE("time to first token and time per output token come from the simulated clock") {
  auto e = make_engine(small_engine(64), {req(0, 8, 5)});
  while (!e->done()) e->step();
  const RunSummary s = e->summary();
  CHECK(s.steps == 5);
  CHECK(s.ttft_s.mean == doctest::Approx(0.010));
  CHECK(s.tpot_s.mean == doctest::Approx(0.010));
  CHECK(s.latency_s.mean == doctest::Approx(0.050));
  CHECK(s.throughput_tok_s == doctest::Approx(5 / 0.05));
}

TEST_CASE("a contiguous allocator runs the same workload, reserving ahead") {
  EngineConfig c = small_engine(64);
  c.allocator = ContiguousOptions{Reservation::kMaxLength, 0.0};
  c.max_model_len = 64;
  auto e = make_engine(c, {req(0, 8, 4), req(1, 8, 4), req(2, 8, 4), req(3, 8, 4), req(4, 8, 4)});
  e->step();
  CHECK(e->last().running == 4);  // 4 x 16 blocks fill the pool
  CHECK(e->last().pool.kv_cache_usage == doctest::Approx(1.0));
  CHECK(e->last().pool.reserved_fraction > 0.0);
  while (!e->done()) e->step();
  CHECK(e->summary().finished == 5);
}

TEST_CASE("the same requests and seed replay to identical metrics") {
  auto run = [] {
    EngineConfig c = small_engine(24, 4, 8);
    c.scheduler.preemption = PreemptionMode::kSwap;
    paged_options(c).prefix_caching = true;
    std::vector<RequestSpec> reqs;
    for (int i = 0; i < 20; ++i) {
      RequestSpec r = req(i, 5 + (i * 7) % 19, 3 + i % 6, i * 0.004);
      r.prompt.insert(r.prompt.begin(), PromptSegment{42, 8});  // a shared system prompt
      r.beam_width = i % 5 == 0 ? 2 : 1;
      reqs.push_back(r);
    }
    auto e = make_engine(c, reqs);
    std::string csv;
    while (!e->done()) {
      e->step();
      append_metrics_csv_row(e->last(), csv);
    }
    return csv;
  };
  const std::string a = run(), b = run();
  CHECK(a.size() > 100);
  CHECK(a == b);
}
