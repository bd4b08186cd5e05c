// Random selection problems for the tests of query-aware selection: key bounds (min <= max) of
// every block of a one-layer pool, block tables scattered over it, and queries; optionally coarse,
// so that equal scores are common.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "core/base/rng.h"
#include "core/execution/kv_executor.h"
#include "core/execution/paged_kv.h"

namespace tinyserve::testing {

// Random bounds (min <= max) for every block of a one-layer pool, and random queries.
struct RandomSelectionProblem {
  std::vector<uint8_t> bounds, q;
  std::vector<int32_t> tables, lens;
  KeyBounds key_bounds;
  DecodeBatch batch;  // host pointers into this object: not copyable
  RandomSelectionProblem(const RandomSelectionProblem&) = delete;
  RandomSelectionProblem& operator=(const RandomSelectionProblem&) = delete;

  RandomSelectionProblem(DType t, int32_t heads, int32_t kv_heads, int32_t head_dim,
                         int32_t block_size, std::vector<int32_t> context_lens, uint64_t seed,
                         bool coarse)
      : lens(std::move(context_lens)) {
    Rng rng(seed);
    const int32_t max_len = *std::max_element(lens.begin(), lens.end());
    const int32_t width = (max_len + block_size - 1) / block_size;
    int32_t needed = 0;
    for (int32_t len : lens) needed += (len + block_size - 1) / block_size;
    const int32_t num_blocks = needed + 3;
    std::vector<int32_t> perm(static_cast<size_t>(num_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(i + 1)]);
    tables.assign(lens.size() * static_cast<size_t>(width), -1);
    size_t next = 0;
    for (size_t b = 0; b < lens.size(); ++b) {
      for (int32_t j = 0; j < (lens[b] + block_size - 1) / block_size; ++j) {
        tables[b * width + j] = perm[next++];
      }
    }
    key_bounds = {nullptr, t, 1, num_blocks, kv_heads, head_dim};
    bounds.resize(static_cast<size_t>(key_bounds.layer_elements() * dtype_size(t)));
    key_bounds.data = bounds.data();
    // Coarse problems (bounds in {-1, 0, 1}, queries 1 on every 16th dim and 0 elsewhere) make
    // equal scores common: ties get tested.
    const auto draw = [&]() {
      return coarse ? static_cast<float>(rng.uniform_int(-1, 1)) : static_cast<float>(rng.normal());
    };
    for (int32_t blk = 0; blk < num_blocks; ++blk) {
      for (int32_t h = 0; h < kv_heads; ++h) {
        for (int32_t i = 0; i < head_dim; ++i) {
          float a = round_to(t, draw());
          float b = round_to(t, draw());
          if (b < a) std::swap(a, b);
          store_element(key_bounds.data, t, key_bounds.index(blk, h, 0, i), a);
          store_element(key_bounds.data, t, key_bounds.index(blk, h, 1, i), b);
        }
      }
    }
    q.resize(lens.size() * heads * head_dim * dtype_size(t));
    for (size_t i = 0; i < lens.size() * heads * head_dim; ++i) {
      store_element(q.data(), t, static_cast<int64_t>(i),
                    coarse ? (i % 16 == 0 ? 1.0f : 0.0f) : draw());
    }
    batch.q = q.data();
    batch.block_tables = tables.data();
    batch.context_lens = lens.data();
    batch.batch = static_cast<int32_t>(lens.size());
    batch.num_heads = heads;
    batch.max_blocks_per_seq = width;
    batch.max_context_len = max_len;
    batch.scale = attention_scale(head_dim);
  }
};

}  // namespace tinyserve::testing
