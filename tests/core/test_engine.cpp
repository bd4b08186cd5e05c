#include <doctest/doctest.h>

#include <string>

#include "core/engine/engine.h"
#include "core/memory/kv_cache_manager.h"
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

namespace {

// Records every plan it is given; fails on request.
class RecordingBackend final : public Backend {
 public:
  std::vector<StepPlan> plans;
  int64_t fail_at = -1;
  std::string name() const override { return "recording"; }
  std::string description() const override { return "test"; }
  KernelTimes execute(const StepPlan& plan) override {
    if (plan.step == fail_at) throw BackendError("injected failure");
    plans.push_back(plan);
    return {};
  }
};

}  // namespace

TEST_CASE("the plan maps every new token to its sequence's slot and lists the decode batch") {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend& rec = *backend;
  Engine e(small_engine(64, 4), {req(0, 6, 3), req(1, 9, 3)}, std::move(backend));
  while (!e.done()) e.step();
  REQUIRE(rec.plans.size() == 3);
  const StepPlan& first = rec.plans[0];
  CHECK(first.block_size == 4);
  CHECK(first.slot_mapping.size() == 15);  // both prompts
  CHECK(first.batch() == 2);               // both prompts complete: two queries
  const StepPlan& second = rec.plans[1];
  CHECK(second.slot_mapping.size() == 2);  // one decode token each
  CHECK(second.context_lens == std::vector<int32_t>{7, 10});
  for (size_t i = 0; i < second.slot_mapping.size(); ++i) {
    const int32_t pos = second.new_positions[i];
    const int32_t block = second.block_tables[i * static_cast<size_t>(second.max_blocks_per_seq) +
                                              static_cast<size_t>(pos / 4)];
    CHECK(second.slot_mapping[i] == int64_t{block} * 4 + pos % 4);
  }
}

TEST_CASE("an idle engine jumps its clock to the next arrival") {
  auto e = make_engine(small_engine(64), {req(0, 4, 2), req(1, 4, 2, 100.0)});
  while (!e->done()) e->step();
  const std::vector<RequestResult> r = e->request_results();
  REQUIRE(r.size() == 2);
  CHECK(r[1].arrival == 100.0);
  CHECK(r[1].ttft() == doctest::Approx(0.010));  // served at once, not after idle steps
  CHECK(e->steps() == 4);
}

TEST_CASE("a request that cannot grow even alone in the pool is rejected, not preempted forever") {
  // 4 blocks of 4 tokens hold 16 tokens: a 10-token prompt with 20 outputs can never finish.
  auto e = make_engine(small_engine(4, 4), {req(0, 10, 20), req(1, 4, 2)});
  while (!e->done()) e->step();
  const RunSummary s = e->summary();
  CHECK(s.rejected == 1);
  CHECK(s.finished == 1);
}

TEST_CASE("max_steps stops the run and the unfinished requests are reported as such") {
  EngineConfig c = small_engine(64);
  c.max_steps = 3;
  auto e = make_engine(c, {req(0, 4, 50), req(1, 4, 50)});
  while (!e->done()) e->step();
  CHECK(e->steps() == 3);
  const std::vector<RequestResult> all = e->all_request_results();
  REQUIRE(all.size() == 2);
  for (const RequestResult& r : all) CHECK(r.status == RequestStatus::kUnfinished);
  CHECK(e->summary().unfinished == 2);
}

TEST_CASE("a backend failure fails the engine, which refuses further steps") {
  auto backend = std::make_unique<RecordingBackend>();
  backend->fail_at = 1;
  Engine e(small_engine(64), {req(0, 4, 5)}, std::move(backend));
  e.step();
  CHECK_THROWS_AS(e.step(), BackendError);
  CHECK(e.failed());
  CHECK(e.done());
}

TEST_CASE("the step's work counts the plan's decodes, chunks, pairs and sampled tokens") {
  auto backend = std::make_unique<RecordingBackend>();
  RecordingBackend& rec = *backend;
  EngineConfig c = small_engine(64, 4);
  c.scheduler.max_num_seqs = 4;
  c.scheduler.max_num_batched_tokens = 8;  // prompts go in chunks, beside decodes
  Engine e(c, {req(0, 6, 3), req(1, 9, 4), req(2, 13, 2), req(3, 3, 5)}, std::move(backend));
  int64_t chunked = 0, mixed = 0;
  while (!e.done()) {
    e.step();
    REQUIRE(rec.plans.size() == static_cast<size_t>(e.steps()));
    const StepPlan& p = rec.plans.back();
    const StepWork& w = e.last_work();
    int64_t decode_sum = 0, pairs = 0, chunk_tokens = 0;
    for (int32_t b = 0; b < p.batch(); ++b) {
      const int64_t context = p.context_lens[static_cast<size_t>(b)];
      if (b < p.num_prefills) {
        const int64_t q = p.queries_of(b);
        chunk_tokens += q;
        pairs += q * (context - q) + q * (q + 1) / 2;
      } else {
        decode_sum += context;
      }
    }
    CHECK(w.prefill_chunks == p.num_prefills);
    CHECK(w.prefill_tokens == chunk_tokens);
    CHECK(w.prefill_pairs == pairs);
    CHECK(w.decode_seqs == p.num_decodes());
    CHECK(w.decode_context_sum == decode_sum);
    CHECK(w.new_tokens == static_cast<int64_t>(p.slot_mapping.size()));
    CHECK(w.attention_pairs == pairs + decode_sum);
    CHECK(w.sampled_tokens == e.last().batch_size);
    chunked += w.prefill_chunks > 0 && w.sampled_tokens < w.decode_seqs + w.prefill_chunks;
    mixed += w.prefill_chunks > 0 && w.decode_seqs > 0;
  }
  CHECK(chunked > 0);  // a chunk that does not end its prompt samples nothing
  CHECK(mixed > 0);
}
