// vllm-v1 semantics piece by piece: vLLM 0.33's free block queue, its KV-cache manager
// operations, its scheduler's rules, and the scenario keys that choose them
// (docs/fidelity_vllm_notes.md). The goldens (test_vllm_golden.cpp) check them all together.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/engine/decisions.h"
#include "core/engine/engine.h"
#include "core/memory/free_list.h"
#include "core/memory/kv_cache_manager.h"
#include "core/memory/prefix_cache.h"
#include "core/workload/request_file.h"
#include "tests/core/engine_helpers.h"
#include "tests/core/helpers.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

KvCacheConfig v1_config(int32_t blocks, bool prefix) {
  KvCacheConfig c;
  c.block_size = 16;
  c.num_gpu_blocks = blocks;
  c.enable_prefix_caching = prefix;
  c.watermark = 0.0;
  c.policy = FreeListPolicy::kLru;
  c.semantics = Semantics::kVllmV1;
  c.check_invariants = true;
  return c;
}

// The hash chain of n tokens of one content.
std::vector<BlockHash> chain(const std::vector<TokenId>& t) {
  std::vector<BlockHash> out;
  hash_chain(t, 16, static_cast<int32_t>(t.size()) / 16, out);
  return out;
}

// The ids of the next n blocks the pool hands out (taken by a throwaway sequence).
std::vector<BlockId> next_blocks(KvCacheManager& kv, SeqId probe, int32_t n) {
  kv.admit(probe, {}, {}, n * 16, n * 16);
  return kv.table(probe).blocks;
}

}  // namespace

TEST_CASE("push_front puts a free block at the front of the lru queue") {
  FreeList list(FreeListPolicy::kLru, 4, 0);
  for (int i = 0; i < 4; ++i) list.pop();
  list.push(2, false);
  list.push(3, true);
  list.push_front(1);
  CHECK(list.pop() == 1);
  CHECK(list.pop() == 2);
  CHECK(list.pop() == 3);
}

TEST_CASE("under vllm-v1 block 0 is the null block and the rest are handed out in id order") {
  KvCacheManager kv(v1_config(11, false));
  CHECK(kv.null_block() == 0);
  CHECK(kv.num_reserved_blocks() == 1);
  CHECK(kv.num_available_blocks() == 10);
  CHECK(next_blocks(kv, 1, 3) == std::vector<BlockId>{1, 2, 3});
  CHECK(kv.check_invariants().empty());
}

TEST_CASE("a freed request's unhashed blocks are reused first, tail first, and cached ones last") {
  // The notes' example: 10 usable blocks, a request of 40 prompt tokens + 3 outputs holds blocks
  // 1, 2, 3 (the third partial). Prefix caching on: its two full blocks are cached; freed, the
  // queue is [3, 4, ..., 10, 2, 1].
  KvCacheManager kv(v1_config(11, true));
  const std::vector<TokenId> t = tokens(42);
  const std::vector<BlockHash> h = chain(t);
  const PrefixHit none = kv.find_prefix(std::span(h).first(2));
  CHECK(none.blocks == 0);
  kv.admit(1, h, none, 40, 40);
  kv.cache_blocks(1, h, 40);
  REQUIRE(kv.allocate_slots(1, 42));
  CHECK(kv.table(1).blocks == std::vector<BlockId>{1, 2, 3});
  kv.free(1);
  CHECK(next_blocks(kv, 2, 10) == std::vector<BlockId>{3, 4, 5, 6, 7, 8, 9, 10, 2, 1});
  CHECK(kv.take_evicted() == std::vector<BlockId>{2, 1});
}

TEST_CASE("without prefix caching every freed block goes to the front, tail first") {
  KvCacheManager kv(v1_config(11, false));
  kv.admit(1, {}, {}, 40, 40);
  REQUIRE(kv.allocate_slots(1, 42));
  kv.free(1);
  CHECK(next_blocks(kv, 2, 10) == std::vector<BlockId>{3, 2, 1, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("a hit takes cached blocks out of the queue and the gate counts them as used") {
  KvCacheManager kv(v1_config(5, true));  // 4 usable blocks
  const std::vector<TokenId> t = tokens(50);
  const std::vector<BlockHash> h = chain(t);
  kv.admit(1, h, {}, 50, 50);
  kv.cache_blocks(1, h, 50);
  kv.free(1);  // 3 cached blocks and 1 free block, all available
  const PrefixHit hit = kv.find_prefix(std::span(h).first(3));
  CHECK(hit.blocks == 3);
  CHECK(hit.evictable == 3);
  // 50 tokens need 4 blocks: 1 new + 3 evictable hits, against 4 available.
  CHECK(kv.can_admit(50, hit, false));
  CHECK_FALSE(kv.can_admit(80, hit, false));  // 5 blocks
  kv.admit(2, h, hit, 50, 50);
  CHECK(kv.num_available_blocks() == 0);
  CHECK(kv.stats().prefix_hit_tokens == 48);
  CHECK(kv.check_invariants().empty());
}

TEST_CASE("a block cached twice is found through its older copy while it lasts") {
  KvCacheManager kv(v1_config(9, true));
  const std::vector<TokenId> t = tokens(33);
  const std::vector<BlockHash> h = chain(t);
  kv.admit(1, h, {}, 33, 33);
  kv.admit(2, h, {}, 33, 33);  // computed again, not a hit: both copies are cached
  kv.cache_blocks(1, h, 33);
  kv.cache_blocks(2, h, 33);
  CHECK(kv.find_prefix(h).blocks == 2);
  const BlockId first = kv.table(1).blocks[0];
  kv.admit(3, h, kv.find_prefix(h), 33, 33);
  CHECK(kv.table(3).blocks[0] == first);
  CHECK(kv.check_invariants().empty());
  kv.free(1);
  kv.free(3);
  // Allocating everything evicts request 1's copies; request 2's remain findable.
  kv.admit(4, {}, {}, 16 * kv.num_available_blocks(), 16 * kv.num_available_blocks());
  CHECK(kv.find_prefix(h).blocks == 2);
  CHECK(kv.check_invariants().empty());
}

namespace {

EngineConfig v1_engine(int32_t gpu_blocks, bool prefix = false) {
  EngineConfig c = small_engine(gpu_blocks, 16);
  c.scheduler.semantics = Semantics::kVllmV1;
  paged_options(c).free_list = FreeListPolicy::kLru;
  paged_options(c).prefix_caching = prefix;
  c.clock = ClockMode::kSteps;
  c.record_decisions = true;
  return c;
}

std::vector<StepDecisions> run(const EngineConfig& c, std::vector<RequestSpec> requests) {
  Engine e(c, std::move(requests), std::make_unique<AccountingBackend>());
  while (!e.done()) e.step();
  CHECK(e.check_invariants().empty());
  return e.decisions();
}

}  // namespace

TEST_CASE("under vllm-v1 a long prompt holds blocks only for the chunks scheduled so far") {
  EngineConfig c = v1_engine(65);
  c.scheduler.max_num_batched_tokens = 64;
  const std::vector<StepDecisions> d = run(c, {req(1, 200, 2)});
  REQUIRE(d.size() >= 4);
  CHECK(d[0].prefill_tokens == 64);
  CHECK(d[0].blocks_in_use == 4);  // not the prompt's 13
  CHECK(d[1].blocks_in_use == 8);
}

TEST_CASE("under vllm-v1 a step that preempts admits nothing and the victim resumes first") {
  // 8 usable blocks; two requests decode until the pool runs out.
  EngineConfig c = v1_engine(9);
  const std::vector<StepDecisions> d = run(c, {req(1, 40, 60), req(2, 40, 60), req(3, 8, 4, 1.0)});
  bool preempted = false;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].preempted.empty()) continue;
    preempted = true;
    CHECK(d[i].admitted.empty());
    CHECK(d[i].preempted == std::vector<int64_t>{2});
    // The victim is at the front of the waiting queue: nothing is admitted before it.
    for (size_t j = i + 1; j < d.size(); ++j) {
      if (d[j].admitted.empty()) continue;
      CHECK(d[j].admitted.front() == 2);
      break;
    }
    break;
  }
  CHECK(preempted);
}

TEST_CASE("under vllm-v1 n samples run as n requests with the harness's ids") {
  EngineConfig c = v1_engine(64, true);
  RequestSpec r = req(7, 40, 3);
  r.n = 3;
  const std::vector<StepDecisions> d = run(c, {r});
  REQUIRE(!d.empty());
  CHECK(d[0].admitted == std::vector<int64_t>{7, 7 + (int64_t{1} << 32), 7 + (int64_t{2} << 32)});
  // The later samples hit the first one's two full prompt blocks, cached when scheduled.
  CHECK(d[0].prefix_queries == 120);
  CHECK(d[0].prefix_hits == 64);
}

TEST_CASE("the steps clock advances by one a step and jumps to the next arrival when idle") {
  EngineConfig c = v1_engine(64);
  const std::vector<StepDecisions> d = run(c, {req(1, 10, 2), req(2, 10, 1, 50.0)});
  REQUIRE(d.size() == 3);
  CHECK(d[0].step == 0);
  CHECK(d[1].step == 1);
  CHECK(d[1].finished == std::vector<int64_t>{1});
  CHECK(d[2].step == 50);
}

TEST_CASE("asynchronous scheduling frees a finished request's blocks one step later") {
  EngineConfig sync = v1_engine(64);
  EngineConfig async = sync;
  async.scheduler.async_scheduling = true;
  const std::vector<StepDecisions> a = run(sync, {req(1, 20, 3)});
  const std::vector<StepDecisions> b = run(async, {req(1, 20, 3)});
  REQUIRE(!a.empty());
  REQUIRE(!b.empty());
  CHECK(a.back().finished == std::vector<int64_t>{1});
  CHECK(b.back().finished == std::vector<int64_t>{1});
  CHECK(b.back().step == a.back().step + 1);
}

namespace {

std::string load_error(const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / "tinyserve-v1-scenario.toml";
  std::ofstream(path) << text;
  try {
    load_scenario(path.string());
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const std::string kBase = "name = \"t\"\ndescription = \"d\"\n[hardware]\nnum_gpu_blocks = 512\n";

}  // namespace

TEST_CASE("the semantics decide the cache's defaults: vLLM 0.33's under vllm-v1") {
  const auto path = std::filesystem::temp_directory_path() / "tinyserve-v1-defaults.toml";
  std::ofstream(path) << kBase;
  const Scenario v1 = load_scenario(path.string());
  CHECK(v1.engine.scheduler.semantics == Semantics::kVllmV1);
  CHECK(std::get<PagedOptions>(v1.engine.allocator).free_list == FreeListPolicy::kLru);
  CHECK(std::get<PagedOptions>(v1.engine.allocator).watermark == 0.0);
  const Scenario v0 = load_scenario(path.string(), {"scheduler.semantics=vllm-v0"});
  CHECK(std::get<PagedOptions>(v0.engine.allocator).free_list == FreeListPolicy::kLifo);
  CHECK(std::get<PagedOptions>(v0.engine.allocator).watermark == 0.01);
}

TEST_CASE("vllm-v1 refuses what vLLM v1 has no answer for, naming vllm-v0") {
  CHECK(load_error(kBase + "[scheduler]\npreemption = \"swap\"\n").find("vllm-v0") !=
        std::string::npos);
  CHECK(load_error(kBase + "[workload]\nbeam_width = 2\n").find("vllm-v0") != std::string::npos);
  CHECK(load_error(kBase + "[cache]\nallocator = \"contiguous\"\n").find("vllm-v0") !=
        std::string::npos);
  CHECK(load_error(kBase + "[scheduler]\nsemantics = \"vllm-v0\"\nasync_scheduling = true\n")
            .find("vllm-v1") != std::string::npos);
  CHECK(load_error(kBase + "[scheduler]\nasync_scheduling = true\n[engine]\nbackend = \"cpu\"\n")
            .find("accounting") != std::string::npos);
  CHECK(load_error(kBase + "[scheduler]\nsemantics = \"vllm-v2\"\n").find("vllm-v1") !=
        std::string::npos);
}

TEST_CASE("a requests workload reads the harness's JSONL, bad lines named") {
  const auto path = std::filesystem::temp_directory_path() / "tinyserve-requests.jsonl";
  std::ofstream(path) << "{\"id\": 3, \"arrival\": 5, \"prompt\": [[9, 20], [4, 3]], "
                         "\"output_len\": 7, \"n\": 2}\n"
                         "{\"id\": 1, \"arrival\": 2, \"prompt\": [[8, 1]], \"output_len\": 1}\n";
  const std::vector<RequestSpec> r = read_request_file(path.string());
  REQUIRE(r.size() == 2);
  CHECK(r[0].id == 1);  // sorted by arrival
  CHECK(r[1].prompt_len() == 23);
  CHECK(r[1].n == 2);
  CHECK(r[1].output_len == 7);
  std::ofstream(path) << "{\"id\": 3, \"arrival\": 5, \"prompt\": [], \"output_len\": 7}\n";
  try {
    read_request_file(path.string());
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find(":1:") != std::string::npos);
  }
}

TEST_CASE("a decision record is written as the harness writes it and reads back the same") {
  std::vector<std::pair<int64_t, int64_t>> none;
  CHECK(scheduled_digest(none) == 0xcbf29ce484222325ull);
  StepDecisions d;
  d.step = 17;
  d.decode_reqs = 12;
  d.prefill_tokens = 1012;
  d.running = 14;
  d.waiting = 30;
  std::vector<std::pair<int64_t, int64_t>> pairs = {{41, 500}, {3, 1}, {40, 512}};
  d.scheduled_digest = scheduled_digest(pairs);
  CHECK(pairs.front().first == 3);  // sorted by request
  d.admitted = {40, 41};
  d.finished = {3};
  d.blocks_in_use = 377;
  d.blocks_in_use_end = 371;
  d.prefix_queries = 1733;
  d.evicted_blocks = 4;
  const std::string line = decisions_json(d);
  CHECK(line.starts_with("{\"step\":17,\"decode_reqs\":12,\"prefill_tokens\":1012,"));
  CHECK(line.find("\"admitted\":[40,41],\"preempted\":[],\"finished\":[3]") != std::string::npos);
  const auto path = std::filesystem::temp_directory_path() / "tinyserve-decisions.jsonl";
  std::ofstream(path) << line << "\n";
  const std::vector<StepDecisions> back = read_decisions(path.string());
  REQUIRE(back.size() == 1);
  CHECK(back[0] == d);
  const std::vector<StepDecisions> expected = {d};
  StepDecisions other = d;
  other.preempted = {40};
  const std::vector<StepDecisions> actual = {other};
  const DecisionsComparison c = compare_decisions(expected, actual);
  CHECK_FALSE(c.identical());
  CHECK(c.report.find("step 17: preempted") != std::string::npos);
}

TEST_CASE("random small vllm-v1 runs keep every invariant and end every request") {
  // Tiny pools, every free-list policy, prefix caching on and off, sync and async: each step's
  // allocator and engine invariants hold, and every request finishes or is rejected.
  Rng rng(20261127);
  for (int trial = 0; trial < 1000; ++trial) {
    EngineConfig c = small_engine(static_cast<int32_t>(rng.uniform_int(3, 40)),
                                  static_cast<int32_t>(rng.uniform_int(1, 16)));
    c.scheduler.semantics = Semantics::kVllmV1;
    c.scheduler.async_scheduling = rng.below(2) == 1;
    c.scheduler.max_num_seqs = static_cast<int32_t>(rng.uniform_int(1, 12));
    c.scheduler.max_num_batched_tokens =
        c.scheduler.max_num_seqs + static_cast<int32_t>(rng.uniform_int(0, 200));
    c.max_model_len = static_cast<int32_t>(rng.uniform_int(8, 400));
    paged_options(c).free_list = kFreeListPolicyNames[rng.below(5)].value;
    paged_options(c).prefix_caching = rng.below(2) == 1;
    c.clock = rng.below(2) == 1 ? ClockMode::kSteps : ClockMode::kModel;
    std::vector<RequestSpec> requests;
    const auto n = static_cast<int32_t>(rng.uniform_int(1, 8));
    int64_t work = 0;
    for (int32_t i = 0; i < n; ++i) {
      RequestSpec r = req(i, static_cast<int32_t>(rng.uniform_int(1, 120)),
                          static_cast<int32_t>(rng.uniform_int(1, 40)),
                          static_cast<double>(rng.uniform_int(0, 5)));
      if (rng.below(3) == 0)
        r.prompt.insert(r.prompt.begin(), {7, static_cast<int32_t>(rng.uniform_int(1, 40))});
      r.n = rng.below(5) == 0 ? 2 : 1;
      work += int64_t{r.prompt_len() + r.output_len} * r.n;
      requests.push_back(r);
    }
    std::sort(requests.begin(), requests.end(),
              [](const RequestSpec& a, const RequestSpec& b) { return a.arrival < b.arrival; });
    CAPTURE(trial);
    Engine e(c, requests, std::make_unique<AccountingBackend>());
    const int64_t bound = 50 * work + 1000;
    while (!e.done() && e.steps() <= bound) e.step();  // throws on a broken invariant
    CHECK(e.done());
    const RunSummary s = e.summary();
    CHECK(s.finished + s.rejected == s.requests);
  }
}

TEST_CASE("under vllm-v1 a run whose last arrivals are all rejected ends without a step") {
  EngineConfig c = v1_engine(64);
  c.max_model_len = 22;
  // Request 1 finishes at step 1; the engine is idle when request 0 arrives, and its prompt is
  // past max_model_len: both its samples are rejected on arrival, nothing is left to schedule.
  RequestSpec r = req(0, 42, 5, 3.0);
  r.n = 2;
  Engine e(c, {req(1, 10, 2), r}, std::make_unique<AccountingBackend>());
  while (!e.done()) e.step();
  const RunSummary s = e.summary();
  CHECK(s.finished == 1);
  CHECK(s.rejected == 2);
  CHECK(e.now() <= 4.0);
}
