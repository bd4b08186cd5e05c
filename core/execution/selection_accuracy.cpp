#include "core/execution/selection_accuracy.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <functional>
#include <numeric>

#include "core/base/rng.h"
#include "core/execution/key_bounds.h"
#include "core/execution/selection.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve {
namespace {

// One sequence's K/V in a one-layer pool, block j of the sequence in physical block j.
struct Sequence {
  KvGeometry g;
  std::vector<uint8_t> k, v, bounds;
  std::vector<TokenId> tokens;
  std::vector<int32_t> table;
  PagedKv cache;
  KeyBounds key_bounds;

  Sequence(const KvGeometry& geometry, int32_t len) : g(geometry) {
    g.num_layers = 1;
    const int32_t blocks = (len + g.block_size - 1) / g.block_size;
    g.num_gpu_blocks = blocks;
    Rng rng(g.seed ^ 0x5e9u);
    tokens.resize(static_cast<size_t>(len));
    for (TokenId& t : tokens) t = static_cast<TokenId>(rng.below(32000));
    table.resize(static_cast<size_t>(blocks));
    std::iota(table.begin(), table.end(), 0);
    k.resize(static_cast<size_t>(g.block_bytes() * blocks));
    v.resize(k.size());
    bounds.resize(static_cast<size_t>(g.bounds_block_bytes() * blocks));
    cache = {k.data(), v.data(), g.dtype, 1, blocks, g.num_kv_heads, g.block_size, g.head_dim, {}};
    key_bounds = {bounds.data(), key_bounds_dtype(g.dtype), 1, blocks, g.num_kv_heads, g.head_dim};
    const SyntheticSpec spec = g.synthetic_spec();
    for (int32_t t = 0; t < len; ++t) {
      for (int32_t h = 0; h < g.num_kv_heads; ++h) {
        const int64_t at = cache.index(t / g.block_size, h, t % g.block_size, 0);
        const uint64_t krow = synthetic_row(g.seed, SyntheticKind::kKey, tokens[t], t, 0, h);
        const uint64_t vrow = synthetic_row(g.seed, SyntheticKind::kValue, tokens[t], t, 0, h);
        for (int32_t i = 0; i < g.head_dim; ++i) {
          store_element(k.data(), g.dtype, at + i,
                        synthetic_element(spec, krow, SyntheticKind::kKey, t, 0, h, i));
          store_element(v.data(), g.dtype, at + i,
                        synthetic_element(spec, vrow, SyntheticKind::kValue, t, 0, h, i));
        }
      }
    }
    std::vector<BlockWrite> writes;
    for (int32_t j = 0; j < blocks; ++j) {
      writes.push_back({j, 0, std::min(g.block_size, len - j * g.block_size) - 1});
    }
    update_key_bounds_reference(cache, key_bounds, writes);
  }
};

}  // namespace

std::vector<AccuracyPoint> measure_selection_accuracy(const AccuracyOptions& options) {
  const KvGeometry& g0 = options.geometry;
  const int32_t longest = *std::max_element(options.contexts.begin(), options.contexts.end());
  const Sequence seq(g0, longest);
  const KvGeometry& g = seq.g;
  const int32_t d = g.head_dim;
  const int32_t bs = g.block_size;
  const int32_t group = g.num_heads / g.num_kv_heads;
  const SyntheticSpec spec = g.synthetic_spec();
  const float scale = attention_scale(d);

  std::vector<AccuracyPoint> points;
  for (int32_t context : options.contexts) {
    const size_t first_point = points.size();
    for (int32_t budget : options.budgets) {
      for (GroupScore rule : options.rules) {
        AccuracyPoint p;
        p.context = context;
        p.budget = budget;
        p.rule = rule;
        points.push_back(p);
      }
    }
    std::vector<double> err_diff(points.size() - first_point, 0.0);
    double err_norm = 0.0;
    for (int32_t s = 0; s < options.samples; ++s) {
      const int32_t position = context - 1 - 61 * s;
      const int32_t len = position + 1;
      const int32_t blocks = (len + bs - 1) / bs;
      // The query of every head at `position`.
      std::vector<uint8_t> q(static_cast<size_t>(g.num_heads) * d * dtype_size(g.dtype));
      for (int32_t h = 0; h < g.num_heads; ++h) {
        const uint64_t row =
            synthetic_row(g.seed, SyntheticKind::kQuery, seq.tokens[position], position, 0, h);
        for (int32_t i = 0; i < d; ++i) {
          store_element(q.data(), g.dtype, static_cast<int64_t>(h) * d + i,
                        synthetic_element(spec, row, SyntheticKind::kQuery, position, 0, h, i));
        }
      }
      // Exact weights per head, the block masses per KV head and the dense outputs.
      std::vector<std::vector<double>> weights(static_cast<size_t>(g.num_heads));
      std::vector<double> mass(static_cast<size_t>(g.num_kv_heads) * blocks, 0.0);
      std::vector<double> dense(static_cast<size_t>(g.num_heads) * d, 0.0);
      for (int32_t h = 0; h < g.num_heads; ++h) {
        const int32_t kv = h / group;
        std::vector<double> qd(static_cast<size_t>(d));
        for (int32_t i = 0; i < d; ++i) qd[i] = load_element(q.data(), g.dtype, int64_t{h} * d + i);
        std::vector<double>& w = weights[h];
        w.resize(static_cast<size_t>(len));
        double max_w = -1e300;
        for (int32_t t = 0; t < len; ++t) {
          const int64_t row = seq.cache.index(t / bs, kv, t % bs, 0);
          double dot = 0.0;
          for (int32_t i = 0; i < d; ++i)
            dot += qd[i] * load_element(seq.k.data(), g.dtype, row + i);
          w[t] = dot * scale;
          max_w = std::max(max_w, w[t]);
        }
        double sum = 0.0;
        for (double& x : w) sum += (x = std::exp(x - max_w));
        for (int32_t t = 0; t < len; ++t) {
          w[t] /= sum;
          mass[static_cast<size_t>(kv) * blocks + t / bs] += w[t] / group;
          const int64_t row = seq.cache.index(t / bs, kv, t % bs, 0);
          for (int32_t i = 0; i < d; ++i) {
            dense[static_cast<size_t>(h) * d + i] +=
                w[t] * load_element(seq.v.data(), g.dtype, row + i);
          }
        }
      }
      for (double x : dense) err_norm += x * x;

      DecodeBatch db;
      db.q = q.data();
      db.block_tables = seq.table.data();
      db.context_lens = &len;
      db.batch = 1;
      db.num_heads = g.num_heads;
      db.max_blocks_per_seq = static_cast<int32_t>(seq.table.size());
      db.max_context_len = len;
      db.scale = scale;
      const std::vector<int32_t> positions = {position};
      for (size_t k = first_point; k < points.size(); ++k) {
        AccuracyPoint& p = points[k];
        SelectionSettings settings;
        settings.budget_tokens = p.budget;
        settings.group_score = p.rule;
        const SelectionPlan plan = plan_selection(settings, std::span(&len, 1), bs);
        const std::vector<float> scores =
            block_scores_reference(seq.key_bounds, db, bs, g.dtype, p.rule);
        const BlockSelection sel = select_blocks_reference(scores, db, g.num_kv_heads, bs, plan);
        const NeedleCount needles = count_needles(spec, 0, positions, g.num_heads, bs, sel);
        p.needles += needles.needles;
        p.found += needles.found;
        const int32_t count = plan.counts[0];
        for (int32_t kv = 0; kv < g.num_kv_heads; ++kv) {
          const double* m = mass.data() + static_cast<size_t>(kv) * blocks;
          const int32_t* chosen = sel.logical.data() + sel.row(0, kv);
          double selected = 0.0;
          for (int32_t j = 0; j < count; ++j) selected += m[chosen[j]];
          std::vector<double> best(m, m + blocks);
          std::partial_sort(best.begin(), best.begin() + count, best.end(), std::greater<>());
          const double oracle = std::accumulate(best.begin(), best.begin() + count, 0.0);
          const double recall = oracle > 0.0 ? std::min(1.0, selected / oracle) : 1.0;
          p.recall += recall;
          p.min_recall = std::min(p.min_recall, recall);
          // Sparse output: the exact weights renormalised over the selected tokens.
          for (int32_t h = kv * group; h < (kv + 1) * group; ++h) {
            std::vector<double> out(static_cast<size_t>(d), 0.0);
            double total = 0.0;
            for (int32_t j = 0; j < count; ++j) {
              const int32_t block = chosen[j];
              for (int32_t t = block * bs; t < std::min(len, (block + 1) * bs); ++t) {
                total += weights[h][t];
                const int64_t row = seq.cache.index(block, kv, t % bs, 0);
                for (int32_t i = 0; i < d; ++i) {
                  out[i] += weights[h][t] * load_element(seq.v.data(), g.dtype, row + i);
                }
              }
            }
            for (int32_t i = 0; i < d; ++i) {
              const double diff = out[i] / total - dense[static_cast<size_t>(h) * d + i];
              err_diff[k - first_point] += diff * diff;
            }
          }
        }
        ++p.samples;
      }
    }
    for (size_t k = first_point; k < points.size(); ++k) {
      AccuracyPoint& p = points[k];
      if (p.samples > 0) p.recall /= static_cast<double>(p.samples) * g.num_kv_heads;
      p.output_error = err_norm > 0.0 ? std::sqrt(err_diff[k - first_point] / err_norm) : 0.0;
    }
  }
  return points;
}

}  // namespace tinyserve
