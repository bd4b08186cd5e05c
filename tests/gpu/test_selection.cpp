#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "core/execution/key_bounds.h"
#include "core/execution/reference_executor.h"
#include "core/execution/selection.h"
#include "gpu/cuda_executor.h"
#include "gpu/decode_attention.h"
#include "gpu/selection.h"
#include "gpu/supports.h"
#include "tests/core/plan_fixture.h"
#include "tests/core/selection_fixture.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

// The pool dtypes whose key bounds the executors keep (fp8 pools: not yet).
constexpr DType kBoundDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

template <typename T>
std::vector<T> download(const DeviceArray& a, size_t n) {
  const std::vector<uint8_t> raw = a.bytes();
  std::vector<T> out(n);
  std::memcpy(out.data(), raw.data(), n * sizeof(T));
  return out;
}

struct SelectCase {
  DType dtype = DType::kF16;
  int32_t heads = 8;
  int32_t kv_heads = 2;
  int32_t head_dim = 128;
  int32_t block_size = 16;
  std::vector<int32_t> lens;
  int32_t budget = 64;
  GroupScore rule = GroupScore::kMax;
  bool coarse = false;
  uint64_t seed = 1;
};

// Scores and selection on the GPU (two launches, then one launch twice: the tickets must come
// back to zero) against the reference: scores bit for bit, selected rows identical, with every
// output poisoned first.
void check_select_case(SelectCase c) {
  if (small_gpu_tests()) {
    for (int32_t& len : c.lens) len = std::min(len, 2000);
    if (c.lens.size() > 16) c.lens.resize(16);
  }
  CAPTURE(dtype_name(c.dtype));
  CAPTURE(c.head_dim);
  CAPTURE(c.heads);
  CAPTURE(c.kv_heads);
  CAPTURE(c.block_size);
  CAPTURE(c.lens.size());
  CAPTURE(c.budget);
  const std::string rule_name(group_score_name(c.rule));
  CAPTURE(rule_name);
  CAPTURE(c.coarse);
  const RandomSelectionProblem p(c.dtype, c.heads, c.kv_heads, c.head_dim, c.block_size, c.lens,
                                 c.seed, c.coarse);
  const int32_t width = p.batch.max_blocks_per_seq;
  const std::vector<float> ref_scores =
      block_scores_reference(p.key_bounds, p.batch, c.block_size, c.dtype, c.rule);
  SelectionSettings settings;
  settings.budget_tokens = c.budget;
  settings.group_score = c.rule;
  const SelectionPlan plan = plan_selection(settings, c.lens, c.block_size);
  const BlockSelection ref =
      select_blocks_reference(ref_scores, p.batch, c.kv_heads, c.block_size, plan);

  DeviceArray bounds(p.bounds), q(p.q), tables(p.tables), lens(c.lens), counts(plan.counts);
  const size_t pairs = c.lens.size() * static_cast<size_t>(c.kv_heads);
  const size_t rows = pairs * plan.max_selected;
  DeviceArray scores(pairs * width * sizeof(float)), out_tables(rows * sizeof(int32_t)),
      out_logical(rows * sizeof(int32_t));
  DeviceArray tickets(std::vector<int32_t>(pairs, 0));
  gpu::SelectLaunch s;
  s.bounds = p.key_bounds;
  s.bounds.data = bounds.get();
  s.batch = p.batch;
  s.batch.q = q.get();
  s.batch.block_tables = tables.get<int32_t>();
  s.batch.context_lens = lens.get<int32_t>();
  s.block_size = c.block_size;
  s.rule = c.rule;
  s.max_blocks = width;
  s.counts = counts.get<int32_t>();
  s.max_selected = plan.max_selected;
  s.scores = scores.get<float>();
  s.tables = out_tables.get<int32_t>();
  s.logical = out_logical.get<int32_t>();
  s.tickets = tickets.get<int32_t>();
  for (int mode = 0; mode < 3; ++mode) {
    CAPTURE(mode);  // 0: two launches, 1 and 2: one launch
    scores.poison();
    out_tables.poison();
    out_logical.poison();
    if (mode == 0) {
      CHECK_CUDA(gpu::score_blocks(s, nullptr));
      CHECK_CUDA(gpu::select_top_blocks(s, nullptr));
    } else {
      CHECK_CUDA(gpu::score_and_select(s, nullptr));
    }
    CHECK_CUDA(cudaDeviceSynchronize());
    const std::vector<float> got_scores = download<float>(scores, pairs * width);
    int64_t score_mismatches = 0;
    for (size_t pair = 0; pair < pairs; ++pair) {
      const int32_t b = static_cast<int32_t>(pair) / c.kv_heads;
      const int32_t blocks = (c.lens[b] + c.block_size - 1) / c.block_size;
      for (int32_t j = 0; j < blocks; ++j) {
        const float x = got_scores[pair * width + j];
        const float y = ref_scores[pair * width + j];
        score_mismatches += std::memcmp(&x, &y, sizeof x) != 0;
      }
    }
    CHECK(score_mismatches == 0);
    CHECK(download<int32_t>(out_tables, rows) == ref.block_tables);
    CHECK(download<int32_t>(out_logical, rows) == ref.logical);
    if (mode > 0) CHECK(download<int32_t>(tickets, pairs) == std::vector<int32_t>(pairs, 0));
  }
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("GPU block scores and top-K equal the reference for every dtype, head dim and group") {
    if (skip_without_gpu()) return;
    for (DType t : kBoundDTypes) {
      for (int32_t d : {64, 128, 256}) {
        for (int32_t group : {1, 2, 4, 8}) {
          for (GroupScore rule : {GroupScore::kMax, GroupScore::kSum}) {
            SelectCase c;
            c.dtype = t;
            c.head_dim = d;
            c.kv_heads = 2;
            c.heads = 2 * group;
            c.rule = rule;
            c.lens = {1, 15, 16, 17, 100, 777, 5000};
            c.budget = 96;
            c.seed = static_cast<uint64_t>(d * 16 + group * 2) + (rule == GroupScore::kSum);
            check_select_case(c);
          }
        }
      }
    }
  }

  TEST_CASE("GPU top-K breaks ties toward the lower block as the reference does") {
    if (skip_without_gpu()) return;
    for (int32_t budget : {16, 64, 200, 1000}) {
      for (int32_t bs : {8, 16, 32, 64}) {
        SelectCase c;
        c.coarse = true;
        c.block_size = bs;
        c.budget = budget;
        c.lens = {3000, 1, 2 * bs, 2 * bs + 1, 999};
        c.seed = static_cast<uint64_t>(budget + bs);
        check_select_case(c);
      }
    }
  }

  TEST_CASE("GPU selection equals the reference for batches from 1 to 256") {
    if (skip_without_gpu()) return;
    Rng rng(12);
    for (int32_t batch : {1, 7, 64, 256}) {
      SelectCase c;
      c.heads = 32;
      c.kv_heads = 8;
      c.lens.resize(static_cast<size_t>(batch));
      for (int32_t& len : c.lens) len = static_cast<int32_t>(rng.uniform_int(1, 6000));
      c.budget = 512;
      c.seed = static_cast<uint64_t>(batch);
      check_select_case(c);
    }
  }

  TEST_CASE("GPU selection equals the reference at 32k and 128k tokens") {
    if (skip_without_gpu()) return;
    SelectCase c;
    c.heads = 32;
    c.kv_heads = 8;
    c.lens = {32768, 32767, 131072};
    for (int32_t budget : {512, 2048, 4096}) {
      c.budget = budget;
      c.seed = static_cast<uint64_t>(budget);
      check_select_case(c);
    }
    c.block_size = 8;  // 16384 blocks in one row
    c.lens = {131072};
    c.budget = 1024;
    check_select_case(c);
  }

  TEST_CASE("key-bound updates and copies on the GPU equal the reference bit for bit") {
    if (skip_without_gpu()) return;
    for (DType t : kBoundDTypes) {
      for (int32_t d : {64, 128, 256}) {
        CAPTURE(dtype_name(t));
        CAPTURE(d);
        Rng rng(static_cast<uint64_t>(d) + static_cast<uint64_t>(t));
        const int32_t layers = 2, kv_heads = 3, bs = 16, blocks = 40;
        PagedKv cache{nullptr, nullptr, t, layers, blocks, kv_heads, bs, d, {}};
        KeyBounds bounds{nullptr, t, layers, blocks, kv_heads, d};
        std::vector<uint8_t> k(
            static_cast<size_t>(cache.layer_elements() * layers * dtype_size(t)));
        std::vector<uint8_t> b(
            static_cast<size_t>(bounds.layer_elements() * layers * dtype_size(t)));
        // Slots never written hold large values: a kernel reading them changes the bounds.
        for (int64_t i = 0; i < cache.layer_elements() * layers; ++i) {
          store_element(k.data(), t, i, (i % 2 ? 1 : -1) * 30000.0f);
        }
        for (int64_t i = 0; i < bounds.layer_elements() * layers; ++i) {
          store_element(b.data(), t, i, static_cast<float>(rng.normal()));
        }
        // Block j gets slots [first, last] written; slots before first were written earlier.
        std::vector<BlockWrite> writes;
        for (int32_t j = 0; j < blocks; j += 1 + static_cast<int32_t>(rng.below(2))) {
          const auto first = static_cast<int32_t>(rng.below(3) == 0 ? 0 : rng.below(bs));
          const auto last = first + static_cast<int32_t>(rng.below(bs - first));
          writes.push_back({j, first, last});
          for (int32_t l = 0; l < layers; ++l) {
            for (int32_t h = 0; h < kv_heads; ++h) {
              for (int32_t r = 0; r <= last; ++r) {
                for (int32_t i = 0; i < d; ++i) {
                  store_element(k.data(), t, l * cache.layer_elements() + cache.index(j, h, r, i),
                                static_cast<float>(rng.normal()));
                }
              }
            }
          }
        }
        DeviceArray dk(k), db(b), dwrites(writes);
        cache.k = k.data();
        bounds.data = b.data();
        update_key_bounds_reference(cache, bounds, writes);
        PagedKv gpu_cache = cache;
        gpu_cache.k = dk.get();
        KeyBounds gpu_bounds = bounds;
        gpu_bounds.data = db.get();
        CHECK_CUDA(gpu::update_key_bounds(gpu_cache, gpu_bounds, dwrites.get<BlockWrite>(),
                                          static_cast<int32_t>(writes.size()), nullptr));
        CHECK_CUDA(cudaDeviceSynchronize());
        CHECK(db.bytes() == b);

        // Copies within the pool and out to a mapped pinned pool, and back.
        const std::vector<BlockCopy> cow = {{3, 30}, {7, 31}, {0, 39}};
        DeviceArray dcow(cow);
        copy_key_bounds_reference(bounds, bounds, cow);
        CHECK_CUDA(gpu::copy_key_bounds(gpu_bounds, gpu_bounds, dcow.get<BlockCopy>(), 3, nullptr));
        KeyBounds host = bounds;
        host.num_blocks = 8;
        void* pinned = nullptr;
        const size_t host_bytes =
            static_cast<size_t>(host.layer_elements() * layers * dtype_size(t));
        CHECK_CUDA(cudaHostAlloc(&pinned, host_bytes, cudaHostAllocMapped));
        std::memset(pinned, 0, host_bytes);
        KeyBounds gpu_host = host;
        CHECK_CUDA(cudaHostGetDevicePointer(&gpu_host.data, pinned, 0));
        std::vector<uint8_t> host_ref(host_bytes, 0);
        host.data = host_ref.data();
        const std::vector<BlockCopy> out = {{30, 2}, {5, 7}};
        DeviceArray dout(out);
        copy_key_bounds_reference(bounds, host, out);
        CHECK_CUDA(gpu::copy_key_bounds(gpu_bounds, gpu_host, dout.get<BlockCopy>(), 2, nullptr));
        CHECK_CUDA(cudaDeviceSynchronize());
        CHECK(std::memcmp(pinned, host_ref.data(), host_bytes) == 0);
        CHECK(db.bytes() == b);
        CHECK_CUDA(cudaFreeHost(pinned));
      }
    }
  }

  TEST_CASE("the fused K/V write and key-bound update equal the reference bit for bit") {
    if (skip_without_gpu()) return;
    for (DType t : kBoundDTypes) {
      for (int32_t d : {64, 128, 256}) {
        CAPTURE(dtype_name(t));
        CAPTURE(d);
        Rng rng(static_cast<uint64_t>(d) * 3 + static_cast<uint64_t>(t));
        const int32_t kv_heads = 2, bs = 16, blocks = 24;
        PagedKv cache{nullptr, nullptr, t, 1, blocks, kv_heads, bs, d, {}};
        KeyBounds bounds{nullptr, t, 1, blocks, kv_heads, d};
        const auto pool_bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
        std::vector<uint8_t> k(pool_bytes), v(pool_bytes);
        std::vector<uint8_t> b(static_cast<size_t>(bounds.layer_elements() * dtype_size(t)));
        for (int64_t i = 0; i < cache.layer_elements(); ++i) {
          store_element(k.data(), t, i, static_cast<float>(rng.normal()));
          store_element(v.data(), t, i, static_cast<float>(rng.normal()));
        }
        for (int64_t i = 0; i < bounds.layer_elements(); ++i) {
          store_element(b.data(), t, i, static_cast<float>(rng.normal()));
        }
        // Two sequences' tokens interleaved, with padding: a prefill chunk filling blocks 3..5
        // from slot 0, decode tokens widening blocks 9 and 17, a chunk continuing block 20.
        std::vector<int64_t> slots;
        for (int32_t i = 0; i < 40; ++i) slots.push_back(3 * bs + i);
        slots.insert(slots.begin() + 7, -1);
        slots.insert(slots.begin() + 20, 9 * bs + 4);
        slots.insert(slots.begin() + 25, -1);
        slots.push_back(17 * bs + 15);
        for (int32_t i = 6; i < 12; ++i) slots.push_back(20 * bs + i);
        const auto n = static_cast<int32_t>(slots.size());
        const int64_t row = int64_t{kv_heads} * d;
        std::vector<uint8_t> key(static_cast<size_t>(n * row * dtype_size(t))), value(key.size());
        for (int64_t i = 0; i < n * row; ++i) {
          store_element(key.data(), t, i, static_cast<float>(rng.normal()));
          store_element(value.data(), t, i, static_cast<float>(rng.normal()));
        }
        const std::vector<BlockWrite> writes = block_writes(slots, bs);
        DeviceArray dk(k), dv(v), db(b), dkey(key), dvalue(value), dslots(slots), dwrites(writes);
        cache.k = k.data();
        cache.v = v.data();
        bounds.data = b.data();
        NewKv host{key.data(), value.data(), slots.data(), n};
        reshape_and_cache_reference(cache, host);
        update_key_bounds_reference(cache, bounds, writes);
        PagedKv gpu_cache = cache;
        gpu_cache.k = dk.get();
        gpu_cache.v = dv.get();
        KeyBounds gpu_bounds = bounds;
        gpu_bounds.data = db.get();
        const NewKv tokens{dkey.get(), dvalue.get(), dslots.get<int64_t>(), n};
        CHECK_CUDA(gpu::reshape_and_update_bounds(gpu_cache, gpu_bounds, tokens,
                                                  dwrites.get<BlockWrite>(),
                                                  static_cast<int32_t>(writes.size()), nullptr));
        CHECK_CUDA(cudaDeviceSynchronize());
        CHECK(dk.bytes() == k);
        CHECK(dv.bytes() == v);
        CHECK(db.bytes() == b);
      }
    }
  }

  TEST_CASE("sparse attention over per-KV-head block tables matches the reference") {
    if (skip_without_gpu()) return;
    struct Shape {
      DType dtype;
      int32_t heads, kv_heads, head_dim, block_size;
    };
    for (Shape sh : {Shape{DType::kF16, 32, 8, 128, 16}, Shape{DType::kBF16, 8, 2, 64, 8},
                     Shape{DType::kF32, 4, 4, 128, 32}, Shape{DType::kF16, 6, 3, 256, 16},
                     Shape{DType::kBF16, 8, 1, 128, 64}}) {
      for (KernelVersion v :
           {KernelVersion::kV3, KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
        for (int32_t part : {0, 16, 100}) {
          CAPTURE(dtype_name(sh.dtype));
          CAPTURE(sh.head_dim);
          CAPTURE(kernel_version_name(v));
          CAPTURE(part);
          Rng rng(static_cast<uint64_t>(sh.head_dim + part));
          std::vector<int32_t> lens = {1, sh.block_size + 1, 900, 4000, 37};
          if (small_gpu_tests()) lens[3] = 1200;
          const int32_t max_len = 4000;
          const int32_t width = (max_len + sh.block_size - 1) / sh.block_size;
          int32_t needed = 0;
          for (int32_t len : lens) needed += (len + sh.block_size - 1) / sh.block_size;
          const int32_t num_blocks = needed + 5;
          std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
          std::iota(perm.begin(), perm.end(), 0);
          for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
          std::vector<int32_t> tables(lens.size() * width, -1);
          size_t next = 0;
          for (size_t b = 0; b < lens.size(); ++b) {
            for (int32_t j = 0; j < (lens[b] + sh.block_size - 1) / sh.block_size; ++j) {
              tables[b * width + j] = perm[next++];
            }
          }
          PagedKv cache{nullptr,     nullptr,       sh.dtype,    1, num_blocks,
                        sh.kv_heads, sh.block_size, sh.head_dim, {}};
          const auto bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(sh.dtype));
          std::vector<uint8_t> k(bytes, 0xff), vv(bytes, 0xff);  // NaN in every unused slot
          for (size_t b = 0; b < lens.size(); ++b) {
            for (int32_t pos = 0; pos < lens[b]; ++pos) {
              for (int32_t h = 0; h < sh.kv_heads; ++h) {
                const int64_t at =
                    cache.index(tables[b * width + pos / sh.block_size], h, pos % sh.block_size, 0);
                for (int32_t i = 0; i < sh.head_dim; ++i) {
                  store_element(k.data(), sh.dtype, at + i, static_cast<float>(rng.normal()));
                  store_element(vv.data(), sh.dtype, at + i, static_cast<float>(rng.normal()));
                }
              }
            }
          }
          cache.k = k.data();
          cache.v = vv.data();
          std::vector<uint8_t> q(lens.size() * sh.heads * sh.head_dim * dtype_size(sh.dtype));
          for (size_t i = 0; i < lens.size() * sh.heads * sh.head_dim; ++i) {
            store_element(q.data(), sh.dtype, static_cast<int64_t>(i),
                          static_cast<float>(rng.normal()));
          }
          DecodeBatch full;
          full.q = q.data();
          full.block_tables = tables.data();
          full.context_lens = lens.data();
          full.batch = static_cast<int32_t>(lens.size());
          full.num_heads = sh.heads;
          full.max_blocks_per_seq = width;
          full.max_context_len = max_len;
          full.scale = attention_scale(sh.head_dim);
          // A random selection per (sequence, KV head): random scores through the reference top-K.
          std::vector<float> scores(lens.size() * sh.kv_heads * width);
          for (float& x : scores) x = static_cast<float>(rng.normal());
          SelectionSettings settings;
          settings.budget_tokens = 10 * sh.block_size;
          const SelectionPlan plan = plan_selection(settings, lens, sh.block_size);
          const BlockSelection sel =
              select_blocks_reference(scores, full, sh.kv_heads, sh.block_size, plan);
          const DecodeBatch host_sparse = sparse_batch(full, sel);
          const std::vector<double> ref = paged_attention_f64(cache, host_sparse);

          DeviceArray dk(k), dv(vv), dq(q), dtables(sel.block_tables), dlens(sel.context_lens);
          DeviceArray out(q.size());
          out.poison();
          DecodeBatch sparse = host_sparse;
          sparse.q = dq.get();
          sparse.out = out.get();
          sparse.block_tables = dtables.get<int32_t>();
          sparse.context_lens = dlens.get<int32_t>();
          PagedKv gpu_cache = cache;
          gpu_cache.k = dk.get();
          gpu_cache.v = dv.get();
          gpu::AttentionOptions options;
          options.partition_tokens = part;
          options.host_context_lens = sel.context_lens.data();
          const gpu::AttentionPlan ap =
              gpu::plan_attention(v, sh.dtype, sparse, sh.kv_heads, sh.head_dim, options);
          DeviceArray workspace(ap.workspace_bytes);
          workspace.poison();
          CHECK_CUDA(gpu::stage_attention_plan(ap, workspace.get(), nullptr));
          CHECK_CUDA(gpu::paged_attention(ap, gpu_cache, sparse, workspace.get(), nullptr));
          CHECK_CUDA(cudaDeviceSynchronize());
          const std::vector<uint8_t> raw = out.bytes();
          std::vector<float> got(ref.size());
          for (size_t i = 0; i < got.size(); ++i) {
            got[i] = load_element(raw.data(), sh.dtype, static_cast<int64_t>(i));
          }
          CHECK(std::count_if(got.begin(), got.end(), [](float x) { return !std::isfinite(x); }) ==
                0);
          CHECK(relative_error(got.data(), ref.data(), ref.size()) < tolerance(sh.dtype));
        }
      }
    }
    // v1 and v2 read shared tables only: a per-KV-head batch is refused.
    DecodeBatch b;
    b.batch = 1;
    b.num_heads = 2;
    b.max_blocks_per_seq = 1;
    b.max_context_len = 1;
    b.table_head_stride = 1;
    PagedKv cache{nullptr, nullptr, DType::kF16, 1, 1, 2, 16, 64, {}};
    const gpu::AttentionPlan ap = gpu::plan_attention(KernelVersion::kV2, DType::kF16, b, 2, 64);
    CHECK(gpu::paged_attention(ap, cache, b, nullptr, nullptr) == cudaErrorInvalidValue);
  }

  TEST_CASE("with selection on, the CUDA and CPU executors select the same blocks and agree") {
    if (skip_without_gpu()) return;
    struct Shape {
      DType dtype;
      int32_t heads, kv_heads, head_dim, block_size;
    };
    for (Shape sh : {Shape{DType::kF16, 8, 2, 128, 8}, Shape{DType::kBF16, 4, 1, 64, 16},
                     Shape{DType::kF32, 4, 4, 64, 8}}) {
      for (bool fused : {true, false}) {
        for (SyntheticPattern pattern :
             {SyntheticPattern::kStructured, SyntheticPattern::kUniform}) {
          CAPTURE(dtype_name(sh.dtype));
          CAPTURE(fused);
          CAPTURE(pattern == SyntheticPattern::kStructured);
          KvGeometry g;
          g.num_layers = 2;
          g.num_heads = sh.heads;
          g.num_kv_heads = sh.kv_heads;
          g.head_dim = sh.head_dim;
          g.block_size = sh.block_size;
          g.dtype = sh.dtype;
          g.num_gpu_blocks = 64;
          g.num_cpu_blocks = 24;
          g.seed = 3;
          g.synthetic = pattern;
          g.key_bounds = true;
          auto cpu = ReferenceExecutor::create(g);
          gpu::CudaExecutorOptions options;
          options.fused_select = fused;
          options.fused_bounds = fused;
          auto cuda = gpu::CudaExecutor::create(g, options);
          REQUIRE(cpu.ok());
          REQUIRE_MESSAGE(cuda.ok(), cuda.status.error);
          PlanFixture fixture(g, 29 + static_cast<uint64_t>(sh.head_dim));
          int32_t sparse_rows = 0;
          for (int step = 0; step < (small_gpu_tests() ? 5 : 25); ++step) {
            CAPTURE(step);
            StepPlan plan = fixture.next();
            plan.selection.budget_tokens = 2 * sh.block_size;
            plan.selection.group_score = step % 2 ? GroupScore::kSum : GroupScore::kMax;
            const StepResult a = cpu.value->execute(plan);
            const StepResult b = cuda.value->execute(plan);
            REQUIRE(a.ok());
            REQUIRE_MESSAGE(b.ok(), b.status.error);
            CHECK(b.selection.active == a.selection.active);
            CHECK(b.selection.blocks_read == a.selection.blocks_read);
            CHECK(b.selection.bytes_read() == a.selection.bytes_read());
            if (plan.num_decodes() == 0) continue;
            const auto out = cuda.value->read_output();
            REQUIRE(out.ok());
            const size_t per_query = static_cast<size_t>(g.num_heads) * g.head_dim;
            for (int32_t l = 0; l < g.num_layers; ++l) {
              const BlockSelection& want = cpu.value->last_selection(l);
              const auto got = cuda.value->read_selection(l);
              REQUIRE_MESSAGE(got.ok(), got.status.error);
              CHECK(got.value.logical == want.logical);
              CHECK(got.value.block_tables == want.block_tables);
              for (int32_t e = plan.num_prefills; e < plan.batch(); ++e) {
                const int32_t row = e - plan.num_prefills;
                const auto& seq = fixture.seqs()[fixture.entries()[e].seq];
                const auto len = static_cast<int32_t>(seq.tokens.size());
                std::vector<std::vector<int32_t>> blocks(static_cast<size_t>(g.num_kv_heads));
                for (int32_t kv = 0; kv < g.num_kv_heads; ++kv) {
                  const int32_t* chosen = want.logical.data() + want.row(row, kv);
                  blocks[kv].assign(chosen, chosen + want.counts[row]);
                }
                if (static_cast<size_t>(want.counts[row]) * g.block_size < seq.tokens.size()) {
                  ++sparse_rows;
                }
                const std::vector<double> exact =
                    fixture.exact_attention(seq, l, len - 1, 1, &blocks);
                const float* o =
                    out.value.data() +
                    (static_cast<size_t>(l) * plan.num_queries() + plan.query_start[e]) * per_query;
                CHECK(relative_error(o, exact.data(), per_query) < tolerance(sh.dtype));
              }
            }
          }
          CHECK(sparse_rows > (small_gpu_tests() ? 0 : 10));
          // Key bounds of both pools, bit for bit.
          for (int32_t l = 0; l < g.num_layers; ++l) {
            for (Pool pool : {Pool::kGpu, Pool::kCpu}) {
              const KeyBounds kb =
                  pool == Pool::kGpu ? cpu.value->gpu_bounds() : cpu.value->cpu_bounds();
              const KeyBounds layer = kb.layer(l);
              const auto bytes = static_cast<size_t>(g.bounds_block_bytes());
              for (BlockId blk = 0; blk < layer.num_blocks; ++blk) {
                const auto got = cuda.value->read_key_bounds(pool, l, blk);
                REQUIRE(got.ok());
                const auto* want = static_cast<const uint8_t*>(layer.data) + bytes * blk;
                REQUIRE(std::memcmp(got.value.data(), want, bytes) == 0);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("the kernels' support refuses key bounds (selection) for v1 and v2, and fp8 pools") {
  KvGeometry g;
  g.num_layers = 1;
  g.num_heads = 8;
  g.num_kv_heads = 2;
  g.head_dim = 128;
  g.block_size = 16;
  g.dtype = DType::kF16;
  g.num_gpu_blocks = 8;
  g.key_bounds = true;
  for (KernelVersion v : {KernelVersion::kV1, KernelVersion::kV2}) {
    const Status s = gpu::supports(g, v);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error.find("needs kernel v3 to v6") != std::string::npos);
  }
  for (KernelVersion v :
       {KernelVersion::kV3, KernelVersion::kV4, KernelVersion::kV5, KernelVersion::kV6}) {
    CHECK(gpu::supports(g, v).ok());
  }
  g.dtype = DType::kFp8E4M3;
  CHECK(gpu::supports(g, KernelVersion::kV5).error.find("not supported yet") != std::string::npos);
  g.key_bounds = false;
  CHECK(gpu::supports(g, KernelVersion::kV5).ok());
}
