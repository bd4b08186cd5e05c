// The CUDA backend on whole scenarios: against the CPU reference at sampled steps, and, under the
// measured clock, against the accounting backend on every metric but the times.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "core/execution/executor_backend.h"
#include "core/execution/reference_executor.h"
#include "gpu/cuda_executor.h"
#include "tests/core/plan_fixture.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

// Runs every plan on the CUDA executor and on the CPU reference; every few steps compares their
// attention outputs, and now and then every block of both pools byte for byte.
class TeeBackend final : public Backend {
 public:
  // Outputs compared every output_every steps, pools every pool_every (0: never); with
  // max_pairs > 0, only steps of at most that many (query, key) pairs are compared, the CPU
  // reference computing no attention on the others (its scalar attention is slow).
  TeeBackend(std::unique_ptr<KvExecutor> gpu, std::unique_ptr<ReferenceExecutor> cpu,
             int output_every = 3, int pool_every = 25, int64_t max_pairs = 0)
      : gpu_(std::move(gpu)),
        reference_(cpu.get()),
        cpu_(std::move(cpu)),
        output_every_(output_every),
        pool_every_(pool_every),
        max_pairs_(max_pairs) {}
  std::string name() const override { return "tee"; }
  std::string description() const override { return "CUDA and CPU reference in lockstep"; }

  KernelTimes execute(const StepPlan& plan) override {
    bool compare = plan.batch() > 0 && plan.step % output_every_ == 0;
    if (max_pairs_ > 0) {
      int64_t pairs = 0;
      for (int32_t b = 0; b < plan.batch(); ++b) {
        pairs += static_cast<int64_t>(plan.queries_of(b)) * plan.context_lens[b];
      }
      compare = compare && pairs <= max_pairs_;
    }
    compare = compare && compared_outputs < output_limit;
    reference_->set_attention_enabled(compare);
    const StepResult g = gpu_->execute(plan), c = cpu_->execute(plan);
    REQUIRE_MESSAGE(g.ok(), g.status.error);
    REQUIRE_MESSAGE(c.ok(), c.status.error);
    for (int32_t b = 0; b < plan.num_prefills; ++b) {
      chunks_after_prefix += plan.context_lens[b] > plan.queries_of(b);
    }
    mixed_steps += plan.num_prefills > 0 && plan.num_decodes() > 0;
    if (compare) compare_outputs(plan);
    if (pool_every_ > 0 && plan.step % pool_every_ == 0) compare_pools();
    ++steps_;
    return {};
  }
  int compared_outputs = 0, compared_pools = 0;
  int output_limit = 1 << 30;   // comparisons at most
  int chunks_after_prefix = 0;  // prefill chunks after cached tokens (prefix hits, earlier chunks)
  int mixed_steps = 0;          // steps with prefill chunks and decodes
  int steps_ = 0;

  void compare_pools() {
    const KvGeometry& geo = gpu_->geometry();
    for (int32_t l = 0; l < geo.num_layers; ++l) {
      for (Pool pool : {Pool::kGpu, Pool::kCpu}) {
        const int32_t blocks = pool == Pool::kGpu ? geo.num_gpu_blocks : geo.num_cpu_blocks;
        for (BlockId b = 0; b < blocks; ++b) {
          const auto x = gpu_->read_block(pool, l, b), y = cpu_->read_block(pool, l, b);
          REQUIRE(x.ok());
          REQUIRE(y.ok());
          REQUIRE_MESSAGE(x.value.k == y.value.k, "block ", b, " differs");
          REQUIRE_MESSAGE(x.value.v == y.value.v, "block ", b, " differs");
        }
      }
    }
    ++compared_pools;
  }

 private:
  void compare_outputs(const StepPlan& plan) {
    const auto g = gpu_->read_output(), c = cpu_->read_output();
    REQUIRE(g.ok());
    REQUIRE(c.ok());
    REQUIRE(g.value.size() == c.value.size());
    std::vector<double> ref(c.value.begin(), c.value.end());
    const size_t unwritten = static_cast<size_t>(
        std::count_if(g.value.begin(), g.value.end(), [](float x) { return !std::isfinite(x); }));
    CHECK(unwritten == 0);
    CAPTURE(plan.step);
    CHECK(relative_error(g.value.data(), ref.data(), ref.size()) <
          tolerance(gpu_->geometry().dtype));
    ++compared_outputs;
  }

  std::unique_ptr<KvExecutor> gpu_;
  ReferenceExecutor* reference_;
  std::unique_ptr<KvExecutor> cpu_;
  int output_every_, pool_every_;
  int64_t max_pairs_;
};

const char* kScenario = R"(name = "tee"
description = "prefix hits, samples, copy-on-write, swapping, on a small pool"
seed = 3
[model]
preset = "llama-3-8b"
max_model_len = 1024
[hardware]
num_gpu_blocks = 80
swap_space_gib = 0.02
[cache]
block_size = 16
prefix_caching = true
[scheduler]
semantics = "vllm-v0"  # swapping
max_num_seqs = 24
max_num_batched_tokens = 512
preemption = "swap"
[workload]
num_requests = 24
n = 2
[workload.arrival]
process = "poisson"
rate = 40.0
[workload.system_prompt]
length = 48
count = 2
[workload.prompt]
distribution = "uniform"
min = 8
max = 160
[workload.output]
distribution = "uniform"
min = 4
max = 80
[engine]
gpu_layers = 2
)";

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("a scenario on the CUDA backend matches the CPU reference at sampled steps") {
    if (skip_without_gpu()) return;
    for (DType dtype : {DType::kF16, DType::kBF16}) {
      CAPTURE(dtype_name(dtype));
      Scenario sc =
          parse_scenario(kScenario, std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/tee.toml");
      sc.engine.geometry.dtype = dtype;
      const KvGeometry g = sc.engine.geometry;
      auto gpu = gpu::CudaExecutor::create(g);
      auto cpu = ReferenceExecutor::create(g);
      REQUIRE_MESSAGE(gpu.ok(), gpu.status.error);
      REQUIRE_MESSAGE(cpu.ok(), cpu.status.error);
      auto tee = std::make_unique<TeeBackend>(std::move(gpu.value), std::move(cpu.value));
      TeeBackend& t = *tee;
      sc.engine.check_invariants = true;
      Engine e(sc.engine, load_requests(sc), std::move(tee));
      while (!e.done()) e.step();
      t.compare_pools();
      const RunSummary s = e.summary();
      CHECK(s.finished + s.rejected == 24);
      CHECK(s.preemptions > 0);  // the swap path ran
      CHECK(s.cow_copies > 0);   // samples wrote into shared blocks
      CHECK(s.prefix_hit_rate > 0);
      CHECK(t.compared_outputs > 10);
      CHECK(t.chunks_after_prefix > 0);
      CHECK(t.mixed_steps > 0);
      CHECK(t.compared_pools > 2);
    }
  }

  // Every scenario's first steps on the CUDA executor and the CPU reference in lockstep: their
  // attention outputs (every scheduled token's query) must agree every other step. One layer,
  // so the CPU reference keeps up.
  TEST_CASE(
      "every scenario's steps give the CPU reference's attention outputs on the CUDA executor") {
    if (skip_without_gpu()) return;
    int scenarios = 0, compared = 0;
    for (const std::string& file : list_scenarios()) {
      CAPTURE(file);
      // A pool of 4,096 blocks (every scenario's max_model_len fits) keeps the CPU reference's
      // host copy small, and steps of at most 64 tokens and 4 sequences keep its scalar attention
      // quick; preemptions come sooner, which the comparison welcomes.
      Scenario sc =
          load_scenario(file, {"engine.gpu_layers=1", "hardware.num_gpu_blocks=4096",
                               "hardware.swap_space_gib=0.25",
                               "scheduler.max_num_batched_tokens=64", "scheduler.max_num_seqs=4"});
      if (!sc.engine.paged()) continue;  // contiguous regions: the executors hold paged pools
      sc.engine.max_steps = small_gpu_tests() ? 8 : 24;
      const KvGeometry g = sc.engine.geometry;
      auto gpu = gpu::CudaExecutor::create(g);
      auto cpu = ReferenceExecutor::create(g);
      REQUIRE_MESSAGE(gpu.ok(), gpu.status.error);
      REQUIRE_MESSAGE(cpu.ok(), cpu.status.error);
      auto tee = std::make_unique<TeeBackend>(std::move(gpu.value), std::move(cpu.value), 2, 0);
      TeeBackend& t = *tee;
      Engine e(sc.engine, load_requests(sc), std::move(tee));
      while (!e.done()) e.step();
      compared += t.compared_outputs;
      ++scenarios;
    }
    CHECK(scenarios >= 10);
    CHECK(compared >= scenarios * 3);
  }

  // Under the measured clock the CUDA backend's kernel times decide when each step ends. When
  // every request arrives at once the decisions cannot depend on time, so every metric but the
  // times must equal the accounting backend's under the model clock; a measured time that is
  // missing, negative or not finite fails too.
  TEST_CASE("a measured-clock run on the CUDA backend decides as the accounting backend does") {
    if (skip_without_gpu()) return;
    int compared = 0;
    for (const std::string& file : list_scenarios()) {
      // Every synthetic workload, its requests all arriving at once.
      const Scenario probe = load_scenario(file);
      if (probe.source != WorkloadSource::kSynthetic || !probe.engine.paged()) continue;
      const std::vector<std::string> overrides = {"engine.gpu_layers=1",
                                                  "workload.arrival.process=all-at-once"};
      CAPTURE(file);
      auto run = [&](bool cuda) {
        Scenario sc = load_scenario(file, overrides);
        sc.engine.max_steps = small_gpu_tests() ? 20 : 120;
        std::unique_ptr<Backend> backend = std::make_unique<AccountingBackend>();
        if (cuda) {
          sc.engine.clock = ClockMode::kMeasured;
          auto ex = gpu::CudaExecutor::create(sc.engine.geometry);
          REQUIRE_MESSAGE(ex.ok(), ex.status.error);
          backend = std::make_unique<ExecutorBackend>(std::move(ex.value), "cuda", "test");
        }
        Engine e(sc.engine, load_requests(sc), std::move(backend));
        std::string csv;
        while (!e.done()) {
          e.step();
          StepMetrics m = e.last();
          if (cuda && m.batch_size > 0) {
            CHECK(std::isfinite(m.attention_ms));
            CHECK(m.attention_ms >= 0);
            CHECK(m.step_ms > 0);
          }
          m.time_s = m.step_ms = m.throughput_tok_s = 0;
          m.attention_ms = m.prefill_attention_ms = m.decode_attention_ms = -1;
          m.contiguous_attention_ms = m.write_ms = m.copy_ms = m.swap_ms = -1;
          append_metrics_csv_row(m, csv);
        }
        return csv;
      };
      CHECK(run(false) == run(true));
      ++compared;
    }
    CHECK(compared >= 6);
  }
}
