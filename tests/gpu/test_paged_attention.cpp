#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/execution/attention_reference.h"
#include "core/base/rng.h"
#include "gpu/decode_attention.h"
#include "tests/core/plan_fixture.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

struct Case {
  DType dtype = DType::kF16;
  int32_t heads = 8;
  int32_t kv_heads = 2;
  int32_t head_dim = 128;
  int32_t block_size = 16;
  std::vector<int32_t> lens;
  KernelVersion version = KernelVersion::kV4;
  int32_t partition = 0;
  uint64_t seed = 1;
};

// Random K/V in randomly scattered blocks of a pool whose unused slots hold NaN (a kernel that
// lets an unused slot reach the output shows), random q.
struct HostProblem {
  PagedKv cache;  // host pointers
  std::vector<uint8_t> k, v, q;
  std::vector<int32_t> tables;
  int32_t max_blocks = 0;
  DecodeBatch batch;  // host pointers

  explicit HostProblem(const Case& c) {
    Rng rng(c.seed);
    const int32_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
    max_blocks = (max_len + c.block_size - 1) / c.block_size;
    int32_t needed = 0;
    for (int32_t len : c.lens) needed += (len + c.block_size - 1) / c.block_size;
    const int32_t num_blocks = needed + needed / 2 + 2;
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    // Entries past a sequence's blocks hold garbage (kernels must not use them).
    tables.assign(c.lens.size() * static_cast<size_t>(max_blocks), 0);
    for (size_t i = 0; i < tables.size(); ++i) tables[i] = i % 2 ? -1 : 0x7fffffff;
    size_t next = 0;
    for (size_t b = 0; b < c.lens.size(); ++b) {
      for (int32_t i = 0; i < (c.lens[b] + c.block_size - 1) / c.block_size; ++i) {
        tables[b * max_blocks + i] = perm[next++];
      }
    }
    cache.dtype = c.dtype;
    cache.num_blocks = num_blocks;
    cache.num_kv_heads = c.kv_heads;
    cache.block_size = c.block_size;
    cache.head_dim = c.head_dim;
    const auto bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(c.dtype));
    k.assign(bytes, 0xff);
    v.assign(bytes, 0xff);
    cache.k = k.data();
    cache.v = v.data();
    for (size_t b = 0; b < c.lens.size(); ++b) {
      for (int32_t pos = 0; pos < c.lens[b]; ++pos) {
        const int32_t block = tables[b * max_blocks + pos / c.block_size];
        for (int32_t h = 0; h < c.kv_heads; ++h) {
          const int64_t at = cache.index(block, h, pos % c.block_size, 0);
          for (int32_t d = 0; d < c.head_dim; ++d) {
            store_element(k.data(), c.dtype, at + d, static_cast<float>(rng.normal()));
            store_element(v.data(), c.dtype, at + d, static_cast<float>(2 * rng.uniform01() - 1));
          }
        }
      }
    }
    const int64_t q_elems = static_cast<int64_t>(c.lens.size()) * c.heads * c.head_dim;
    q.resize(static_cast<size_t>(q_elems * dtype_size(c.dtype)));
    for (int64_t i = 0; i < q_elems; ++i) {
      store_element(q.data(), c.dtype, i, static_cast<float>(rng.normal()));
    }
    batch.q = q.data();
    batch.block_tables = tables.data();
    batch.context_lens = c.lens.data();
    batch.batch = static_cast<int32_t>(c.lens.size());
    batch.num_heads = c.heads;
    batch.max_blocks_per_seq = max_blocks;
    batch.max_context_len = max_len;
    batch.scale = attention_scale(c.head_dim);
  }
};

std::vector<float> to_floats(const std::vector<uint8_t>& raw, DType t) {
  std::vector<float> out(raw.size() / dtype_size(t));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = load_element(raw.data(), t, static_cast<int64_t>(i));
  return out;
}

// Runs the case's kernel on the GPU with its output and workspace poisoned with NaN; returns the
// output as floats.
std::vector<float> run_on_gpu(const Case& c, const HostProblem& p) {
  DeviceArray k(p.k), v(p.v), q(p.q), tables(p.tables), lens(c.lens);
  DeviceArray out(p.q.size());
  out.poison();
  DecodeBatch db = p.batch;
  db.q = q.get();
  db.out = out.get();
  db.block_tables = tables.get<int32_t>();
  db.context_lens = lens.get<int32_t>();
  PagedKv cache = p.cache;
  cache.k = k.get();
  cache.v = v.get();
  gpu::AttentionOptions options;
  options.partition_tokens = c.partition;
  const gpu::AttentionPlan plan =
      gpu::plan_attention(c.version, c.dtype, db, c.kv_heads, c.head_dim, options);
  DeviceArray workspace(plan.workspace_bytes);
  workspace.poison();
  CHECK_CUDA(gpu::paged_attention(plan, cache, db, workspace.get(), nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  return to_floats(out.bytes(), c.dtype);
}

// The relative error of the GPU output; every element must be finite (written).
void check_case(Case c) {
  if (small_gpu_tests()) {  // shorter contexts, same shapes and versions
    for (int32_t& len : c.lens) len = std::min(len, 1100);
    if (c.lens.size() > 64) c.lens.resize(64);
  }
  CAPTURE(kernel_version_name(c.version));
  CAPTURE(dtype_name(c.dtype));
  CAPTURE(c.head_dim);
  CAPTURE(c.block_size);
  CAPTURE(c.heads);
  CAPTURE(c.kv_heads);
  CAPTURE(c.lens.size());
  CAPTURE(c.partition);
  const HostProblem p(c);
  const std::vector<float> out = run_on_gpu(c, p);
  const std::vector<double> ref = paged_attention_f64(p.cache, p.batch);
  REQUIRE(out.size() == ref.size());
  const size_t unwritten = static_cast<size_t>(
      std::count_if(out.begin(), out.end(), [](float x) { return !std::isfinite(x); }));
  CHECK(unwritten == 0);
  CHECK(relative_error(out.data(), ref.data(), ref.size()) < tolerance(c.dtype));
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("paged attention matches the CPU reference for every block size") {
    if (skip_without_gpu()) return;
    for (KernelVersion v : kAllKernelVersions) {
      for (int32_t bs : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
        Case c;
        c.version = v;
        c.block_size = bs;
        c.lens = {1, bs - 1, bs, bs + 1, 3 * bs + 5, 100, 777, 4099};
        c.seed = static_cast<uint64_t>(bs);
        check_case(c);
      }
    }
  }

  TEST_CASE("paged attention matches the CPU reference for every head dim and dtype") {
    if (skip_without_gpu()) return;
    for (KernelVersion v : kAllKernelVersions) {
      for (DType t : kExecutorDTypes) {
        for (int32_t d : {64, 128, 256}) {
          Case c;
          c.version = v;
          c.dtype = t;
          c.head_dim = d;
          c.heads = 4;
          c.kv_heads = 4;
          c.lens = {1, 17, 300, 1000, 33};
          c.seed = static_cast<uint64_t>(d) + static_cast<uint64_t>(t);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("paged attention matches the CPU reference for every GQA group size") {
    if (skip_without_gpu()) return;
    for (KernelVersion v : kAllKernelVersions) {
      for (DType t : {DType::kF16, DType::kBF16}) {
        for (int32_t group = 1; group <= 8; ++group) {
          Case c;
          c.version = v;
          c.dtype = t;
          c.kv_heads = 2;
          c.heads = 2 * group;
          c.lens = {5, 129, 700};
          c.seed = static_cast<uint64_t>(group);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("paged attention matches the CPU reference for batches from 1 to 256") {
    if (skip_without_gpu()) return;
    Rng rng(3);
    for (int32_t batch : {1, 7, 64, 256}) {
      std::vector<int32_t> lens(static_cast<size_t>(batch));
      for (int32_t& len : lens) len = static_cast<int32_t>(rng.uniform_int(1, 600));
      for (KernelVersion v : kAllKernelVersions) {
        Case c;
        c.version = v;
        c.heads = 8;
        c.kv_heads = 8;
        c.head_dim = 64;
        c.lens = lens;
        c.seed = static_cast<uint64_t>(batch);
        check_case(c);
      }
    }
  }

  TEST_CASE("paged attention matches the CPU reference at 32k tokens") {
    if (skip_without_gpu()) return;
    for (KernelVersion v : kAllKernelVersions) {
      Case c;
      c.version = v;
      c.lens = {32768, 1, 32767};
      c.seed = 32;
      check_case(c);
    }
    Case bf;
    bf.dtype = DType::kBF16;
    bf.lens = {32768, 4097};
    check_case(bf);
  }

  TEST_CASE("split-KV gives the reference output for any partition size") {
    if (skip_without_gpu()) return;
    Rng rng(9);
    std::vector<int32_t> lens(12);
    for (int32_t& len : lens) len = static_cast<int32_t>(rng.uniform_int(1, 3000));
    for (int32_t part : {1, 7, 16, 100, 512, 4096}) {
      for (DType t : kExecutorDTypes) {
        for (KernelVersion v : {KernelVersion::kV4, KernelVersion::kV5}) {
          Case c;
          c.version = v;
          c.dtype = t;
          c.partition = part;
          c.lens = lens;
          c.heads = 6;
          c.kv_heads = 2;
          c.seed = static_cast<uint64_t>(part);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("contiguous and padded attention match the paged reference") {
    if (skip_without_gpu()) return;
    for (DType t : kExecutorDTypes) {
      for (int32_t part : {0, 64}) {
        for (KernelVersion version : {KernelVersion::kV4, KernelVersion::kV5}) {
          Case c;
          c.dtype = t;
          c.version = version;
          c.lens = {40, 1, 1000, 333};
          c.partition = part;
          const HostProblem p(c);
          const std::vector<double> ref = paged_attention_f64(p.cache, p.batch);
          const int32_t max_len = 1000;
          ContiguousKv host;
          host.dtype = t;
          host.batch = 4;
          host.num_kv_heads = c.kv_heads;
          host.max_len = max_len;
          host.head_dim = c.head_dim;
          std::vector<uint8_t> k(
              static_cast<size_t>(4) * c.kv_heads * max_len * c.head_dim * dtype_size(t),
              0);  // padding must be finite: zeros, as a padded tensor holds
          std::vector<uint8_t> v(k.size(), 0);
          for (int32_t b = 0; b < 4; ++b) {
            for (int32_t pos = 0; pos < c.lens[b]; ++pos) {
              const int32_t block = p.tables[b * p.max_blocks + pos / c.block_size];
              for (int32_t h = 0; h < c.kv_heads; ++h) {
                for (int32_t d = 0; d < c.head_dim; ++d) {
                  const int64_t from = p.cache.index(block, h, pos % c.block_size, d);
                  const int64_t to = host.index(b, h, pos, d);
                  store_element(k.data(), t, to, load_element(p.k.data(), t, from));
                  store_element(v.data(), t, to, load_element(p.v.data(), t, from));
                }
              }
            }
          }
          DeviceArray dk(k), dv(v), q(p.q), lens(c.lens), out(p.q.size());
          ContiguousKv cache = host;
          cache.k = dk.get();
          cache.v = dv.get();
          DecodeBatch db = p.batch;
          db.q = q.get();
          db.out = out.get();
          db.block_tables = nullptr;
          db.context_lens = lens.get<int32_t>();
          for (bool padded : {false, true}) {
            CAPTURE(dtype_name(t));
            CAPTURE(part);
            CAPTURE(padded);
            CAPTURE(kernel_version_name(version));
            cache.read_padded = padded;
            db.max_context_len = max_len;
            gpu::AttentionOptions options;
            options.partition_tokens = part;
            const gpu::AttentionPlan plan =
                gpu::plan_attention(version, c.dtype, db, c.kv_heads, c.head_dim, options);
            DeviceArray workspace(plan.workspace_bytes);
            workspace.poison();
            out.poison();
            CHECK_CUDA(gpu::contiguous_attention(plan, cache, db, workspace.get(), nullptr));
            CHECK_CUDA(cudaDeviceSynchronize());
            const std::vector<float> got = to_floats(out.bytes(), t);
            CHECK(relative_error(got.data(), ref.data(), ref.size()) < tolerance(t));
          }
        }
      }
    }
  }

  TEST_CASE("an attention launch with a bad shape returns an error instead of running") {
    if (skip_without_gpu()) return;
    Case c;
    c.lens = {10};
    HostProblem p(c);
    DecodeBatch db = p.batch;
    PagedKv cache = p.cache;
    cache.head_dim = 96;
    const gpu::AttentionPlan plan = gpu::plan_attention(KernelVersion::kV4, c.dtype, db, 2, 96);
    CHECK(gpu::paged_attention(plan, cache, db, nullptr, nullptr) == cudaErrorInvalidValue);
    cache = p.cache;
    cache.block_size = 12;
    const gpu::AttentionPlan plan2 = gpu::plan_attention(KernelVersion::kV3, c.dtype, db, 2, 128);
    CHECK(gpu::paged_attention(plan2, cache, db, nullptr, nullptr) == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaSuccess);
  }
}
