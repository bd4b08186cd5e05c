#include <doctest/doctest.h>

#include "core/execution/reference_executor.h"
#include "gpu/cuda_executor.h"
#include "tests/core/plan_fixture.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

KvGeometry geometry(DType t, int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t bs) {
  KvGeometry g;
  g.num_layers = 2;
  g.num_heads = heads;
  g.num_kv_heads = kv_heads;
  g.head_dim = head_dim;
  g.block_size = bs;
  g.dtype = t;
  g.num_gpu_blocks = 64;
  g.num_cpu_blocks = 24;
  g.seed = 5;
  return g;
}

void check_pools_equal(const KvExecutor& a, const KvExecutor& b) {
  const KvGeometry& g = a.geometry();
  for (int32_t l = 0; l < g.num_layers; ++l) {
    for (Pool pool : {Pool::kGpu, Pool::kCpu}) {
      const int32_t blocks = pool == Pool::kGpu ? g.num_gpu_blocks : g.num_cpu_blocks;
      for (BlockId blk = 0; blk < blocks; ++blk) {
        const auto x = a.read_block(pool, l, blk);
        const auto y = b.read_block(pool, l, blk);
        REQUIRE(x.ok());
        REQUIRE(y.ok());
        CAPTURE(l);
        CAPTURE(blk);
        CAPTURE(pool == Pool::kGpu);
        REQUIRE(x.value.k == y.value.k);
        REQUIRE(x.value.v == y.value.v);
      }
    }
  }
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("the CUDA and CPU executors agree on random step plans") {
    if (skip_without_gpu()) return;
    struct Shape {
      int32_t heads, kv_heads, head_dim, block_size;
    };
    // Every decode version with the default prefill kernel, and v5 with each prefill kernel,
    // split-KV forced or not.
    struct Kernels {
      KernelVersion decode;
      gpu::PrefillKernel prefill;
      int32_t kv_chunk;
    };
    std::vector<Kernels> configs;
    for (KernelVersion v : kAllKernelVersions) configs.push_back({v, gpu::PrefillKernel::kAuto, 0});
    for (gpu::PrefillKernel k :
         {gpu::PrefillKernel::kSimt, gpu::PrefillKernel::kMma, gpu::PrefillKernel::kWgmma}) {
      configs.push_back({KernelVersion::kV5, k, 1});  // split at every KV tile
    }
    for (const Kernels& kernels : configs) {
      for (DType t : kExecutorDTypes) {
        for (Shape s : {Shape{4, 2, 64, 8}, Shape{8, 1, 128, 16}, Shape{3, 3, 256, 32}}) {
          if (!kernel_supports(kernels.decode, t)) continue;
          CAPTURE(kernel_version_name(kernels.decode));
          CAPTURE(gpu::prefill_kernel_name(kernels.prefill));
          CAPTURE(dtype_name(t));
          CAPTURE(s.head_dim);
          KvGeometry g = geometry(t, s.heads, s.kv_heads, s.head_dim, s.block_size);
          if (is_fp8(t) && s.kv_heads == 2) {  // per-KV-head scales; the others per tensor
            g.k_head_scales = {0.01f, 0.003f};
            g.v_head_scales = {0.25f, 0.0041f};
          }
          auto cpu = ReferenceExecutor::create(g);
          gpu::CudaExecutorOptions options;
          options.kernel = kernels.decode;
          options.partition_tokens = 32;  // v4 and v5 split every longer context
          options.prefill.kernel = kernels.prefill;
          options.prefill.kv_chunk = kernels.kv_chunk;
          auto cuda = gpu::CudaExecutor::create(g, options);
          REQUIRE(cpu.ok());
          REQUIRE_MESSAGE(cuda.ok(), cuda.status.error);
          PlanFixture fixture(g, 17 + static_cast<uint64_t>(s.head_dim));
          for (int step = 0; step < (small_gpu_tests() ? 4 : 20); ++step) {
            CAPTURE(step);
            const StepPlan plan = fixture.next();
            const StepResult a = cpu.value->execute(plan);
            const StepResult b = cuda.value->execute(plan);
            REQUIRE(a.ok());
            REQUIRE_MESSAGE(b.ok(), b.status.error);
            CHECK(b.stages_applied == 5);
            CHECK(b.times.attention_ms ==
                  doctest::Approx(b.times.prefill_attention_ms + b.times.decode_attention_ms));
            const auto out = cuda.value->read_output();
            REQUIRE_MESSAGE(out.ok(), out.status.error);
            const size_t per_query = static_cast<size_t>(g.num_heads) * g.head_dim;
            const auto queries = static_cast<size_t>(plan.num_queries());
            REQUIRE(out.value.size() == per_query * queries * g.num_layers);
            for (int32_t l = 0; l < g.num_layers; ++l) {
              const std::vector<double> exact = fixture.exact_step_attention(l);
              for (size_t i = 0; i < queries; ++i) {
                CAPTURE(i);
                CHECK(relative_error(out.value.data() + (l * queries + i) * per_query,
                                     exact.data() + i * per_query, per_query) < tolerance(t));
              }
            }
          }
          if (!small_gpu_tests()) {
            CHECK(fixture.partial_chunks() > 0);
            CHECK(fixture.prefix_hits() > 0);
          }
          check_pools_equal(*cpu.value, *cuda.value);
        }
      }
    }
  }

  TEST_CASE("the CUDA executor refuses fp8 pools for the kernels that do not read them") {
    if (skip_without_gpu()) return;
    gpu::CudaExecutorOptions options;
    options.kernel = KernelVersion::kV2;
    const auto r = gpu::CudaExecutor::create(geometry(DType::kFp8E4M3, 4, 2, 64, 8), options);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status.error.find("does not read fp8_e4m3 pools") != std::string::npos);
    options.kernel = KernelVersion::kV1;
    CHECK_FALSE(gpu::CudaExecutor::create(geometry(DType::kFp8E5M2, 4, 2, 64, 8), options).ok());
    options.kernel = KernelVersion::kV3;
    CHECK(gpu::CudaExecutor::create(geometry(DType::kFp8E5M2, 4, 2, 64, 8), options).ok());
  }

  TEST_CASE("a pool larger than free GPU memory is refused with both byte counts") {
    if (skip_without_gpu()) return;
    KvGeometry g = geometry(DType::kF16, 32, 32, 128, 16);
    g.num_layers = 80;
    g.num_gpu_blocks = 1 << 20;  // 80 layers x 1M blocks x 256 KiB: far beyond any GPU
    const auto r = gpu::CudaExecutor::create(g);
    REQUIRE_FALSE(r.ok());
    MESSAGE(r.status.error);
    CHECK(r.status.error.find(std::to_string(g.bytes_per_block() * g.num_gpu_blocks)) !=
          std::string::npos);
    CHECK(r.status.error.find("bytes of GPU memory are free") != std::string::npos);
    CHECK(r.status.error.find("the largest pool that fits is") != std::string::npos);
  }

  TEST_CASE("an invalid plan leaves the CUDA executor unchanged and usable") {
    if (skip_without_gpu()) return;
    const KvGeometry g = geometry(DType::kF16, 4, 2, 64, 8);
    auto cuda = gpu::CudaExecutor::create(g);
    REQUIRE(cuda.ok());
    StepPlan fill;
    fill.block_size = g.block_size;
    fill.slot_mapping = {0, 1, 2};
    fill.new_tokens = {5, 6, 7};
    fill.new_positions = {0, 1, 2};
    REQUIRE(cuda.value->execute(fill).ok());
    const BlockData before = cuda.value->read_block(Pool::kGpu, 1, 0).value;
    StepPlan bad = fill;
    bad.copies = {{0, 1}};
    bad.slot_mapping = {3, 4, 9999};
    const StepResult r = cuda.value->execute(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.stages_applied == 0);
    CHECK(cuda.value->read_block(Pool::kGpu, 1, 0).value.k == before.k);
    CHECK(cuda.value->read_block(Pool::kGpu, 1, 1).value.k != before.k);

    StepPlan good;
    good.block_size = g.block_size;
    good.slot_mapping = {3};
    good.new_tokens = {8};
    good.new_positions = {3};
    good.block_tables = {0};
    good.max_blocks_per_seq = 1;
    good.context_lens = {4};
    good.query_start = {0, 1};
    const StepResult ok = cuda.value->execute(good);
    REQUIRE_MESSAGE(ok.ok(), ok.status.error);
    CHECK(ok.stages_applied == 5);
    CHECK(ok.times.attention_ms > 0.0);
    CHECK(ok.times.write_kv_ms > 0.0);
    CHECK(ok.times.total_ms() >= ok.times.attention_ms);
    CHECK(cuda.value->read_output().ok());
  }
}
