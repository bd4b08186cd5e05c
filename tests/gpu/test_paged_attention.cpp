#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
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
  int32_t v6_warps = 0;
  bool per_head_scales = false;  // fp8: one scale per KV head (else per tensor)
  bool per_head_tables = false;  // v6: a block-table row per (sequence, KV head)
  bool host_lens = true;         // the plan sees the context lengths
  uint64_t seed = 1;
};

// Random K/V in randomly scattered blocks of a pool whose unused slots hold NaN (a kernel that
// lets an unused slot reach the output shows), random q. fp8 pools hold value / scale.
struct HostProblem {
  PagedKv cache;  // host pointers
  std::vector<uint8_t> k, v, q;
  std::vector<int32_t> tables;
  std::vector<float> head_scales;  // [2, kv_heads]: K's, then V's
  int32_t max_blocks = 0;
  DecodeBatch batch;  // host pointers

  explicit HostProblem(const Case& c) {
    Rng rng(c.seed);
    const int32_t max_len = *std::max_element(c.lens.begin(), c.lens.end());
    max_blocks = (max_len + c.block_size - 1) / c.block_size;
    const int32_t rows = c.per_head_tables ? c.kv_heads : 1;  // table rows per sequence
    int32_t needed = 0;
    for (int32_t len : c.lens) needed += (len + c.block_size - 1) / c.block_size;
    const int32_t num_blocks = needed + needed / 2 + 2;
    // Entries past a sequence's blocks hold garbage (kernels must not use them).
    tables.assign(c.lens.size() * rows * static_cast<size_t>(max_blocks), 0);
    for (size_t i = 0; i < tables.size(); ++i) tables[i] = i % 2 ? -1 : 0x7fffffff;
    for (int32_t r = 0; r < rows; ++r) {
      std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
      std::iota(perm.begin(), perm.end(), 0);
      for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
      size_t next = 0;
      for (size_t b = 0; b < c.lens.size(); ++b) {
        for (int32_t i = 0; i < (c.lens[b] + c.block_size - 1) / c.block_size; ++i) {
          tables[(b * rows + r) * max_blocks + i] = perm[next++];
        }
      }
    }
    cache.dtype = c.dtype;
    cache.num_blocks = num_blocks;
    cache.num_kv_heads = c.kv_heads;
    cache.block_size = c.block_size;
    cache.head_dim = c.head_dim;
    if (is_fp8(c.dtype)) {
      cache.scales.k = 1.0f / 64;  // normal(0, 1) keys up to ~5: 320 < 448
      cache.scales.v = 1.0f / 256;
      if (c.per_head_scales) {
        for (int32_t h = 0; h < c.kv_heads; ++h) {
          head_scales.push_back(0.013f * (1.0f + 0.37f * static_cast<float>(h)));
        }
        for (int32_t h = 0; h < c.kv_heads; ++h) {
          head_scales.push_back(0.0043f / (1.0f + 0.21f * static_cast<float>(h)));
        }
        cache.scales.k_heads = head_scales.data();
        cache.scales.v_heads = head_scales.data() + c.kv_heads;
      }
    }
    const auto bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(c.dtype));
    k.assign(bytes, 0xff);
    v.assign(bytes, 0xff);
    cache.k = k.data();
    cache.v = v.data();
    for (size_t b = 0; b < c.lens.size(); ++b) {
      for (int32_t h = 0; h < c.kv_heads; ++h) {
        const int32_t* table = tables.data() + (b * rows + (rows > 1 ? h : 0)) * max_blocks;
        const float ks = is_fp8(c.dtype) ? cache.scales.k_of(h) : 1.0f;
        const float vs = is_fp8(c.dtype) ? cache.scales.v_of(h) : 1.0f;
        for (int32_t pos = 0; pos < c.lens[b]; ++pos) {
          const int64_t at = cache.index(table[pos / c.block_size], h, pos % c.block_size, 0);
          for (int32_t d = 0; d < c.head_dim; ++d) {
            store_element(k.data(), c.dtype, at + d, static_cast<float>(rng.normal()) / ks);
            store_element(v.data(), c.dtype, at + d,
                          static_cast<float>(2 * rng.uniform01() - 1) / vs);
          }
        }
      }
    }
    const DType qt = query_dtype(c.dtype);
    const int64_t q_elems = static_cast<int64_t>(c.lens.size()) * c.heads * c.head_dim;
    q.resize(static_cast<size_t>(q_elems * dtype_size(qt)));
    for (int64_t i = 0; i < q_elems; ++i) {
      store_element(q.data(), qt, i, static_cast<float>(rng.normal()));
    }
    batch.q = q.data();
    batch.block_tables = tables.data();
    batch.context_lens = c.lens.data();
    batch.batch = static_cast<int32_t>(c.lens.size());
    batch.num_heads = c.heads;
    batch.max_blocks_per_seq = max_blocks;
    batch.max_context_len = max_len;
    batch.scale = attention_scale(c.head_dim);
    batch.table_head_stride = c.per_head_tables ? max_blocks : 0;
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
  DeviceArray k(p.k), v(p.v), q(p.q), tables(p.tables), lens(c.lens), scales(p.head_scales);
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
  if (c.per_head_scales && is_fp8(c.dtype)) {
    cache.scales.k_heads = scales.get<float>();
    cache.scales.v_heads = scales.get<float>() + c.kv_heads;
  }
  gpu::AttentionOptions options;
  options.partition_tokens = c.partition;
  options.v6_warps = c.v6_warps;
  if (c.host_lens) options.host_context_lens = c.lens.data();
  const gpu::AttentionPlan plan =
      gpu::plan_attention(c.version, c.dtype, db, c.kv_heads, c.head_dim, options);
  DeviceArray workspace(plan.workspace_bytes);
  workspace.poison();
  CHECK_CUDA(gpu::stage_attention_plan(plan, workspace.get(), nullptr));
  CHECK_CUDA(gpu::paged_attention(plan, cache, db, workspace.get(), nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<float> first = to_floats(out.bytes(), query_dtype(c.dtype));
  if (c.version == KernelVersion::kV6) {
    // A second launch on the same staged plan (the merge counters reset themselves) gives the
    // same output.
    out.poison();
    CHECK_CUDA(gpu::paged_attention(plan, cache, db, workspace.get(), nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    const std::vector<float> second = to_floats(out.bytes(), query_dtype(c.dtype));
    CHECK(std::equal(first.begin(), first.end(), second.begin(),
                     [](float x, float y) { return x == y || (std::isnan(x) && std::isnan(y)); }));
  }
  return first;
}

// The relative error of the GPU output; every element must be finite (written).
void check_case(Case c) {
  if (!kernel_supports(c.version, c.dtype)) return;  // v1, v2 do not read fp8
  if (small_gpu_tests()) {                           // shorter contexts, same shapes and versions
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
  CAPTURE(c.v6_warps);
  CAPTURE(c.per_head_scales);
  CAPTURE(c.per_head_tables);
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
        c.lens = {1, std::max(1, bs - 1), bs, bs + 1, 3 * bs + 5, 100, 777, 4099};
        c.seed = static_cast<uint64_t>(bs);
        check_case(c);
        c.dtype = DType::kFp8E4M3;
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
      for (DType t : {DType::kF16, DType::kBF16, DType::kFp8E4M3, DType::kFp8E5M2}) {
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
        c.dtype = DType::kFp8E4M3;
        c.kv_heads = 2;
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
    for (KernelVersion v : {KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
      Case fp8;
      fp8.version = v;
      fp8.dtype = DType::kFp8E4M3;
      fp8.per_head_scales = true;
      fp8.lens = {32768, 1, 32767};
      check_case(fp8);
    }
  }

  TEST_CASE("fp8 attention matches the CPU reference with per-tensor and per-KV-head scales") {
    if (skip_without_gpu()) return;
    for (KernelVersion v :
         {KernelVersion::kV3, KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
      for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
        for (int32_t d : {64, 128, 256}) {
          for (int32_t group : {1, 4, 8}) {
            for (bool per_head : {false, true}) {
              Case c;
              c.version = v;
              c.dtype = t;
              c.head_dim = d;
              c.kv_heads = 2;
              c.heads = 2 * group;
              c.per_head_scales = per_head;
              c.lens = {1, 31, 32, 33, 300, 1500};
              c.seed = static_cast<uint64_t>(d + group);
              check_case(c);
            }
          }
        }
      }
    }
  }

  TEST_CASE("v6 gives the reference output for any number of warps, lengths known or not") {
    if (skip_without_gpu()) return;
    Rng rng(12);
    std::vector<int32_t> lens(20);
    for (int32_t& len : lens) len = static_cast<int32_t>(rng.uniform_int(1, 2500));
    for (int32_t warps : {0, 1, 3, 37, 1000, 100000}) {
      for (DType t : {DType::kF16, DType::kBF16, DType::kFp8E4M3}) {
        for (bool host_lens : {true, false}) {
          Case c;
          c.version = KernelVersion::kV6;
          c.dtype = t;
          c.v6_warps = warps;
          c.host_lens = host_lens;
          c.lens = lens;
          c.heads = 8;
          c.kv_heads = 2;
          c.seed = static_cast<uint64_t>(warps);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("v3 to v6 read a block-table row per KV head when given one") {
    if (skip_without_gpu()) return;
    for (KernelVersion v :
         {KernelVersion::kV3, KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
      for (DType t : {DType::kF16, DType::kFp8E5M2}) {
        for (int32_t bs : {8, 16, 32}) {
          Case c;
          c.version = v;
          c.dtype = t;
          c.block_size = bs;
          c.per_head_tables = true;
          c.heads = 8;
          c.kv_heads = 4;
          c.lens = {5, 100, 1000, 2049};
          c.v6_warps = 7;
          c.partition = bs == 16 ? 128 : 0;
          check_case(c);
        }
      }
    }
    // The seed's kernels refuse per-head tables instead of reading the wrong rows.
    Case c;
    c.per_head_tables = true;
    c.lens = {10};
    HostProblem p(c);
    const gpu::AttentionPlan plan =
        gpu::plan_attention(KernelVersion::kV2, c.dtype, p.batch, 2, 128);
    CHECK(gpu::paged_attention(plan, p.cache, p.batch, nullptr, nullptr) == cudaErrorInvalidValue);
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
        for (KernelVersion version : {KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
          Case c;
          c.dtype = t;
          c.v6_warps = part;
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
          cache.scales = p.cache.scales;  // per tensor: no pointers
          DecodeBatch db = p.batch;
          db.q = q.get();
          db.out = out.get();
          db.block_tables = nullptr;
          db.context_lens = lens.get<int32_t>();
          for (bool padded : {false, true}) {
            if (padded && version == KernelVersion::kV6) continue;  // v6 reads real lengths
            CAPTURE(dtype_name(t));
            CAPTURE(part);
            CAPTURE(padded);
            CAPTURE(kernel_version_name(version));
            cache.read_padded = padded;
            db.max_context_len = max_len;
            gpu::AttentionOptions options;
            options.partition_tokens = part;
            options.v6_warps = part;
            options.host_context_lens = c.lens.data();
            const gpu::AttentionPlan plan =
                gpu::plan_attention(version, c.dtype, db, c.kv_heads, c.head_dim, options);
            DeviceArray workspace(plan.workspace_bytes);
            workspace.poison();
            out.poison();
            CHECK_CUDA(gpu::stage_attention_plan(plan, workspace.get(), nullptr));
            CHECK_CUDA(gpu::contiguous_attention(plan, cache, db, workspace.get(), nullptr));
            CHECK_CUDA(cudaDeviceSynchronize());
            const std::vector<float> got = to_floats(out.bytes(), query_dtype(t));
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
    cache = p.cache;
    cache.dtype = DType::kFp8E4M3;
    const gpu::AttentionPlan plan3 =
        gpu::plan_attention(KernelVersion::kV2, cache.dtype, db, 2, 128);
    CHECK(gpu::paged_attention(plan3, cache, db, nullptr, nullptr) == cudaErrorNotSupported);
    CHECK(cudaGetLastError() == cudaSuccess);
  }
}
