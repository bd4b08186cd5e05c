// The prefill kernels (gpu/prefill_attention.h) against the CPU reference over sweeps of kernel,
// dtype (fp8 with per-tensor and per-KV-head scales), head dim, GQA group, block size, chunk
// length, prefix length and split-KV, with NaN-poisoned outputs, workspace and unused pool slots.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "gpu/prefill_attention.h"
#include "gpu/supports.h"
#include "tests/core/plan_fixture.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;
using gpu::PrefillKernel;

namespace {

struct Case {
  PrefillKernel kernel = PrefillKernel::kAuto;
  DType dtype = DType::kF16;
  int32_t heads = 8;
  int32_t kv_heads = 2;
  int32_t head_dim = 128;
  int32_t block_size = 16;
  std::vector<int32_t> counts;    // queries of each chunk
  std::vector<int32_t> prefixes;  // cached tokens before each chunk
  int32_t kv_chunk = 0;           // PrefillOptions::kv_chunk
  bool pingpong = false;          // PrefillOptions::pingpong
  bool prefetch_rows = true;      // PrefillOptions::prefetch_rows
  bool per_head_scales = false;   // fp8: one scale per KV head (else per tensor)
  uint64_t seed = 1;
};

// A pool whose used slots hold random K/V (scattered blocks) and whose unused slots hold NaN;
// block-table entries past a sequence's blocks hold garbage; random q (in the query dtype). fp8
// pools hold value / scale, with the scales of the decode tests (test_paged_attention.cpp).
struct HostPrefill {
  PagedKv cache;  // host pointers
  std::vector<uint8_t> k, v, q;
  std::vector<int32_t> tables, query_start{0}, lens;
  std::vector<float> head_scales;  // [2, kv_heads]: K's, then V's
  int32_t max_blocks = 0;

  explicit HostPrefill(const Case& c) {
    Rng rng(c.seed);
    for (size_t b = 0; b < c.counts.size(); ++b) {
      lens.push_back(c.prefixes[b] + c.counts[b]);
      query_start.push_back(query_start.back() + c.counts[b]);
    }
    const int32_t max_len = *std::max_element(lens.begin(), lens.end());
    max_blocks = (max_len + c.block_size - 1) / c.block_size + 1;
    int32_t needed = 0;
    for (int32_t len : lens) needed += (len + c.block_size - 1) / c.block_size;
    const int32_t num_blocks = needed + needed / 2 + 2;
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    tables.assign(lens.size() * static_cast<size_t>(max_blocks), 0);
    for (size_t i = 0; i < tables.size(); ++i) tables[i] = i % 2 ? -1 : 0x7fffffff;
    size_t next = 0;
    for (size_t b = 0; b < lens.size(); ++b) {
      for (int32_t i = 0; i < (lens[b] + c.block_size - 1) / c.block_size; ++i) {
        tables[b * max_blocks + i] = perm[next++];
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
    for (size_t b = 0; b < lens.size(); ++b) {
      for (int32_t pos = 0; pos < lens[b]; ++pos) {
        const int32_t block = tables[b * max_blocks + pos / c.block_size];
        for (int32_t h = 0; h < c.kv_heads; ++h) {
          const int64_t at = cache.index(block, h, pos % c.block_size, 0);
          const float ks = is_fp8(c.dtype) ? cache.scales.k_of(h) : 1.0f;
          const float vs = is_fp8(c.dtype) ? cache.scales.v_of(h) : 1.0f;
          for (int32_t d = 0; d < c.head_dim; ++d) {
            store_element(k.data(), c.dtype, at + d, static_cast<float>(rng.normal()) / ks);
            store_element(v.data(), c.dtype, at + d,
                          static_cast<float>(2 * rng.uniform01() - 1) / vs);
          }
        }
      }
    }
    const DType qt = query_dtype(c.dtype);
    const int64_t q_elems = static_cast<int64_t>(query_start.back()) * c.heads * c.head_dim;
    q.resize(static_cast<size_t>(q_elems * dtype_size(qt)));
    for (int64_t i = 0; i < q_elems; ++i) {
      store_element(q.data(), qt, i, static_cast<float>(rng.normal()));
    }
  }

  PrefillBatch batch(const Case& c) const {
    PrefillBatch pb;
    pb.q = q.data();
    pb.query_start = query_start.data();
    pb.context_lens = lens.data();
    pb.block_tables = tables.data();
    pb.batch = static_cast<int32_t>(lens.size());
    pb.num_queries = query_start.back();
    pb.num_heads = c.heads;
    pb.max_blocks_per_seq = max_blocks;
    pb.scale = attention_scale(c.head_dim);
    return pb;
  }

  gpu::PrefillShape shape(const Case& c) const {
    gpu::PrefillShape s;
    s.dtype = c.dtype;
    s.num_heads = c.heads;
    s.num_kv_heads = c.kv_heads;
    s.head_dim = c.head_dim;
    s.batch = static_cast<int32_t>(lens.size());
    s.query_start = query_start.data();
    s.context_lens = lens.data();
    return s;
  }
};

struct GpuResult {
  gpu::PrefillPlan plan;
  std::vector<float> out;
};

GpuResult run_on_gpu(const Case& c, const HostPrefill& p) {
  GpuResult r;
  gpu::PrefillOptions options;
  options.kernel = c.kernel;
  options.kv_chunk = c.kv_chunk;
  options.pingpong = c.pingpong;
  options.prefetch_rows = c.prefetch_rows;
  r.plan = gpu::plan_prefill(p.shape(c), options);
  DeviceArray k(p.k), v(p.v), q(p.q), tables(p.tables), starts(p.query_start), lens(p.lens);
  DeviceArray scales(p.head_scales);
  DeviceArray index(r.plan.index);
  DeviceArray out(p.q.size());
  out.poison();
  DeviceArray workspace(r.plan.workspace_bytes);
  workspace.poison();
  PrefillBatch pb = p.batch(c);
  pb.q = q.get();
  pb.out = out.get();
  pb.query_start = starts.get<int32_t>();
  pb.context_lens = lens.get<int32_t>();
  pb.block_tables = tables.get<int32_t>();
  PagedKv cache = p.cache;
  cache.k = k.get();
  cache.v = v.get();
  if (!p.head_scales.empty()) {
    cache.scales.k_heads = scales.get<float>();
    cache.scales.v_heads = scales.get<float>() + p.cache.num_kv_heads;
  }
  CHECK_CUDA(
      gpu::prefill_attention(r.plan, index.get<int32_t>(), cache, pb, workspace.get(), nullptr));
  CHECK_CUDA(cudaDeviceSynchronize());
  const std::vector<uint8_t> raw = out.bytes();
  const DType out_dtype = query_dtype(c.dtype);
  r.out.resize(raw.size() / dtype_size(out_dtype));
  for (size_t i = 0; i < r.out.size(); ++i) {
    r.out[i] = load_element(raw.data(), out_dtype, static_cast<int64_t>(i));
  }
  return r;
}

// Runs the case and compares every query (all its heads) with the float64 reference; returns the
// plan the launch used.
gpu::PrefillPlan check_case(const Case& c) {
  CAPTURE(gpu::prefill_kernel_name(c.kernel));
  CAPTURE(dtype_name(c.dtype));
  CAPTURE(c.head_dim);
  CAPTURE(c.heads / c.kv_heads);
  CAPTURE(c.block_size);
  CAPTURE(c.kv_chunk);
  CAPTURE(c.per_head_scales);
  CAPTURE(c.pingpong);
  const HostPrefill p(c);
  const GpuResult r = run_on_gpu(c, p);
  const std::vector<double> ref = prefill_attention_f64(p.cache, p.batch(c));
  REQUIRE(r.out.size() == ref.size());
  const size_t unwritten = static_cast<size_t>(
      std::count_if(r.out.begin(), r.out.end(), [](float x) { return !std::isfinite(x); }));
  CHECK(unwritten == 0);
  const size_t per_query = static_cast<size_t>(c.heads) * c.head_dim;
  double worst = 0.0;
  int32_t worst_query = -1;
  for (int32_t i = 0; i < p.query_start.back(); ++i) {
    const double e =
        relative_error(r.out.data() + i * per_query, ref.data() + i * per_query, per_query);
    if (!(e <= worst)) {
      worst = e;
      worst_query = i;
    }
  }
  CAPTURE(worst_query);
  CAPTURE(gpu::prefill_kernel_name(r.plan.kernel));
  CAPTURE(r.plan.kv_chunk);
  CHECK(worst < tolerance(c.dtype));
  return r.plan;
}

std::vector<PrefillKernel> kernels_for(DType t) {
  std::vector<PrefillKernel> ks;
  for (PrefillKernel k : {PrefillKernel::kSimt, PrefillKernel::kMma, PrefillKernel::kWgmma}) {
    if (gpu::prefill_kernel_available(k, t)) {
      ks.push_back(k);
    } else {
      MESSAGE("prefill kernel ", gpu::prefill_kernel_name(k), " is not available for ",
              dtype_name(t), " on this device: not tested");
    }
  }
  return ks;
}

int32_t scaled(int32_t n) {
  return small_gpu_tests() ? std::max(1, n / 4) : n;
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("prefill kernels match the reference for every dtype and head dim on a ragged batch") {
    if (skip_without_gpu()) return;
    for (DType t : kExecutorDTypes) {
      for (PrefillKernel k : kernels_for(t)) {
        for (int32_t d : {64, 128, 256}) {
          Case c;
          c.kernel = k;
          c.dtype = t;
          c.head_dim = d;
          // A one-token chunk, chunks that are not multiples of any tile, a block-unaligned
          // prefix, no prefix, a long prefix.
          c.counts = {1, 17, scaled(130), 1, scaled(64)};
          c.prefixes = {0, 37, scaled(256), 300, 0};
          c.seed = static_cast<uint64_t>(d) + 7;
          const gpu::PrefillPlan plan = check_case(c);
          CHECK(plan.kernel == k);
        }
      }
    }
  }

  TEST_CASE("prefill kernels read fp8 pools through per-tensor and per-KV-head scales") {
    if (skip_without_gpu()) return;
    struct Heads {
      int32_t heads, kv_heads;
    };
    for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
      for (bool per_head : {false, true}) {
        for (PrefillKernel k : kernels_for(t)) {
          for (int32_t d : {64, 128, 256}) {
            // MHA, group 4 and group 8 over three KV heads' scales at most.
            const Heads h = d == 64 ? Heads{3, 3} : d == 128 ? Heads{12, 3} : Heads{16, 2};
            Case c;
            c.kernel = k;
            c.dtype = t;
            c.head_dim = d;
            c.heads = h.heads;
            c.kv_heads = h.kv_heads;
            c.block_size = d == 128 ? 8 : 16;
            c.per_head_scales = per_head;
            c.counts = {1, 17, scaled(130), 1, scaled(64)};
            c.prefixes = {0, 37, scaled(256), 300, 0};
            // Per-head scales also through split-KV partials (one tile a split) and, on wgmma,
            // the consumers' ping-pong schedule.
            c.kv_chunk = per_head ? 1 : 0;
            c.pingpong = per_head;
            c.seed = static_cast<uint64_t>(d) * 3 + (per_head ? 1 : 0) +
                     (t == DType::kFp8E5M2 ? 1000 : 0);
            const gpu::PrefillPlan plan = check_case(c);
            CHECK(plan.kernel == k);
            if (per_head && k != PrefillKernel::kSimt) CHECK(plan.num_merged > 0);
          }
        }
      }
    }
  }

  TEST_CASE("fp8 pools have every prefill kernel that fp16 pools have") {
    for (PrefillKernel k : {PrefillKernel::kSimt, PrefillKernel::kMma, PrefillKernel::kWgmma}) {
      CAPTURE(gpu::prefill_kernel_name(k));
      for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
        CHECK(gpu::prefill_kernel_available(k, t) == gpu::prefill_kernel_available(k, DType::kF16));
      }
    }
    CHECK(gpu::prefill_kernel_available(PrefillKernel::kSimt, DType::kFp8E4M3));
    KvGeometry g;
    g.num_heads = 8;
    g.num_kv_heads = 2;
    g.head_dim = 128;
    g.block_size = 16;
    g.dtype = DType::kFp8E5M2;
    g.k_head_scales = {0.01f, 0.02f};
    g.v_head_scales = {0.03f, 0.04f};
    CHECK(gpu::supports(g, KernelVersion::kV5).ok());
  }

  TEST_CASE("the wgmma prefill kernel's schedules all match the reference") {
    if (skip_without_gpu()) return;
    if (!gpu::prefill_kernel_available(PrefillKernel::kWgmma, DType::kF16)) {
      MESSAGE("the wgmma prefill kernel is not available on this device: not tested");
      return;
    }
    for (bool pingpong : {false, true}) {
      for (bool prefetch : {false, true}) {
        for (int32_t d : {64, 128, 256}) {
          CAPTURE(pingpong);
          CAPTURE(prefetch);
          Case c;
          c.kernel = PrefillKernel::kWgmma;
          c.dtype = DType::kBF16;
          c.head_dim = d;
          c.block_size = 8;
          c.counts = {scaled(300), 2, scaled(129)};
          c.prefixes = {5, scaled(400), 0};
          c.pingpong = pingpong;
          c.prefetch_rows = prefetch;
          c.seed = static_cast<uint64_t>(d) + (pingpong ? 100 : 0) + (prefetch ? 10 : 0);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("prefill kernels match the reference for every GQA group and block size") {
    if (skip_without_gpu()) return;
    struct Heads {
      int32_t heads, kv_heads;
    };
    for (PrefillKernel k : kernels_for(DType::kBF16)) {
      for (Heads h :
           {Heads{4, 4}, Heads{8, 4}, Heads{6, 2}, Heads{8, 2}, Heads{16, 2}, Heads{7, 1}}) {
        for (int32_t bs : {8, 16, 32, 64, 128}) {
          Case c;
          c.kernel = k;
          c.dtype = bs % 32 == 0 ? DType::kF16 : DType::kBF16;
          c.heads = h.heads;
          c.kv_heads = h.kv_heads;
          c.head_dim = bs == 64 ? 64 : 128;
          c.block_size = bs;
          c.counts = {scaled(65), 3, scaled(40)};
          c.prefixes = {19, 0, bs + 1};
          c.seed = static_cast<uint64_t>(bs * 31 + h.heads);
          check_case(c);
        }
      }
    }
  }

  TEST_CASE("split-KV prefill matches the reference, forced or chosen for few long-prefix chunks") {
    if (skip_without_gpu()) return;
    for (PrefillKernel k : kernels_for(DType::kF16)) {
      if (k == PrefillKernel::kSimt) continue;  // never splits
      for (int32_t d : {64, 128, 256}) {
        for (int32_t chunk : {1, 0, 300}) {  // one KV tile, chosen, not a tile multiple
          Case c;
          c.kernel = k;
          c.head_dim = d;
          c.heads = 8;
          c.kv_heads = 1;
          c.counts = {5, scaled(40), 1};
          c.prefixes = {scaled(3000), scaled(517), 77};
          c.kv_chunk = chunk;
          c.seed = static_cast<uint64_t>(d + chunk);
          const gpu::PrefillPlan plan = check_case(c);
          CHECK(plan.kv_chunk > 0);  // so few items split even when the plan chooses
          CHECK(plan.num_merged == plan.index.size() / 4 - plan.num_items * 2);
        }
      }
    }
  }

  TEST_CASE("a long chunk over many KV tiles matches the reference") {
    if (skip_without_gpu()) return;
    for (PrefillKernel k : kernels_for(DType::kF16)) {
      if (k == PrefillKernel::kSimt) continue;
      Case c;
      c.kernel = k;
      c.heads = 8;
      c.kv_heads = 1;
      c.head_dim = 128;
      c.counts = {scaled(1000)};
      c.prefixes = {scaled(200)};
      c.kv_chunk = -1;
      check_case(c);
    }
  }

  TEST_CASE("the prefill plan covers every query's keys exactly once, longest items first") {
    if (skip_without_gpu()) return;
    for (PrefillKernel k : kernels_for(DType::kF16)) {
      if (k == PrefillKernel::kSimt) continue;
      for (int32_t chunk : {-1, 1, 0}) {
        Case c;
        c.kernel = k;
        c.heads = 6;
        c.kv_heads = 2;  // group 3: tiles start inside a query's group
        c.counts = {200, 1, 33};
        c.prefixes = {0, 700, 64};
        const HostPrefill p(c);
        gpu::PrefillOptions options;
        options.kernel = k;
        options.kv_chunk = chunk;
        const gpu::PrefillPlan plan = gpu::plan_prefill(p.shape(c), options);
        CAPTURE(gpu::prefill_kernel_name(k));
        CAPTURE(chunk);
        const int32_t group = c.heads / c.kv_heads;
        // covered[packed row of each entry] = keys counted over the items
        std::vector<std::vector<int64_t>> covered(c.counts.size());
        for (size_t b = 0; b < c.counts.size(); ++b) covered[b].assign(c.counts[b] * group, 0);
        int32_t previous = 1 << 30;
        for (int32_t i = 0; i < plan.num_items; ++i) {
          const int32_t* it = plan.index.data() + 8 * i;
          const int32_t b = it[0], row0 = it[1], begin = it[2], end = it[3];
          CHECK(end - begin <= previous);
          previous = end - begin;
          // Split items write partials (entries longer than one split), others the output.
          CHECK((it[4] >= 0) == (plan.kv_chunk > 0 && c.prefixes[b] + c.counts[b] > plan.kv_chunk));
          for (int32_t r = row0; r < std::min(row0 + plan.tile_rows, c.counts[b] * group); ++r) {
            const int32_t lim = c.prefixes[b] + r / group + 1;
            covered[b][r] += std::max(0, std::min(end, lim) - begin);
          }
        }
        for (size_t b = 0; b < c.counts.size(); ++b) {
          for (int32_t r = 0; r < c.counts[b] * group; ++r) {
            CAPTURE(b);
            CAPTURE(r);
            REQUIRE(covered[b][r] == c.prefixes[b] + r / group + 1);
          }
        }
        int64_t pairs = 0;
        for (size_t b = 0; b < c.counts.size(); ++b) {
          for (int32_t j = 0; j < c.counts[b]; ++j) pairs += c.prefixes[b] + j + 1;
        }
        CHECK(plan.attended_pairs == pairs);
      }
    }
  }
}
