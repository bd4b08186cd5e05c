#include "core/execution/attention_reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>

namespace tinyserve {
namespace {

// K and V of one KV head as the attention sees them: elements of dtype, times the head's scales
// for fp8 pools (exact in double).
struct KvView {
  const void* k;
  const void* v;
  DType dtype;
  double k_scale = 1.0;
  double v_scale = 1.0;
};

KvView kv_view(const void* k, const void* v, DType dtype, const KvScales& scales, int32_t kv_head) {
  KvView view{k, v, dtype};
  if (is_fp8(dtype)) {
    view.k_scale = scales.k_of(kv_head);
    view.v_scale = scales.v_of(kv_head);
  }
  return view;
}

// Attention of one query row (of dtype query_dtype(kv.dtype)) over `len` key/value rows found
// through row_offset(t), which gives the element offset of token t's row in the K (and V) array.
template <typename RowOffset>
void attend(const KvView& kv, const void* q, int64_t q_offset, int32_t head_dim, int32_t len,
            double scale, RowOffset row_offset, double* out) {
  const DType dtype = kv.dtype;
  std::vector<double> query(static_cast<size_t>(head_dim));
  for (int32_t d = 0; d < head_dim; ++d) {
    query[d] = load_element(q, query_dtype(dtype), q_offset + d);
  }
  std::vector<double> scores(static_cast<size_t>(len));
  double max_score = -std::numeric_limits<double>::infinity();
  for (int32_t t = 0; t < len; ++t) {
    const int64_t row = row_offset(t);
    double dot = 0.0;
    for (int32_t d = 0; d < head_dim; ++d) {
      dot += query[d] * (load_element(kv.k, dtype, row + d) * kv.k_scale);
    }
    scores[t] = dot * scale;
    max_score = std::max(max_score, scores[t]);
  }
  double sum = 0.0;
  for (double& s : scores) {
    s = std::exp(s - max_score);
    sum += s;
  }
  std::fill(out, out + head_dim, 0.0);
  for (int32_t t = 0; t < len; ++t) {
    const int64_t row = row_offset(t);
    const double p = scores[t] / sum;
    for (int32_t d = 0; d < head_dim; ++d) {
      out[d] += p * (load_element(kv.v, dtype, row + d) * kv.v_scale);
    }
  }
}

int32_t group_size(int32_t num_heads, int32_t num_kv_heads) {
  assert(num_kv_heads > 0 && num_heads % num_kv_heads == 0);
  return num_heads / num_kv_heads;
}

void store_all(const std::vector<double>& values, DType dtype, void* out) {
  for (size_t i = 0; i < values.size(); ++i) {
    store_element(out, dtype, static_cast<int64_t>(i), static_cast<float>(values[i]));
  }
}

}  // namespace

std::vector<double> paged_attention_f64(const PagedKv& cache, const DecodeBatch& batch) {
  assert(cache.num_layers == 1);
  const int32_t d = cache.head_dim;
  const int32_t group = group_size(batch.num_heads, cache.num_kv_heads);
  std::vector<double> out(static_cast<size_t>(batch.batch) * batch.num_heads * d);
  for (int32_t b = 0; b < batch.batch; ++b) {
    const int32_t len = batch.context_lens[b];
    assert(len >= 1 && len <= batch.max_blocks_per_seq * cache.block_size);
    for (int32_t h = 0; h < batch.num_heads; ++h) {
      const int32_t kv_head = h / group;
      const int32_t* table = batch.table_row(b, kv_head, cache.num_kv_heads);
      const auto row = [&](int32_t t) {
        return cache.index(table[t / cache.block_size], kv_head, t % cache.block_size, 0);
      };
      const int64_t q_offset = (static_cast<int64_t>(b) * batch.num_heads + h) * d;
      attend(kv_view(cache.k, cache.v, cache.dtype, cache.scales, kv_head), batch.q, q_offset, d,
             len, batch.scale, row, out.data() + q_offset);
    }
  }
  return out;
}

std::vector<double> contiguous_attention_f64(const ContiguousKv& cache, const DecodeBatch& batch) {
  const int32_t d = cache.head_dim;
  const int32_t group = group_size(batch.num_heads, cache.num_kv_heads);
  std::vector<double> out(static_cast<size_t>(batch.batch) * batch.num_heads * d);
  for (int32_t b = 0; b < batch.batch; ++b) {
    const int32_t len = batch.context_lens[b];
    assert(len >= 1 && len <= cache.max_len);
    for (int32_t h = 0; h < batch.num_heads; ++h) {
      const int32_t kv_head = h / group;
      const auto row = [&](int32_t t) { return cache.index(b, kv_head, t, 0); };
      const int64_t q_offset = (static_cast<int64_t>(b) * batch.num_heads + h) * d;
      attend(kv_view(cache.k, cache.v, cache.dtype, cache.scales, kv_head), batch.q, q_offset, d,
             len, batch.scale, row, out.data() + q_offset);
    }
  }
  return out;
}

// Each sequence's K and V rows are converted to double once (per KV head) and shared by the
// chunk's queries and the group's heads; the softmax of each query is exact (two passes).
std::vector<double> prefill_attention_f64(const PagedKv& cache, const PrefillBatch& batch) {
  assert(cache.num_layers == 1);
  const int32_t d = cache.head_dim;
  const int32_t group = group_size(batch.num_heads, cache.num_kv_heads);
  std::vector<double> out(static_cast<size_t>(batch.num_queries) * batch.num_heads * d);
  std::vector<double> keys, values, query(static_cast<size_t>(d)), scores;
  for (int32_t b = 0; b < batch.batch; ++b) {
    const int32_t first = batch.query_start[b];
    const int32_t count = batch.query_start[b + 1] - first;
    const int32_t len = batch.context_lens[b];
    const int32_t prefix = len - count;
    const int32_t* table = batch.block_tables + static_cast<int64_t>(b) * batch.max_blocks_per_seq;
    assert(count >= 1 && prefix >= 0 && len <= batch.max_blocks_per_seq * cache.block_size);
    keys.resize(static_cast<size_t>(len) * d);
    values.resize(keys.size());
    scores.resize(static_cast<size_t>(len));
    for (int32_t kv_head = 0; kv_head < cache.num_kv_heads; ++kv_head) {
      const KvView kv = kv_view(cache.k, cache.v, cache.dtype, cache.scales, kv_head);
      for (int32_t t = 0; t < len; ++t) {
        const int64_t row =
            cache.index(table[t / cache.block_size], kv_head, t % cache.block_size, 0);
        for (int32_t i = 0; i < d; ++i) {
          keys[static_cast<size_t>(t) * d + i] =
              load_element(cache.k, cache.dtype, row + i) * kv.k_scale;
          values[static_cast<size_t>(t) * d + i] =
              load_element(cache.v, cache.dtype, row + i) * kv.v_scale;
        }
      }
      for (int32_t j = 0; j < count; ++j) {
        const int32_t attended = prefix + j + 1;  // positions [0, prefix + j]
        for (int32_t h = kv_head * group; h < (kv_head + 1) * group; ++h) {
          const int64_t q_offset = (static_cast<int64_t>(first + j) * batch.num_heads + h) * d;
          for (int32_t i = 0; i < d; ++i)
            query[i] = load_element(batch.q, query_dtype(cache.dtype), q_offset + i);
          double max_score = -std::numeric_limits<double>::infinity();
          for (int32_t t = 0; t < attended; ++t) {
            double dot = 0.0;
            for (int32_t i = 0; i < d; ++i) dot += query[i] * keys[static_cast<size_t>(t) * d + i];
            scores[t] = dot * batch.scale;
            max_score = std::max(max_score, scores[t]);
          }
          double sum = 0.0;
          for (int32_t t = 0; t < attended; ++t) sum += scores[t] = std::exp(scores[t] - max_score);
          double* o = out.data() + q_offset;
          for (int32_t t = 0; t < attended; ++t) {
            const double p = scores[t] / sum;
            for (int32_t i = 0; i < d; ++i) o[i] += p * values[static_cast<size_t>(t) * d + i];
          }
        }
      }
    }
  }
  return out;
}

void paged_attention_reference(const PagedKv& cache, const DecodeBatch& batch) {
  store_all(paged_attention_f64(cache, batch), query_dtype(cache.dtype), batch.out);
}

void prefill_attention_reference(const PagedKv& cache, const PrefillBatch& batch) {
  store_all(prefill_attention_f64(cache, batch), query_dtype(cache.dtype), batch.out);
}

void contiguous_attention_reference(const ContiguousKv& cache, const DecodeBatch& batch) {
  store_all(contiguous_attention_f64(cache, batch), query_dtype(cache.dtype), batch.out);
}

double cached_value(DType t, float x, float scale) {
  if (!is_fp8(t)) return round_to(t, x);
  return static_cast<double>(round_to(t, x / scale)) * scale;
}

void reshape_and_cache_reference(const PagedKv& cache, const NewKv& tokens) {
  assert(cache.num_layers == 1);
  const int32_t d = cache.head_dim;
  const DType in = query_dtype(cache.dtype);
  const int64_t row_bytes = static_cast<int64_t>(d) * dtype_size(cache.dtype);
  const auto* key = static_cast<const char*>(tokens.key);
  const auto* value = static_cast<const char*>(tokens.value);
  for (int32_t i = 0; i < tokens.num_tokens; ++i) {
    const int64_t slot = tokens.slot_mapping[i];
    if (slot < 0) continue;
    const int64_t block = slot / cache.block_size;
    const auto offset = static_cast<int32_t>(slot % cache.block_size);
    assert(block < cache.num_blocks);
    for (int32_t h = 0; h < cache.num_kv_heads; ++h) {
      const int64_t src = (static_cast<int64_t>(i) * cache.num_kv_heads + h) * d;
      const int64_t dst = cache.index(block, h, offset, 0);
      if (!is_fp8(cache.dtype)) {
        const int64_t bytes = dtype_size(cache.dtype);
        std::memcpy(static_cast<char*>(cache.k) + dst * bytes, key + src * bytes,
                    static_cast<size_t>(row_bytes));
        std::memcpy(static_cast<char*>(cache.v) + dst * bytes, value + src * bytes,
                    static_cast<size_t>(row_bytes));
        continue;
      }
      // value / scale in float (IEEE division, as the device computes it), then to fp8.
      const float k_scale = cache.scales.k_of(h);
      const float v_scale = cache.scales.v_of(h);
      for (int32_t e = 0; e < d; ++e) {
        store_element(cache.k, cache.dtype, dst + e, load_element(key, in, src + e) / k_scale);
        store_element(cache.v, cache.dtype, dst + e, load_element(value, in, src + e) / v_scale);
      }
    }
  }
}

void copy_blocks_reference(const PagedKv& src, const PagedKv& dst,
                           std::span<const BlockCopy> copies) {
  assert(src.num_layers == dst.num_layers && src.block_elements() == dst.block_elements());
  const int64_t block_bytes = src.block_elements() * dtype_size(src.dtype);
  for (int32_t l = 0; l < src.num_layers; ++l) {
    const PagedKv from = src.layer(l);
    const PagedKv to = dst.layer(l);
    for (const BlockCopy& c : copies) {
      assert(c.src >= 0 && c.src < src.num_blocks && c.dst >= 0 && c.dst < dst.num_blocks);
      for (auto [a, b] : {std::pair{from.k, to.k}, std::pair{from.v, to.v}}) {
        std::memmove(static_cast<char*>(b) + c.dst * block_bytes,
                     static_cast<const char*>(a) + c.src * block_bytes,
                     static_cast<size_t>(block_bytes));
      }
    }
  }
}

}  // namespace tinyserve
