#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/execution/attention_reference.h"
#include "core/execution/kv_executor.h"
#include "core/base/rng.h"
#include "core/execution/synthetic_kv.h"

using namespace tinyserve;

namespace {

// Random sequences over a paged pool with randomly scattered blocks, and the same K/V as plain
// per-sequence float arrays for the naive formula.
struct RandomPaged {
  DType dtype;
  int32_t num_heads, num_kv_heads, head_dim, block_size, max_blocks;
  std::vector<int32_t> lens, tables;
  std::vector<float> k_seq, v_seq;  // [batch, max_len, num_kv_heads, head_dim], rounded to dtype
  std::vector<uint8_t> k_pool, v_pool, q;
  PagedKv cache;

  RandomPaged(DType t, int32_t heads, int32_t kv_heads, int32_t dim, int32_t bs,
              std::vector<int32_t> lengths, uint64_t seed)
      : dtype(t),
        num_heads(heads),
        num_kv_heads(kv_heads),
        head_dim(dim),
        block_size(bs),
        lens(std::move(lengths)) {
    Rng rng(seed);
    const int32_t max_len = *std::max_element(lens.begin(), lens.end());
    max_blocks = (max_len + bs - 1) / bs;
    const auto batch = static_cast<int32_t>(lens.size());
    const int32_t num_blocks = batch * max_blocks + 3;
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    tables.assign(perm.begin(), perm.begin() + batch * max_blocks);

    cache.dtype = t;
    cache.num_blocks = num_blocks;
    cache.num_kv_heads = kv_heads;
    cache.block_size = bs;
    cache.head_dim = dim;
    const auto pool_bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
    k_pool.assign(pool_bytes, 0xff);  // NaN in every dtype: reading a wrong slot shows
    v_pool.assign(pool_bytes, 0xff);
    cache.k = k_pool.data();
    cache.v = v_pool.data();

    const size_t row = static_cast<size_t>(kv_heads) * dim;
    k_seq.assign(static_cast<size_t>(batch) * max_len * row, 0.0f);
    v_seq.assign(k_seq.size(), 0.0f);
    for (int32_t b = 0; b < batch; ++b) {
      for (int32_t pos = 0; pos < lens[b]; ++pos) {
        const int32_t block = tables[b * max_blocks + pos / bs];
        for (int32_t h = 0; h < kv_heads; ++h) {
          for (int32_t d = 0; d < dim; ++d) {
            const size_t i = ((static_cast<size_t>(b) * max_len + pos) * kv_heads + h) * dim + d;
            k_seq[i] = round_to(t, static_cast<float>(rng.normal()));
            v_seq[i] = round_to(t, static_cast<float>(rng.uniform01() * 2 - 1));
            const int64_t at = cache.index(block, h, pos % bs, d);
            store_element(k_pool.data(), t, at, k_seq[i]);
            store_element(v_pool.data(), t, at, v_seq[i]);
          }
        }
      }
    }
    q.resize(static_cast<size_t>(batch) * heads * dim * dtype_size(t));
    for (int64_t i = 0; i < static_cast<int64_t>(batch) * heads * dim; ++i) {
      store_element(q.data(), t, i, static_cast<float>(rng.normal()));
    }
  }

  DecodeBatch decode_batch(void* out) const {
    DecodeBatch db;
    db.q = q.data();
    db.out = out;
    db.block_tables = tables.data();
    db.context_lens = lens.data();
    db.batch = static_cast<int32_t>(lens.size());
    db.num_heads = num_heads;
    db.max_blocks_per_seq = max_blocks;
    db.max_context_len = max_blocks * block_size;
    db.scale = attention_scale(head_dim);
    return db;
  }

  // softmax(q K^T * scale) V written the plain way: exp of each score over the sum of exps.
  std::vector<double> naive() const {
    const auto batch = static_cast<int32_t>(lens.size());
    const int32_t max_len = *std::max_element(lens.begin(), lens.end());
    const int32_t group = num_heads / num_kv_heads;
    const double scale = attention_scale(head_dim);  // the float the kernels get
    std::vector<double> out(static_cast<size_t>(batch) * num_heads * head_dim, 0.0);
    for (int32_t b = 0; b < batch; ++b) {
      for (int32_t h = 0; h < num_heads; ++h) {
        const int64_t qo = (static_cast<int64_t>(b) * num_heads + h) * head_dim;
        const auto kv = [&](int32_t pos, int32_t d) {
          return ((static_cast<size_t>(b) * max_len + pos) * num_kv_heads + h / group) * head_dim +
                 d;
        };
        std::vector<double> w(static_cast<size_t>(lens[b]));
        double sum = 0.0;
        for (int32_t pos = 0; pos < lens[b]; ++pos) {
          double dot = 0.0;
          for (int32_t d = 0; d < head_dim; ++d) {
            dot += static_cast<double>(load_element(q.data(), dtype, qo + d)) * k_seq[kv(pos, d)];
          }
          w[pos] = std::exp(dot * scale);
          sum += w[pos];
        }
        for (int32_t pos = 0; pos < lens[b]; ++pos) {
          for (int32_t d = 0; d < head_dim; ++d) out[qo + d] += w[pos] / sum * v_seq[kv(pos, d)];
        }
      }
    }
    return out;
  }
};

double relative_error(const std::vector<double>& out, const std::vector<double>& ref) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace

TEST_CASE("paged reference attention matches the naive formula for every dtype and GQA group") {
  for (DType t : kExecutorDTypes) {
    for (int32_t group : {1, 2, 4, 8}) {
      CAPTURE(dtype_name(t));
      CAPTURE(group);
      RandomPaged p(t, 8, 8 / group, 64, 16, {1, 15, 16, 17, 45}, 7 + group);
      const std::vector<double> out = paged_attention_f64(p.cache, p.decode_batch(nullptr));
      CHECK(relative_error(out, p.naive()) < 1e-12);
    }
  }
}

TEST_CASE("paged reference attention is independent of the block size") {
  for (int32_t bs : {1, 8, 16, 32, 64}) {
    CAPTURE(bs);
    RandomPaged p(DType::kF32, 4, 2, 128, bs, {3, 100, 64}, 11);
    CHECK(relative_error(paged_attention_f64(p.cache, p.decode_batch(nullptr)), p.naive()) < 1e-12);
  }
}

TEST_CASE("contiguous reference attention matches the paged one, padded or not") {
  RandomPaged p(DType::kBF16, 8, 4, 64, 8, {5, 33, 20}, 3);
  const std::vector<double> paged = paged_attention_f64(p.cache, p.decode_batch(nullptr));
  const int32_t max_len = 33;
  ContiguousKv c;
  c.dtype = p.dtype;
  c.batch = 3;
  c.num_kv_heads = 4;
  c.max_len = max_len;
  c.head_dim = 64;
  std::vector<uint8_t> k(static_cast<size_t>(3 * 4 * max_len * 64 * 2), 0xff);
  std::vector<uint8_t> v(k.size(), 0xff);
  c.k = k.data();
  c.v = v.data();
  for (int32_t b = 0; b < 3; ++b) {
    for (int32_t pos = 0; pos < p.lens[b]; ++pos) {
      for (int32_t h = 0; h < 4; ++h) {
        for (int32_t d = 0; d < 64; ++d) {
          const size_t i = ((static_cast<size_t>(b) * max_len + pos) * 4 + h) * 64 + d;
          store_element(k.data(), c.dtype, c.index(b, h, pos, d), p.k_seq[i]);
          store_element(v.data(), c.dtype, c.index(b, h, pos, d), p.v_seq[i]);
        }
      }
    }
  }
  for (bool padded : {false, true}) {
    c.read_padded = padded;
    CHECK(relative_error(contiguous_attention_f64(c, p.decode_batch(nullptr)), paged) < 1e-14);
  }
}

TEST_CASE("reference attention stores its output rounded to the cache's dtype") {
  for (DType t : kExecutorDTypes) {
    RandomPaged p(t, 4, 4, 64, 16, {20, 7}, 5);
    std::vector<uint8_t> out(static_cast<size_t>(2 * 4 * 64 * dtype_size(t)));
    const DecodeBatch db = p.decode_batch(out.data());
    paged_attention_reference(p.cache, db);
    const std::vector<double> exact = paged_attention_f64(p.cache, db);
    for (size_t i = 0; i < exact.size(); ++i) {
      CHECK(load_element(out.data(), t, static_cast<int64_t>(i)) ==
            round_to(t, static_cast<float>(exact[i])));
    }
  }
}

TEST_CASE("reshape_and_cache writes each token into its slot and skips padding") {
  for (DType t : kExecutorDTypes) {
    PagedKv cache;
    cache.dtype = t;
    cache.num_blocks = 4;
    cache.num_kv_heads = 2;
    cache.block_size = 8;
    cache.head_dim = 64;
    const auto bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
    std::vector<uint8_t> k(bytes, 0xab), v(bytes, 0xcd);
    cache.k = k.data();
    cache.v = v.data();
    const std::vector<int64_t> slots = {9, -1, 0, 31};
    std::vector<uint8_t> key(4 * 2 * 64 * static_cast<size_t>(dtype_size(t)));
    std::vector<uint8_t> value(key.size());
    for (int64_t i = 0; i < 4 * 2 * 64; ++i) {
      store_element(key.data(), t, i, static_cast<float>(i) * 0.5f);
      store_element(value.data(), t, i, -static_cast<float>(i));
    }
    NewKv tokens{key.data(), value.data(), slots.data(), 4};
    reshape_and_cache_reference(cache, tokens);
    std::vector<bool> written(static_cast<size_t>(cache.layer_elements()), false);
    for (int32_t i = 0; i < 4; ++i) {
      if (slots[i] < 0) continue;
      for (int32_t h = 0; h < 2; ++h) {
        for (int32_t d = 0; d < 64; ++d) {
          const int64_t at = cache.index(slots[i] / 8, h, static_cast<int32_t>(slots[i] % 8), d);
          const int64_t from = (i * 2 + h) * 64 + d;
          CHECK(load_element(k.data(), t, at) == load_element(key.data(), t, from));
          CHECK(load_element(v.data(), t, at) == load_element(value.data(), t, from));
          written[at] = true;
        }
      }
    }
    const int32_t size = dtype_size(t);
    for (int64_t e = 0; e < cache.layer_elements(); ++e) {
      if (written[e]) continue;
      for (int32_t byte = 0; byte < size; ++byte) {
        REQUIRE(k[e * size + byte] == 0xab);
        REQUIRE(v[e * size + byte] == 0xcd);
      }
    }
  }
}

TEST_CASE("copy_blocks copies whole blocks of every layer and nothing else") {
  PagedKv gpu;
  gpu.dtype = DType::kF16;
  gpu.num_layers = 3;
  gpu.num_blocks = 6;
  gpu.num_kv_heads = 2;
  gpu.block_size = 4;
  gpu.head_dim = 64;
  const auto gpu_bytes = static_cast<size_t>(gpu.layer_elements() * 2 * gpu.num_layers);
  std::vector<uint8_t> gk(gpu_bytes), gv(gpu_bytes);
  Rng rng(1);
  for (auto& b : gk) b = static_cast<uint8_t>(rng.next());
  for (auto& b : gv) b = static_cast<uint8_t>(rng.next());
  gpu.k = gk.data();
  gpu.v = gv.data();
  PagedKv cpu = gpu;
  cpu.num_blocks = 3;
  std::vector<uint8_t> ck(gpu_bytes / 2, 0), cv(gpu_bytes / 2, 0);
  cpu.k = ck.data();
  cpu.v = cv.data();

  const std::vector<uint8_t> gk0 = gk, gv0 = gv;
  copy_blocks_reference(gpu, cpu, std::vector<BlockCopy>{{5, 0}, {1, 2}});  // swap out
  copy_blocks_reference(gpu, gpu, std::vector<BlockCopy>{{0, 5}, {2, 1}});  // overwrite the GPU
  copy_blocks_reference(cpu, gpu, std::vector<BlockCopy>{{0, 5}, {2, 1}});  // swap back in
  CHECK(gk == gk0);
  CHECK(gv == gv0);

  copy_blocks_reference(gpu, gpu, std::vector<BlockCopy>{{3, 4}});
  const auto block_bytes = static_cast<size_t>(gpu.block_elements() * 2);
  for (int32_t l = 0; l < 3; ++l) {
    for (int32_t b = 0; b < 6; ++b) {
      const size_t at = (static_cast<size_t>(l) * 6 + b) * block_bytes;
      const size_t from = (static_cast<size_t>(l) * 6 + (b == 4 ? 3 : b)) * block_bytes;
      CHECK(std::equal(gk.begin() + at, gk.begin() + at + block_bytes, gk0.begin() + from));
      CHECK(std::equal(gv.begin() + at, gv.begin() + at + block_bytes, gv0.begin() + from));
    }
  }
}

TEST_CASE("synthetic K/V depend on token, position, layer, head and dim, and on nothing else") {
  const uint64_t row = synthetic_row(1, SyntheticKind::kKey, 42, 7, 0, 3);
  CHECK(row == synthetic_row(1, SyntheticKind::kKey, 42, 7, 0, 3));
  for (uint64_t other : {synthetic_row(2, SyntheticKind::kKey, 42, 7, 0, 3),
                         synthetic_row(1, SyntheticKind::kValue, 42, 7, 0, 3),
                         synthetic_row(1, SyntheticKind::kKey, 43, 7, 0, 3),
                         synthetic_row(1, SyntheticKind::kKey, 42, 8, 0, 3),
                         synthetic_row(1, SyntheticKind::kKey, 42, 7, 1, 3),
                         synthetic_row(1, SyntheticKind::kKey, 42, 7, 0, 4)}) {
    CHECK(other != row);
  }
  double sum = 0.0, sum_sq = 0.0;
  int zeros = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float x = synthetic_value(synthetic_row(0, SyntheticKind::kValue, i, i, 0, 0), i % 256);
    CHECK(x >= -1.0f);
    CHECK(x < 1.0f);
    zeros += x == 0.0f;
    sum += x;
    sum_sq += static_cast<double>(x) * x;
  }
  CHECK(std::abs(sum / n) < 0.01);
  CHECK(std::abs(sum_sq / n - 1.0 / 3.0) < 0.01);  // uniform on [-1, 1)
  CHECK(zeros < 3);
}

TEST_CASE("a step plan with out-of-range or conflicting entries is rejected") {
  KvGeometry g;
  g.num_heads = 4;
  g.num_kv_heads = 2;
  g.head_dim = 64;
  g.block_size = 4;
  g.num_gpu_blocks = 8;
  g.num_cpu_blocks = 2;
  REQUIRE(g.validate().ok());
  StepPlan ok;
  ok.block_size = g.block_size;
  ok.slot_mapping = {0, -1, 5};
  ok.new_tokens = {1, 2, 3};
  ok.new_positions = {0, 0, 1};
  ok.block_tables = {0, 1, 7, 7};
  ok.max_blocks_per_seq = 2;
  ok.context_lens = {5, 3};
  ok.query_tokens = {1, 2};
  ok.query_positions = {4, 2};
  CHECK(validate_plan(g, ok).ok());

  auto rejects = [&](auto change) {
    StepPlan p = ok;
    change(p);
    return !validate_plan(g, p).ok();
  };
  CHECK(rejects([](StepPlan& p) { p.block_size = 8; }));  // made for another geometry
  CHECK(rejects([](StepPlan& p) { p.swap_out = {{0, 2}}; }));
  CHECK(rejects([](StepPlan& p) { p.swap_in = {{0, 1}, {1, 1}}; }));
  CHECK(rejects([](StepPlan& p) { p.copies = {{8, 1}}; }));
  CHECK(rejects([](StepPlan& p) { p.copies = {{1, 2}, {2, 3}}; }));  // a chain within one list
  CHECK(rejects([](StepPlan& p) { p.slot_mapping[0] = 32; }));
  CHECK(rejects([](StepPlan& p) { p.slot_mapping[2] = 0; }));
  CHECK(rejects([](StepPlan& p) { p.new_tokens.pop_back(); }));
  CHECK(rejects([](StepPlan& p) { p.context_lens[1] = 9; }));
  CHECK(rejects([](StepPlan& p) { p.context_lens[1] = 0; }));
  CHECK(rejects([](StepPlan& p) { p.block_tables[1] = -1; }));
  CHECK(rejects([](StepPlan& p) { p.query_tokens.push_back(3); }));
  CHECK_FALSE(rejects([](StepPlan& p) { p.block_tables[3] = -1; }));  // unused entry

  KvGeometry bad = g;
  bad.head_dim = 96;
  CHECK_FALSE(bad.validate().ok());
  bad = g;
  bad.num_heads = 2 * 9;
  bad.num_kv_heads = 2;
  CHECK_FALSE(bad.validate().ok());
  bad = g;
  bad.block_size = 12;
  CHECK_FALSE(bad.validate().ok());
}
