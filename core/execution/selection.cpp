#include "core/execution/selection.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/execution/attention_reference.h"

namespace tinyserve {

std::string_view group_score_name(GroupScore rule) {
  return rule == GroupScore::kMax ? "max" : "sum";
}

int32_t selected_block_count(const SelectionSettings& settings, int32_t context_len,
                             int32_t block_size) {
  const int32_t blocks = (context_len + block_size - 1) / block_size;
  int64_t tokens = settings.budget_tokens;
  if (tokens <= 0) {
    tokens = static_cast<int64_t>(
        std::ceil(static_cast<double>(settings.budget_ratio) * static_cast<double>(context_len)));
  }
  const int64_t wanted = std::max<int64_t>(2, (tokens + block_size - 1) / block_size);
  return static_cast<int32_t>(std::min<int64_t>(wanted, blocks));
}

SelectionPlan plan_selection(const SelectionSettings& settings,
                             std::span<const int32_t> context_lens, int32_t block_size) {
  SelectionPlan plan;
  plan.counts.reserve(context_lens.size());
  plan.context_lens.reserve(context_lens.size());
  for (int32_t len : context_lens) {
    const int32_t blocks = (len + block_size - 1) / block_size;
    const int32_t count = selected_block_count(settings, len, block_size);
    const int32_t tail = len - (blocks - 1) * block_size;
    const int32_t attended = (count - 1) * block_size + tail;
    plan.counts.push_back(count);
    plan.context_lens.push_back(attended);
    plan.max_selected = std::max(plan.max_selected, count);
    plan.max_context_len = std::max(plan.max_context_len, attended);
    plan.blocks_total += blocks;
    plan.blocks_selected += count;
    plan.tokens_total += len;
    plan.tokens_selected += attended;
  }
  return plan;
}

float block_bound(const float* q, const KeyBounds& bounds, int64_t block, int32_t kv_head) {
  const int32_t d = bounds.head_dim;
  const int32_t vec = 16 / dtype_size(bounds.dtype);
  const int32_t lanes = std::min(32, d / vec);
  const int32_t per_lane = d / (vec * lanes);
  const int64_t lo = bounds.index(block, kv_head, 0, 0);
  const int64_t hi = bounds.index(block, kv_head, 1, 0);
  float partial[32];
  for (int32_t l = 0; l < lanes; ++l) {
    float s = 0.0f;
    for (int32_t j = 0; j < per_lane; ++j) {
      for (int32_t e = 0; e < vec; ++e) {
        const int32_t i = (j * lanes + l) * vec + e;
        const float a = q[i] * load_element(bounds.data, bounds.dtype, lo + i);
        const float b = q[i] * load_element(bounds.data, bounds.dtype, hi + i);
        s = s + std::max(a, b);
      }
    }
    partial[l] = s;
  }
  for (int32_t o = lanes / 2; o > 0; o /= 2) {
    float next[32];
    for (int32_t l = 0; l < lanes; ++l) next[l] = partial[l] + partial[l ^ o];
    std::copy(next, next + lanes, partial);
  }
  return partial[0];
}

std::vector<float> block_scores_reference(const KeyBounds& bounds, const DecodeBatch& batch,
                                          int32_t block_size, DType q_dtype, GroupScore rule) {
  assert(bounds.num_layers == 1 && batch.table_head_stride == 0);
  const int32_t d = bounds.head_dim;
  const int32_t kv_heads = bounds.num_kv_heads;
  const int32_t group = batch.num_heads / kv_heads;
  const int32_t width = batch.max_blocks_per_seq;
  std::vector<float> scores(static_cast<size_t>(batch.batch) * kv_heads * width,
                            -std::numeric_limits<float>::infinity());
  std::vector<float> q(static_cast<size_t>(group) * d);
  for (int32_t b = 0; b < batch.batch; ++b) {
    const int32_t blocks = (batch.context_lens[b] + block_size - 1) / block_size;
    assert(blocks >= 1 && blocks <= width);
    const int32_t* table = batch.table_row(b, 0, kv_heads);
    for (int32_t kv = 0; kv < kv_heads; ++kv) {
      for (int32_t g = 0; g < group; ++g) {
        const int64_t at = (static_cast<int64_t>(b) * batch.num_heads + kv * group + g) * d;
        for (int32_t i = 0; i < d; ++i) q[g * d + i] = load_element(batch.q, q_dtype, at + i);
      }
      float* out = scores.data() + (static_cast<int64_t>(b) * kv_heads + kv) * width;
      for (int32_t j = 0; j < blocks; ++j) {
        float combined = 0.0f;
        for (int32_t g = 0; g < group; ++g) {
          const float s = block_bound(q.data() + g * d, bounds, table[j], kv);
          if (g == 0) {
            combined = s;
          } else if (rule == GroupScore::kMax) {
            combined = std::max(combined, s);
          } else {
            combined = combined + s;
          }
        }
        out[j] = combined * batch.scale;
      }
    }
  }
  return scores;
}

BlockSelection select_blocks_reference(std::span<const float> scores, const DecodeBatch& batch,
                                       int32_t num_kv_heads, int32_t block_size,
                                       const SelectionPlan& plan) {
  assert(batch.table_head_stride == 0 && plan.counts.size() == static_cast<size_t>(batch.batch));
  BlockSelection sel;
  sel.batch = batch.batch;
  sel.num_kv_heads = num_kv_heads;
  sel.max_selected = plan.max_selected;
  sel.counts = plan.counts;
  sel.context_lens = plan.context_lens;
  const size_t size = static_cast<size_t>(batch.batch) * num_kv_heads * plan.max_selected;
  sel.logical.assign(size, -1);
  sel.block_tables.assign(size, -1);
  const int32_t width = batch.max_blocks_per_seq;
  std::vector<int32_t> order;
  for (int32_t b = 0; b < batch.batch; ++b) {
    const int32_t blocks = (batch.context_lens[b] + block_size - 1) / block_size;
    const int32_t count = plan.counts[b];
    const int32_t* table = batch.table_row(b, 0, num_kv_heads);
    for (int32_t kv = 0; kv < num_kv_heads; ++kv) {
      const float* s = scores.data() + (static_cast<int64_t>(b) * num_kv_heads + kv) * width;
      std::vector<int32_t> chosen;
      if (count >= blocks) {
        chosen.resize(static_cast<size_t>(blocks));
        std::iota(chosen.begin(), chosen.end(), 0);
      } else {
        // The first and the last block, then the best of the others: higher score first, the
        // lower logical block among equals.
        order.resize(static_cast<size_t>(blocks - 2));
        std::iota(order.begin(), order.end(), 1);
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t x, int32_t y) { return s[x] > s[y]; });
        chosen.assign(order.begin(), order.begin() + (count - 2));
        chosen.push_back(0);
        chosen.push_back(blocks - 1);
        std::sort(chosen.begin(), chosen.end());
      }
      const int64_t row = sel.row(b, kv);
      for (size_t i = 0; i < chosen.size(); ++i) {
        sel.logical[row + i] = chosen[i];
        sel.block_tables[row + i] = table[chosen[i]];
      }
    }
  }
  return sel;
}

DecodeBatch sparse_batch(const DecodeBatch& full, const BlockSelection& selection) {
  DecodeBatch sparse = full;
  sparse.block_tables = selection.block_tables.data();
  sparse.context_lens = selection.context_lens.data();
  sparse.max_blocks_per_seq = selection.max_selected;
  sparse.max_context_len = 1;
  for (int32_t len : selection.context_lens) {
    sparse.max_context_len = std::max(sparse.max_context_len, len);
  }
  sparse.table_head_stride = selection.max_selected;
  return sparse;
}

namespace {

// Exact softmax weights of query head h of sequence b over its whole context (double).
std::vector<double> attention_weights(const PagedKv& cache, const DecodeBatch& batch, int32_t b,
                                      int32_t h) {
  const int32_t d = cache.head_dim;
  const int32_t group = batch.num_heads / cache.num_kv_heads;
  const int32_t kv = h / group;
  const int32_t len = batch.context_lens[b];
  const int32_t* table = batch.table_row(b, kv, cache.num_kv_heads);
  std::vector<double> q(static_cast<size_t>(d));
  const int64_t q_at = (static_cast<int64_t>(b) * batch.num_heads + h) * d;
  for (int32_t i = 0; i < d; ++i) q[i] = load_element(batch.q, query_dtype(cache.dtype), q_at + i);
  std::vector<double> w(static_cast<size_t>(len));
  double max_w = -std::numeric_limits<double>::infinity();
  for (int32_t t = 0; t < len; ++t) {
    const int64_t row = cache.index(table[t / cache.block_size], kv, t % cache.block_size, 0);
    double dot = 0.0;
    for (int32_t i = 0; i < d; ++i) dot += q[i] * load_element(cache.k, cache.dtype, row + i);
    w[t] = dot * batch.scale;
    max_w = std::max(max_w, w[t]);
  }
  double sum = 0.0;
  for (double& x : w) sum += (x = std::exp(x - max_w));
  for (double& x : w) x /= sum;
  return w;
}

}  // namespace

SelectionQuality selection_quality_reference(const PagedKv& cache, const DecodeBatch& full,
                                             const BlockSelection& selection) {
  assert(cache.num_layers == 1 && full.table_head_stride == 0);
  SelectionQuality quality;
  const int32_t group = full.num_heads / cache.num_kv_heads;
  const int32_t bs = cache.block_size;
  double recall_sum = 0.0;
  for (int32_t b = 0; b < full.batch; ++b) {
    const int32_t len = full.context_lens[b];
    const int32_t blocks = (len + bs - 1) / bs;
    for (int32_t kv = 0; kv < cache.num_kv_heads; ++kv) {
      std::vector<double> mass(static_cast<size_t>(blocks), 0.0);
      for (int32_t g = 0; g < group; ++g) {
        const std::vector<double> w = attention_weights(cache, full, b, kv * group + g);
        for (int32_t t = 0; t < len; ++t) mass[t / bs] += w[t] / group;
      }
      double selected = 0.0;
      const int32_t count = selection.counts[b];
      for (int32_t i = 0; i < count; ++i)
        selected += mass[selection.logical[selection.row(b, kv) + i]];
      std::vector<double> best = mass;
      std::sort(best.begin(), best.end(), std::greater<>());
      const double oracle = std::accumulate(best.begin(), best.begin() + count, 0.0);
      const double recall = oracle > 0.0 ? std::min(1.0, selected / oracle) : 1.0;
      recall_sum += recall;
      quality.min_recall = std::min(quality.min_recall, recall);
      ++quality.pairs;
    }
  }
  if (quality.pairs > 0) quality.recall = recall_sum / static_cast<double>(quality.pairs);
  const std::vector<double> dense = paged_attention_f64(cache, full);
  const std::vector<double> sparse = paged_attention_f64(cache, sparse_batch(full, selection));
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < dense.size(); ++i) {
    diff += (sparse[i] - dense[i]) * (sparse[i] - dense[i]);
    norm += dense[i] * dense[i];
  }
  quality.output_error = norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  return quality;
}

NeedleCount count_needles(const SyntheticSpec& spec, int32_t layer,
                          std::span<const int32_t> query_positions, int32_t num_heads,
                          int32_t block_size, const BlockSelection& selection) {
  NeedleCount count;
  if (spec.pattern != SyntheticPattern::kStructured) return count;
  const int32_t group = num_heads / selection.num_kv_heads;
  for (int32_t b = 0; b < selection.batch; ++b) {
    for (int32_t h = 0; h < num_heads; ++h) {
      const int32_t region = structured_target_region(spec.seed, layer, h, query_positions[b]);
      if (region < 0) continue;
      const int32_t kv = h / group;
      const int32_t start = structured_span_start(spec.seed, layer, kv, region);
      const int32_t first = start / block_size;
      const int32_t last = (start + StructuredKv::kTopicSpan - 1) / block_size;
      const int32_t* row = selection.logical.data() + selection.row(b, kv);
      const int32_t* end = row + selection.counts[b];
      bool all = true;
      for (int32_t j = first; j <= last; ++j) all = all && std::binary_search(row, end, j);
      ++count.needles;
      if (all) ++count.found;
    }
  }
  return count;
}

}  // namespace tinyserve
