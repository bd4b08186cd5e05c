// The CUDA backend on whole scenarios: against the CPU reference at sampled steps, and against the
// accounting backend on every metric but the measured times.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "core/engine/engine.h"
#include "core/execution/executor_backend.h"
#include "core/execution/reference_executor.h"
#include "core/config/scenario.h"
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
  TeeBackend(std::unique_ptr<KvExecutor> gpu, std::unique_ptr<KvExecutor> cpu)
      : gpu_(std::move(gpu)), cpu_(std::move(cpu)) {}
  std::string name() const override { return "tee"; }
  std::string description() const override { return "CUDA and CPU reference in lockstep"; }

  KernelTimes execute(const StepPlan& plan) override {
    const StepResult g = gpu_->execute(plan), c = cpu_->execute(plan);
    REQUIRE_MESSAGE(g.ok(), g.status.error);
    REQUIRE_MESSAGE(c.ok(), c.status.error);
    for (int32_t b = 0; b < plan.num_prefills; ++b) {
      chunks_after_prefix += plan.context_lens[b] > plan.queries_of(b);
    }
    mixed_steps += plan.num_prefills > 0 && plan.num_decodes() > 0;
    if (plan.batch() > 0 && plan.step % 3 == 0) compare_outputs(plan);
    if (plan.step % 25 == 0) compare_pools();
    ++steps_;
    return {};
  }
  int compared_outputs = 0, compared_pools = 0;
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
    CHECK(relative_error(g.value.data(), ref.data(), ref.size()) < tolerance(gpu_->geometry().dtype));
    ++compared_outputs;
  }

  std::unique_ptr<KvExecutor> gpu_, cpu_;
};

const char* kScenario = R"(name = "tee"
description = "prefix hits, samples, copy-on-write, swapping, on a small pool"
seed = 3
[model]
preset = "llama-3-8b"
[hardware]
num_gpu_blocks = 80
swap_space_gib = 0.02
[cache]
block_size = 16
prefix_caching = true
[scheduler]
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
      Scenario sc = parse_scenario(kScenario, std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/tee.toml");
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

  TEST_CASE("every scenario gives the accounting backend's metrics on the CUDA backend") {
    if (skip_without_gpu()) return;
    for (const std::string& file : list_scenarios()) {
      CAPTURE(file);
      auto run = [&](bool cuda) {
        Scenario sc = load_scenario(file);
        sc.engine.max_steps = small_gpu_tests() ? 20 : 150;
        std::unique_ptr<Backend> backend = std::make_unique<AccountingBackend>();
        if (cuda) {
          gpu::CudaExecutorOptions options;
          options.compare_contiguous = true;
          auto ex = gpu::CudaExecutor::create(sc.engine.geometry, options);
          REQUIRE_MESSAGE(ex.ok(), ex.status.error);
          backend = std::make_unique<ExecutorBackend>(std::move(ex.value), "cuda", "test");
        }
        std::vector<RequestSpec> requests = load_requests(sc);
        Engine e(sc.engine, std::move(requests), std::move(backend));
        std::vector<StepMetrics> rows;
        while (!e.done()) {
          e.step();
          StepMetrics m = e.last();
          if (cuda && m.batch_size > 0) CHECK(m.attention_ms >= 0);  // measured by CUDA events
          m.attention_ms = m.contiguous_attention_ms = m.write_ms = m.copy_ms = m.swap_ms = -1;
          rows.push_back(m);
        }
        return rows;
      };
      const std::vector<StepMetrics> a = run(false), c = run(true);
      REQUIRE(a.size() == c.size());
      std::string csv_a, csv_c;
      for (const StepMetrics& m : a) append_metrics_csv_row(m, csv_a);
      for (const StepMetrics& m : c) append_metrics_csv_row(m, csv_c);
      CHECK(csv_a == csv_c);
    }
  }
}
