// Random but self-consistent step plans for the executor tests: sequences that prefill, decode,
// fork (copy-on-write), swap out and in, and finish, over a tiny block allocator; and the exact
// attention of any decoding sequence recomputed from its token list.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "core/execution/kv_executor.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve::testing {

class PlanFixture {
 public:
  struct Seq {
    std::vector<TokenId> tokens;  // tokens whose K/V is written
    std::vector<TokenId> prompt;  // prompt tokens still to prefill, in order
    std::vector<BlockId> blocks;  // GPU blocks while running, CPU blocks while swapped
    bool swapped = false;
    bool just_swapped_in = false;  // swap-out runs before swap-in: not swapped out this step
  };
  // One attention batch entry of the last plan: the sequence (index into seqs()) and its
  // queries, the last `queries` of its tokens.
  struct Entry {
    size_t seq = 0;
    int32_t queries = 0;
  };

  // max_chunk: the most prompt tokens a sequence prefills in one step (0: 2 * block_size + 3).
  PlanFixture(const KvGeometry& g, uint64_t seed, int32_t max_chunk = 0)
      : g_(g),
        rng_(seed),
        refs_(g.num_gpu_blocks),
        max_chunk_(max_chunk > 0 ? max_chunk : 2 * g.block_size + 3) {
    for (BlockId b = g.num_gpu_blocks - 1; b >= 0; --b) free_gpu_.push_back(b);
    for (BlockId b = g.num_cpu_blocks - 1; b >= 0; --b) free_cpu_.push_back(b);
  }

  const std::vector<Seq>& seqs() const { return seqs_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // What the plans so far held: prefill chunks that did not complete their prompt, chunks
  // that started after a prefix-cache hit, and steps mixing chunks with decodes.
  int32_t partial_chunks() const { return partial_chunks_; }
  int32_t prefix_hits() const { return prefix_hits_; }
  int32_t mixed_steps() const { return mixed_steps_; }

  StepPlan next() {
    StepPlan plan;
    plan.block_size = g_.block_size;
    entries_.clear();
    for (Seq& s : seqs_) s.just_swapped_in = false;
    std::vector<BlockId> cpu_freed;
    if (chance(0.3)) swap_in_one(plan, cpu_freed);
    if (chance(0.3)) swap_out_one(plan);
    if (chance(0.3)) fork_one();
    if (chance(0.15)) finish_one();
    if (seqs_.size() < 12 && chance(0.6)) admit();
    for (size_t i = 0; i < seqs_.size(); ++i) {
      if (!seqs_[i].swapped && !seqs_[i].prompt.empty()) prefill(plan, i);
    }
    plan.num_prefills = static_cast<int32_t>(entries_.size());
    for (size_t i = 0; i < seqs_.size(); ++i) {
      const Seq& s = seqs_[i];
      const bool chunked =
          std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.seq == i; });
      if (!s.swapped && s.prompt.empty() && !s.tokens.empty() && !chunked) decode(plan, i);
    }
    mixed_steps_ +=
        plan.num_prefills > 0 && static_cast<int32_t>(entries_.size()) > plan.num_prefills;
    for (int i = static_cast<int>(rng_.below(3)); i > 0; --i) {  // padding entries, at the end
      plan.slot_mapping.push_back(-1);
      plan.new_tokens.push_back(0);
      plan.new_positions.push_back(0);
    }
    finish_batch(plan);
    free_cpu_.insert(free_cpu_.end(), cpu_freed.begin(), cpu_freed.end());
    return plan;
  }

  // Exact attention of the sequence's tokens at positions [first, first + count), each over the
  // positions up to itself, one layer: [count, num_heads, head_dim]. With `blocks`, KV head kv
  // attends only to the positions of the logical blocks blocks[kv] (sparse attention over a
  // selection; sorted).
  std::vector<double> exact_attention(
      const Seq& s, int32_t layer, int32_t first, int32_t count,
      const std::vector<std::vector<int32_t>>* blocks = nullptr) const {
    const int32_t d = g_.head_dim;
    const int32_t group = g_.num_heads / g_.num_kv_heads;
    const int32_t len = first + count;
    const SyntheticSpec spec = g_.synthetic_spec();
    // Row `head` of `kind` at `pos` as the attention reads it: synthesised in the query dtype,
    // then (K and V) cached in the pool's dtype, quantized with the head's scale for fp8.
    const DType qt = query_dtype(g_.dtype);
    const KvScales scales = g_.scales();
    const auto row = [&](SyntheticKind kind, int32_t pos, int32_t head) {
      const uint64_t key = synthetic_row(g_.seed, kind, s.tokens[pos], pos, layer, head);
      std::vector<double> r(static_cast<size_t>(d));
      for (int32_t i = 0; i < d; ++i) {
        const float x = round_to(qt, synthetic_element(spec, key, kind, pos, layer, head, i));
        if (kind == SyntheticKind::kQuery) {
          r[i] = x;
        } else {
          r[i] = cached_value(g_.dtype, x,
                              kind == SyntheticKind::kKey ? scales.k_of(head) : scales.v_of(head));
        }
      }
      return r;
    };
    std::vector<double> out(static_cast<size_t>(count) * g_.num_heads * d, 0.0);
    for (int32_t kv = 0; kv < g_.num_kv_heads; ++kv) {
      std::vector<int32_t> positions;
      for (int32_t pos = 0; pos < len; ++pos) {
        if (blocks == nullptr ||
            std::binary_search((*blocks)[kv].begin(), (*blocks)[kv].end(), pos / g_.block_size)) {
          positions.push_back(pos);
        }
      }
      std::vector<std::vector<double>> keys, values;
      for (int32_t pos : positions) {
        keys.push_back(row(SyntheticKind::kKey, pos, kv));
        values.push_back(row(SyntheticKind::kValue, pos, kv));
      }
      const auto n = static_cast<int32_t>(positions.size());
      for (int32_t j = 0; j < count; ++j) {
        const int32_t at = first + j;
        for (int32_t h = kv * group; h < (kv + 1) * group; ++h) {
          const std::vector<double> q = row(SyntheticKind::kQuery, at, h);
          std::vector<double> w(static_cast<size_t>(n));
          double max_w = -1e300;
          for (int32_t t = 0; t < n && positions[t] <= at; ++t) {
            double dot = 0.0;
            for (int32_t i = 0; i < d; ++i) dot += q[i] * keys[t][i];
            w[t] = dot * attention_scale(d);
            max_w = std::max(max_w, w[t]);
          }
          double sum = 0.0;
          for (int32_t t = 0; t < n && positions[t] <= at; ++t)
            sum += (w[t] = std::exp(w[t] - max_w));
          double* o = out.data() + (static_cast<size_t>(j) * g_.num_heads + h) * d;
          for (int32_t t = 0; t < n && positions[t] <= at; ++t) {
            for (int32_t i = 0; i < d; ++i) o[i] += w[t] / sum * values[t][i];
          }
        }
      }
    }
    return out;
  }

  // Exact attention of every query of the last plan, one layer, in the plan's query order:
  // [num_queries, num_heads, head_dim].
  std::vector<double> exact_step_attention(int32_t layer) const {
    std::vector<double> all;
    for (const Entry& e : entries_) {
      const Seq& s = seqs_[e.seq];
      const auto len = static_cast<int32_t>(s.tokens.size());
      const std::vector<double> part = exact_attention(s, layer, len - e.queries, e.queries);
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }

 private:
  bool chance(double p) { return rng_.uniform01() < p; }
  TokenId token() { return static_cast<TokenId>(rng_.below(1000)); }

  BlockId take_gpu() {
    const BlockId b = free_gpu_.back();
    free_gpu_.pop_back();
    refs_[b] = 1;
    return b;
  }
  void release_gpu(BlockId b) {
    if (--refs_[b] == 0) free_gpu_.push_back(b);
  }

  void write_token(StepPlan& plan, Seq& s, TokenId t) {
    const auto pos = static_cast<int32_t>(s.tokens.size());
    s.tokens.push_back(t);
    plan.slot_mapping.push_back(
        static_cast<int64_t>(s.blocks[pos / g_.block_size]) * g_.block_size + pos % g_.block_size);
    plan.new_tokens.push_back(t);
    plan.new_positions.push_back(pos);
  }

  // A new sequence with a prompt to prefill; sometimes its first full blocks are a prefix-cache
  // hit on a running sequence's computed blocks (shared, same tokens), and the rest follows.
  void admit() {
    Seq s;
    std::vector<size_t> donors;
    for (size_t i = 0; i < seqs_.size(); ++i) {
      if (!seqs_[i].swapped && static_cast<int32_t>(seqs_[i].tokens.size()) >= g_.block_size) {
        donors.push_back(i);
      }
    }
    if (!donors.empty() && chance(0.4)) {
      const Seq& donor = seqs_[donors[rng_.below(donors.size())]];
      const auto full = static_cast<int32_t>(donor.tokens.size()) / g_.block_size;
      const auto hit = static_cast<int32_t>(rng_.uniform_int(1, full));
      for (int32_t i = 0; i < hit; ++i) {
        s.blocks.push_back(donor.blocks[i]);
        ++refs_[donor.blocks[i]];
      }
      s.tokens.assign(donor.tokens.begin(), donor.tokens.begin() + hit * g_.block_size);
      ++prefix_hits_;
    }
    const auto len = static_cast<int32_t>(rng_.uniform_int(1, 6 * g_.block_size + 5));
    for (int32_t i = 0; i < len; ++i) s.prompt.push_back(token());
    std::reverse(s.prompt.begin(), s.prompt.end());  // popped from the back
    seqs_.push_back(std::move(s));
  }

  // The next chunk of the sequence's prompt, if its blocks can be had.
  void prefill(StepPlan& plan, size_t i) {
    Seq& s = seqs_[i];
    const auto pending = static_cast<int32_t>(s.prompt.size());
    const int32_t chunk = static_cast<int32_t>(rng_.uniform_int(1, std::min(pending, max_chunk_)));
    const auto len = static_cast<int32_t>(s.tokens.size()) + chunk;
    const int32_t needed =
        (len + g_.block_size - 1) / g_.block_size - static_cast<int32_t>(s.blocks.size());
    if (needed > static_cast<int32_t>(free_gpu_.size())) return;
    for (int32_t k = 0; k < needed; ++k) s.blocks.push_back(take_gpu());
    for (int32_t k = 0; k < chunk; ++k) {
      write_token(plan, s, s.prompt.back());
      s.prompt.pop_back();
    }
    partial_chunks_ += !s.prompt.empty();
    entries_.push_back({i, chunk});
  }

  void decode(StepPlan& plan, size_t i) {
    Seq& s = seqs_[i];
    const auto pos = static_cast<int32_t>(s.tokens.size());
    if (pos % g_.block_size == 0) {
      if (free_gpu_.empty()) return;
      s.blocks.push_back(take_gpu());
    } else if (refs_[s.blocks.back()] > 1) {  // shared last block: copy on write
      if (free_gpu_.empty()) return;
      const BlockId copy = take_gpu();
      plan.copies.push_back({s.blocks.back(), copy});
      release_gpu(s.blocks.back());
      s.blocks.back() = copy;
    }
    write_token(plan, s, token());
    entries_.push_back({i, 1});
  }

  // Forks only sequences that finished their prompt.
  void fork_one() {
    std::vector<size_t> running;
    for (size_t i = 0; i < seqs_.size(); ++i) {
      if (!seqs_[i].swapped && seqs_[i].prompt.empty() && !seqs_[i].tokens.empty()) {
        running.push_back(i);
      }
    }
    if (running.empty() || seqs_.size() >= 12) return;
    Seq child = seqs_[running[rng_.below(running.size())]];
    for (BlockId b : child.blocks) ++refs_[b];
    seqs_.push_back(std::move(child));
  }

  void finish_one() {
    if (seqs_.empty()) return;
    const size_t i = rng_.below(seqs_.size());
    for (BlockId b : seqs_[i].blocks) {
      if (seqs_[i].swapped) {
        free_cpu_.push_back(b);
      } else {
        release_gpu(b);
      }
    }
    seqs_.erase(seqs_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  // Only sequences whose blocks no other sequence shares are swapped.
  void swap_out_one(StepPlan& plan) {
    for (size_t i = 0; i < seqs_.size(); ++i) {
      Seq& s = seqs_[i];
      if (s.swapped || s.just_swapped_in || s.blocks.empty() ||
          s.blocks.size() > free_cpu_.size()) {
        continue;
      }
      if (std::any_of(s.blocks.begin(), s.blocks.end(), [&](BlockId b) { return refs_[b] > 1; })) {
        continue;
      }
      for (BlockId& b : s.blocks) {
        const BlockId cpu = free_cpu_.back();
        free_cpu_.pop_back();
        plan.swap_out.push_back({b, cpu});
        release_gpu(b);
        b = cpu;
      }
      s.swapped = true;
      return;
    }
  }

  void swap_in_one(StepPlan& plan, std::vector<BlockId>& cpu_freed) {
    for (Seq& s : seqs_) {
      if (!s.swapped || s.blocks.size() + 2 > free_gpu_.size()) continue;
      for (BlockId& b : s.blocks) {
        const BlockId gpu = take_gpu();
        plan.swap_in.push_back({b, gpu});
        cpu_freed.push_back(b);  // reusable from the next step on: swap-out runs first
        b = gpu;
      }
      s.swapped = false;
      s.just_swapped_in = true;
      return;
    }
  }

  void finish_batch(StepPlan& plan) {
    if (entries_.empty()) return;
    int32_t max_blocks = 1;
    for (const Entry& e : entries_) {
      max_blocks = std::max(max_blocks, static_cast<int32_t>(seqs_[e.seq].blocks.size()));
    }
    plan.max_blocks_per_seq = max_blocks + static_cast<int32_t>(rng_.below(2));
    plan.query_start.push_back(0);
    for (const Entry& e : entries_) {
      const Seq& s = seqs_[e.seq];
      for (int32_t j = 0; j < plan.max_blocks_per_seq; ++j) {
        plan.block_tables.push_back(j < static_cast<int32_t>(s.blocks.size()) ? s.blocks[j] : -1);
      }
      plan.context_lens.push_back(static_cast<int32_t>(s.tokens.size()));
      plan.query_start.push_back(plan.query_start.back() + e.queries);
    }
  }

  KvGeometry g_;
  Rng rng_;
  std::vector<int32_t> refs_;
  std::vector<BlockId> free_gpu_, free_cpu_;
  std::vector<Seq> seqs_;
  std::vector<Entry> entries_;
  int32_t max_chunk_;
  int32_t partial_chunks_ = 0, prefix_hits_ = 0, mixed_steps_ = 0;
};

// Relative error ||out - ref|| / ||ref||.
inline double relative_error(const float* out, const double* ref, size_t n) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < n; ++i) {
    diff += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

// Thresholds on relative error against a float64 reference, per dtype of the K/V pools (q and
// out are query_dtype of it). Inputs are exact in every dtype, so what remains is float32
// arithmetic (up to 32k tokens summed), the tensor cores' fp16/bf16 softmax weights, and the
// output's rounding to its dtype: at most half an ulp, 2^-11 relative for fp16 and 2^-8 for bf16,
// about half that in the norm.
// fp8: the reference reads the same fp8 elements times the same scales, and every e4m3 and e5m2
// value is exact in fp16 (and in double), so dequantizing adds nothing but one float rounding of
// the scale product (2^-24). What remains is exactly fp16's: queries and outputs are fp16, the
// weights fp16, so fp8 shares fp16's threshold. It is a test of the modelled quantization, not of
// fp8's accuracy: fp8 attention against unquantized K/V differs by 3.5e-2 (e4m3) and 7.4e-2
// (e5m2) (tests/core/test_attention_reference.cpp), 35-75x this threshold.
inline double tolerance(DType t) {
  switch (t) {
    case DType::kF32:
      return 5e-5;
    case DType::kF16:
    case DType::kFp8E4M3:
    case DType::kFp8E5M2:
      return 1e-3;
    case DType::kBF16:
      return 5e-3;
  }
  return 0.0;
}

}  // namespace tinyserve::testing
