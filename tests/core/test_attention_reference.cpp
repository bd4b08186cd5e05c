#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "core/execution/kv_executor.h"
#include "core/execution/synthetic_kv.h"

using namespace tinyserve;

namespace {

// Random sequences over a paged pool with randomly scattered blocks, and the same K/V as plain
// per-sequence float arrays for the naive formula.
struct RandomPaged {
  DType dtype;
  int32_t num_heads, num_kv_heads, head_dim, block_size, max_blocks;
  std::vector<int32_t> lens, tables;
  // [batch, max_len, num_kv_heads, head_dim]: the values the pool holds, as attention reads them
  // (rounded to dtype; for fp8, element * scale)
  std::vector<double> k_seq, v_seq;
  std::vector<uint8_t> k_pool, v_pool, q;
  std::vector<float> k_head_scales, v_head_scales;
  PagedKv cache;

  // fp8 pools get per-tensor scales (non-powers of two that keep normal(0, 1) keys and
  // uniform(-1, 1) values inside e4m3's range), or per-KV-head scales when per_head is set.
  RandomPaged(DType t, int32_t heads, int32_t kv_heads, int32_t dim, int32_t bs,
              std::vector<int32_t> lengths, uint64_t seed, bool per_head = false)
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
    if (is_fp8(t)) {
      cache.scales.k = 0.011f;
      cache.scales.v = 0.0041f;
      if (per_head) {
        for (int32_t h = 0; h < kv_heads; ++h) {
          k_head_scales.push_back(0.011f * (1.0f + 0.3f * static_cast<float>(h)));
          v_head_scales.push_back(0.0041f / (1.0f + 0.2f * static_cast<float>(h)));
        }
        cache.scales.k_heads = k_head_scales.data();
        cache.scales.v_heads = v_head_scales.data();
      }
    }
    const auto pool_bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
    k_pool.assign(pool_bytes, 0xff);  // NaN in every dtype: reading a wrong slot shows
    v_pool.assign(pool_bytes, 0xff);
    cache.k = k_pool.data();
    cache.v = v_pool.data();

    const size_t row = static_cast<size_t>(kv_heads) * dim;
    k_seq.assign(static_cast<size_t>(batch) * max_len * row, 0.0);
    v_seq.assign(k_seq.size(), 0.0);
    for (int32_t b = 0; b < batch; ++b) {
      for (int32_t pos = 0; pos < lens[b]; ++pos) {
        const int32_t block = tables[b * max_blocks + pos / bs];
        for (int32_t h = 0; h < kv_heads; ++h) {
          const float ks = is_fp8(t) ? cache.scales.k_of(h) : 1.0f;
          const float vs = is_fp8(t) ? cache.scales.v_of(h) : 1.0f;
          for (int32_t d = 0; d < dim; ++d) {
            const size_t i = ((static_cast<size_t>(b) * max_len + pos) * kv_heads + h) * dim + d;
            const auto k = static_cast<float>(rng.normal());
            const auto v = static_cast<float>(rng.uniform01() * 2 - 1);
            k_seq[i] = cached_value(t, k, ks);
            v_seq[i] = cached_value(t, v, vs);
            const int64_t at = cache.index(block, h, pos % bs, d);
            store_element(k_pool.data(), t, at, is_fp8(t) ? k / ks : k);
            store_element(v_pool.data(), t, at, is_fp8(t) ? v / vs : v);
          }
        }
      }
    }
    const DType qt = query_dtype(t);
    q.resize(static_cast<size_t>(batch) * heads * dim * dtype_size(qt));
    for (int64_t i = 0; i < static_cast<int64_t>(batch) * heads * dim; ++i) {
      store_element(q.data(), qt, i, static_cast<float>(rng.normal()));
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
            dot += static_cast<double>(load_element(q.data(), query_dtype(dtype), qo + d)) *
                   k_seq[kv(pos, d)];
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

// Queries for a prefill over p's sequences: entry b holds the last counts[b] tokens of sequence
// b. Random q, and the naive causal formula: query i of entry b, at position
// p = lens[b] - counts[b] + i, weighs positions [0, p] by exp(q.k * scale) / sum.
struct RandomPrefill {
  const RandomPaged& p;
  std::vector<int32_t> query_start;
  std::vector<uint8_t> q;

  RandomPrefill(const RandomPaged& paged, const std::vector<int32_t>& counts, uint64_t seed)
      : p(paged), query_start{0} {
    Rng rng(seed);
    for (int32_t c : counts) query_start.push_back(query_start.back() + c);
    const int64_t elems = static_cast<int64_t>(query_start.back()) * p.num_heads * p.head_dim;
    q.resize(static_cast<size_t>(elems * dtype_size(query_dtype(p.dtype))));
    for (int64_t i = 0; i < elems; ++i) {
      store_element(q.data(), query_dtype(p.dtype), i, static_cast<float>(rng.normal()));
    }
  }

  PrefillBatch batch(void* out) const {
    PrefillBatch pb;
    pb.q = q.data();
    pb.out = out;
    pb.query_start = query_start.data();
    pb.context_lens = p.lens.data();
    pb.block_tables = p.tables.data();
    pb.batch = static_cast<int32_t>(p.lens.size());
    pb.num_queries = query_start.back();
    pb.num_heads = p.num_heads;
    pb.max_blocks_per_seq = p.max_blocks;
    pb.scale = attention_scale(p.head_dim);
    return pb;
  }

  std::vector<double> naive() const {
    const int32_t max_len = *std::max_element(p.lens.begin(), p.lens.end());
    const int32_t group = p.num_heads / p.num_kv_heads;
    const double scale = attention_scale(p.head_dim);
    const int32_t d = p.head_dim;
    std::vector<double> out(static_cast<size_t>(query_start.back()) * p.num_heads * d, 0.0);
    for (size_t b = 0; b < p.lens.size(); ++b) {
      const int32_t count = query_start[b + 1] - query_start[b];
      for (int32_t i = 0; i < count; ++i) {
        const int32_t pos = p.lens[b] - count + i;
        for (int32_t h = 0; h < p.num_heads; ++h) {
          const int64_t qo = (static_cast<int64_t>(query_start[b] + i) * p.num_heads + h) * d;
          const auto kv = [&](int32_t t, int32_t e) {
            return ((b * max_len + t) * p.num_kv_heads + h / group) * d + e;
          };
          std::vector<double> w(static_cast<size_t>(pos + 1));
          double sum = 0.0;
          for (int32_t t = 0; t <= pos; ++t) {
            double dot = 0.0;
            for (int32_t e = 0; e < d; ++e) {
              dot += static_cast<double>(load_element(q.data(), query_dtype(p.dtype), qo + e)) *
                     p.k_seq[kv(t, e)];
            }
            sum += w[t] = std::exp(dot * scale);
          }
          for (int32_t t = 0; t <= pos; ++t) {
            for (int32_t e = 0; e < d; ++e) out[qo + e] += w[t] / sum * p.v_seq[kv(t, e)];
          }
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

TEST_CASE("prefill reference attention matches the naive causal formula over the cached prefix") {
  for (DType t : kExecutorDTypes) {
    for (int32_t group : {1, 2, 4, 8}) {
      CAPTURE(dtype_name(t));
      CAPTURE(group);
      // Chunks of 1, 5, 16 and 17 tokens after prefixes of 0, 10, 0 and 28 tokens.
      RandomPaged p(t, 8, 8 / group, 64, 16, {1, 15, 16, 45}, 3 + group);
      const RandomPrefill pf(p, {1, 5, 16, 17}, 21 + group);
      CHECK(relative_error(prefill_attention_f64(p.cache, pf.batch(nullptr)), pf.naive()) < 1e-12);
    }
  }
}

TEST_CASE("a prefill entry of one query is a decode, for any block size") {
  for (int32_t bs : {1, 8, 16, 64}) {
    CAPTURE(bs);
    RandomPaged p(DType::kF32, 4, 2, 128, bs, {3, 100, 64}, 13);
    RandomPrefill pf(p, {1, 1, 1}, 1);
    pf.q = p.q;
    CHECK(relative_error(prefill_attention_f64(p.cache, pf.batch(nullptr)),
                         paged_attention_f64(p.cache, p.decode_batch(nullptr))) < 1e-15);
  }
}

TEST_CASE("prefill reference attention stores its output rounded to the query dtype") {
  for (DType cache_dtype : kExecutorDTypes) {
    const DType t = query_dtype(cache_dtype);  // the cache's own dtype unless fp8
    CAPTURE(dtype_name(cache_dtype));
    RandomPaged p(cache_dtype, 4, 2, 64, 8, {20, 9}, 5);
    const RandomPrefill pf(p, {7, 9}, 6);
    std::vector<uint8_t> out(static_cast<size_t>(16 * 4 * 64 * dtype_size(t)));
    const PrefillBatch pb = pf.batch(out.data());
    prefill_attention_reference(p.cache, pb);
    const std::vector<double> exact = prefill_attention_f64(p.cache, pb);
    for (size_t i = 0; i < exact.size(); ++i) {
      CHECK(load_element(out.data(), t, static_cast<int64_t>(i)) ==
            round_to(t, static_cast<float>(exact[i])));
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
          store_element(k.data(), c.dtype, c.index(b, h, pos, d), static_cast<float>(p.k_seq[i]));
          store_element(v.data(), c.dtype, c.index(b, h, pos, d), static_cast<float>(p.v_seq[i]));
        }
      }
    }
  }
  for (bool padded : {false, true}) {
    c.read_padded = padded;
    CHECK(relative_error(contiguous_attention_f64(c, p.decode_batch(nullptr)), paged) < 1e-14);
  }
}

TEST_CASE("reference attention stores its output rounded to the query dtype") {
  for (DType t : kExecutorDTypes) {
    const DType qt = query_dtype(t);
    RandomPaged p(t, 4, 4, 64, 16, {20, 7}, 5);
    std::vector<uint8_t> out(static_cast<size_t>(2 * 4 * 64 * dtype_size(qt)));
    const DecodeBatch db = p.decode_batch(out.data());
    paged_attention_reference(p.cache, db);
    const std::vector<double> exact = paged_attention_f64(p.cache, db);
    for (size_t i = 0; i < exact.size(); ++i) {
      CHECK(load_element(out.data(), qt, static_cast<int64_t>(i)) ==
            round_to(qt, static_cast<float>(exact[i])));
    }
  }
}

TEST_CASE("fp8 reference attention reads element times scale, per tensor or per KV head") {
  for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
    for (bool per_head : {false, true}) {
      CAPTURE(dtype_name(t));
      CAPTURE(per_head);
      RandomPaged p(t, 8, 4, 64, 16, {1, 31, 200}, 21, per_head);
      CHECK(relative_error(paged_attention_f64(p.cache, p.decode_batch(nullptr)), p.naive()) <
            1e-12);
      // The same elements read with other scales give another answer: the scales are applied.
      PagedKv wrong = p.cache;
      wrong.scales = KvScales{};
      CHECK(relative_error(paged_attention_f64(wrong, p.decode_batch(nullptr)), p.naive()) > 0.1);
    }
  }
}

TEST_CASE("fp8 attention differs from unquantized attention by the format's rounding") {
  // The same normal(0, 1) keys and uniform values, held in f32 and in fp8: the difference is
  // fp8's own error, what tolerance() for fp8 is not (tests/core/plan_fixture.h).
  double error[2] = {};
  for (int i = 0; i < 2; ++i) {
    const DType t = i == 0 ? DType::kFp8E4M3 : DType::kFp8E5M2;
    RandomPaged fp8(t, 8, 2, 128, 16, {64, 500, 2000}, 33);
    RandomPaged f32(DType::kF32, 8, 2, 128, 16, {64, 500, 2000}, 33);  // same random stream
    // q: the fp8 problem's fp16 queries, read exactly by the f32 one.
    for (size_t e = 0; e < fp8.q.size() / 2; ++e) {
      store_element(f32.q.data(), DType::kF32, static_cast<int64_t>(e),
                    load_element(fp8.q.data(), DType::kF16, static_cast<int64_t>(e)));
    }
    error[i] = relative_error(paged_attention_f64(fp8.cache, fp8.decode_batch(nullptr)),
                              paged_attention_f64(f32.cache, f32.decode_batch(nullptr)));
    MESSAGE(dtype_name(t), " attention vs unquantized: relative error ", error[i]);
  }
  CHECK(error[0] > 0.01);
  CHECK(error[0] < 0.06);
  CHECK(error[1] > 1.5 * error[0]);  // one mantissa bit fewer
  CHECK(error[1] < 0.12);
}

TEST_CASE("reshape_and_cache writes each token into its slot and skips padding") {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
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

TEST_CASE("reshape_and_cache quantizes fp8 as value / scale, rounded and saturated") {
  for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
    for (bool per_head : {false, true}) {
      CAPTURE(dtype_name(t));
      CAPTURE(per_head);
      PagedKv cache;
      cache.dtype = t;
      cache.num_blocks = 3;
      cache.num_kv_heads = 2;
      cache.block_size = 4;
      cache.head_dim = 64;
      const std::vector<float> k_heads = {0.5f, 0.003f}, v_heads = {3.0f, 0.07f};
      cache.scales.k = 0.02f;
      cache.scales.v = 1.5f;
      if (per_head) {
        cache.scales.k_heads = k_heads.data();
        cache.scales.v_heads = v_heads.data();
      }
      // 0x7f is NaN in both formats: never the quantization of a finite value.
      std::vector<uint8_t> k(static_cast<size_t>(cache.layer_elements()), 0x7f), v(k);
      cache.k = k.data();
      cache.v = v.data();
      const std::vector<int64_t> slots = {5, -1, 11};
      std::vector<uint8_t> key(3 * 2 * 64 * 2), value(key.size());
      Rng rng(4);
      for (int64_t i = 0; i < 3 * 2 * 64; ++i) {
        // Mostly ordinary values, some far past the format's range once scaled.
        const double wide = i % 7 == 0 ? 3e4 : 2.0;
        store_element(key.data(), DType::kF16, i,
                      static_cast<float>(wide * (rng.uniform01() - 0.5)));
        store_element(value.data(), DType::kF16, i, static_cast<float>(rng.normal()));
      }
      reshape_and_cache_reference(cache, NewKv{key.data(), value.data(), slots.data(), 3});
      int saturated = 0;
      for (int32_t i : {0, 2}) {
        for (int32_t h = 0; h < 2; ++h) {
          for (int32_t d = 0; d < 64; ++d) {
            const int64_t at = cache.index(slots[i] / 4, h, static_cast<int32_t>(slots[i] % 4), d);
            const int64_t from = (i * 2 + h) * 64 + d;
            const float x = load_element(key.data(), DType::kF16, from);
            const float y = load_element(value.data(), DType::kF16, from);
            const float ks = cache.scales.k_of(h), vs = cache.scales.v_of(h);
            const uint8_t want_k =
                t == DType::kFp8E4M3 ? float_to_e4m3_bits(x / ks) : float_to_e5m2_bits(x / ks);
            const uint8_t want_v =
                t == DType::kFp8E4M3 ? float_to_e4m3_bits(y / vs) : float_to_e5m2_bits(y / vs);
            CHECK(k[at] == want_k);
            CHECK(v[at] == want_v);
            saturated += (k[at] & 0x7f) == (t == DType::kFp8E4M3 ? 0x7e : 0x7b);
          }
        }
      }
      CHECK(saturated > 0);  // the wide values saturate to the largest finite value, not NaN
      int untouched = 0;
      for (uint8_t b : k) untouched += b == 0x7f;
      CHECK(untouched == cache.layer_elements() - 2 * 2 * 64);
    }
  }
}

TEST_CASE("the default fp8 scale keeps synthetic K/V clear of saturation and subnormals") {
  // Synthetic K/V are uniform in [-1, 1). Stored as x / scale in e4m3: scale 1 leaves
  // |x| < 2^-6 (1.6 % of values) subnormal and the range above 1 unused; 1 / 448 fills the range
  // up to the largest finite value but, not being a power of two, puts [0.57, 1) (43 % of the
  // values) in the binade of step 32 / 448 = 0.071 instead of 0.0625; the default 2^-8 maps the
  // values onto [-256, 256) with the same grid as scale 1 and almost no subnormals.
  const auto rms_error = [](float scale, int* saturated, int* subnormal) {
    double err = 0.0, norm = 0.0;
    *saturated = *subnormal = 0;
    for (int i = 0; i < 200000; ++i) {
      const float x = synthetic_value(synthetic_row(9, SyntheticKind::kKey, i, i, 0, 0), i % 128);
      const uint8_t bits = float_to_e4m3_bits(x / scale);
      *saturated += (bits & 0x7f) == 0x7e;
      *subnormal += (bits & 0x78) == 0 && (bits & 0x07) != 0;
      const double y = static_cast<double>(e4m3_bits_to_float(bits)) * scale;
      err += (y - x) * (y - x);
      norm += static_cast<double>(x) * x;
    }
    return std::sqrt(err / norm);
  };
  int saturated = 0, subnormal = 0;
  const double at_one = rms_error(1.0f, &saturated, &subnormal);
  CHECK(saturated == 0);
  CHECK(subnormal > 2000);  // about 1.6 %
  const double at_default = rms_error(kDefaultFp8Scale, &saturated, &subnormal);
  CHECK(saturated == 0);
  CHECK(subnormal < 20);  // |x| < 2^-14: 0.006 %
  const double at_max = rms_error(1.0f / 448.0f, &saturated, &subnormal);
  MESSAGE("e4m3 relative RMS error of synthetic K: scale 1 ", at_one, ", 2^-8 ", at_default,
          ", 1/448 ", at_max);
  CHECK(at_default <= at_one);        // the same grid, minus the subnormal tail's extra error
  CHECK(at_max > 1.05 * at_default);  // about 8 % worse
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
  // A chunk of two tokens after three cached ones (blocks 0, 1), a decode at position 2 (block
  // 7), then padding.
  StepPlan ok;
  ok.block_size = g.block_size;
  ok.slot_mapping = {3, 4, 30, -1};
  ok.new_tokens = {1, 2, 3, 0};
  ok.new_positions = {3, 4, 2, 0};
  ok.block_tables = {0, 1, 7, 7};
  ok.max_blocks_per_seq = 2;
  ok.context_lens = {5, 3};
  ok.query_start = {0, 2, 3};
  ok.num_prefills = 1;
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
  CHECK(rejects([](StepPlan& p) { p.slot_mapping[3] = 32; }));
  CHECK(rejects([](StepPlan& p) { p.slot_mapping[3] = 4; }));  // written twice
  CHECK(rejects([](StepPlan& p) { p.new_tokens.pop_back(); }));
  CHECK(rejects([](StepPlan& p) { p.context_lens[1] = 9; }));
  CHECK(rejects([](StepPlan& p) { p.context_lens[1] = 0; }));
  CHECK(rejects([](StepPlan& p) { p.context_lens[0] = 1; }));  // fewer tokens than queries
  CHECK(rejects([](StepPlan& p) { p.block_tables[1] = -1; }));
  CHECK(rejects([](StepPlan& p) { p.query_start = {0, 2}; }));
  CHECK(rejects([](StepPlan& p) { p.query_start = {1, 2, 3}; }));
  CHECK(rejects([](StepPlan& p) { p.query_start = {0, 2, 2}; }));  // an entry without a query
  CHECK(rejects([](StepPlan& p) { p.query_start = {0, 2, 5}; }));  // more queries than tokens
  CHECK(rejects([](StepPlan& p) { p.num_prefills = 0; }));         // a decode of two queries
  CHECK(rejects([](StepPlan& p) { p.num_prefills = 3; }));
  CHECK(rejects([](StepPlan& p) { p.new_positions[1] = 3; }));    // not the sequence's last tokens
  CHECK(rejects([](StepPlan& p) { p.slot_mapping[2] = 29; }));    // not where the table maps it
  CHECK(rejects([](StepPlan& p) { p.context_lens[0] = 6; }));     // queries would end at position 5
  CHECK_FALSE(rejects([](StepPlan& p) { p.num_prefills = 2; }));  // a one-token chunk
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

TEST_CASE("fp8 geometries need finite positive scales, per tensor or one per KV head") {
  KvGeometry g;
  g.num_heads = 8;
  g.num_kv_heads = 2;
  g.dtype = DType::kFp8E4M3;
  CHECK(g.validate().ok());
  CHECK(g.k_scale == kDefaultFp8Scale);
  CHECK(g.scales().k_heads == nullptr);
  g.k_head_scales = {0.1f, 0.2f};
  g.v_head_scales = {1.0f, 2.0f};
  CHECK(g.validate().ok());
  CHECK(g.scales().k_of(1) == 0.2f);
  CHECK(g.scales().v_of(0) == 1.0f);
  for (auto change : std::vector<void (*)(KvGeometry&)>{
           [](KvGeometry& x) { x.k_scale = 0.0f; }, [](KvGeometry& x) { x.v_scale = -1.0f; },
           [](KvGeometry& x) { x.k_scale = INFINITY; },
           [](KvGeometry& x) { x.k_head_scales = {0.1f}; },
           [](KvGeometry& x) {
             x.v_head_scales = {1.0f, NAN};
           }}) {
    KvGeometry bad = g;
    change(bad);
    CHECK_FALSE(bad.validate().ok());
  }
}
