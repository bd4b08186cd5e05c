// What one engine step asks a backend to execute, as index lists built once on the host (a
// backend copies them to its device in one go). Order of execution: swap-out, swap-in, block
// copies, K/V writes of the new tokens, then attention (a block freed by swap-out or read by a
// copy may be reused by a later item of the same step).
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/ids.h"

namespace tinyserve {

// How a GQA group's query heads combine into one score per KV head (core/execution/selection.h).
enum class GroupScore : uint8_t {
  kMax,  // the largest of the group's bounds: a block any head needs is kept
  kSum,  // their sum: the blocks the group needs most on average
};

// Query-aware block selection (core/execution/selection.h): each (sequence, KV head) of the
// attention batch reads only its top-scoring blocks, as many as the budget allows (the first and
// the last block always among them). Budget per sequence in tokens, or, when budget_tokens is 0,
// as a share of its context; both 0: off (full attention). Needs KvGeometry::key_bounds.
struct SelectionSettings {
  int32_t budget_tokens = 0;
  float budget_ratio = 0.0f;  // in (0, 1]
  GroupScore group_score = GroupScore::kMax;
  bool enabled() const { return budget_tokens > 0 || budget_ratio > 0.0f; }
};

struct StepPlan {
  int64_t step = 0;
  int32_t block_size = 0;  // the engine's; an executor refuses a plan made for another geometry
  std::vector<BlockCopy> swap_out;  // (GPU block, CPU block)
  std::vector<BlockCopy> swap_in;   // (CPU block, GPU block)
  std::vector<BlockCopy> copies;    // (GPU block, GPU block): copy-on-write and fork copies

  // New tokens whose K/V is written this step: prefill chunks, then decode tokens, then padding.
  std::vector<int64_t> slot_mapping;   // [num_new_tokens] block * block_size + offset; < 0: padding
  std::vector<TokenId> new_tokens;     // [num_new_tokens]
  std::vector<int32_t> new_positions;  // [num_new_tokens]

  // Attention of every scheduled token. Batch entry b is one sequence: a prefill chunk (the
  // first num_prefills entries) or a decode (the rest, one query each). Its queries are the new
  // tokens [query_start[b], query_start[b + 1]) (CSR offsets, as FlashInfer's qo_indptr): the
  // last tokens of the sequence, which holds context_lens[b] tokens once their K/V is written.
  // Query i of entry b sits at position context_lens[b] - num_queries(b) + i and attends
  // causally to positions [0, that position] through the entry's block table: its sequence's
  // cached prefix (earlier chunks, prefix-cache hits) and the chunk's tokens up to itself. New
  // tokens past query_start[batch] have no query (padding).
  std::vector<SeqId> batch_seqs;      // [batch] (informative; executors do not need it)
  std::vector<int32_t> query_start;   // [batch + 1], query_start[0] = 0; empty when batch is 0
  std::vector<int32_t> context_lens;  // [batch] >= the entry's query count
  std::vector<int32_t> block_tables;  // [batch, max_blocks_per_seq] row-major, padded with -1
  int32_t max_blocks_per_seq = 0;
  SelectionSettings selection;  // off by default
  int32_t num_prefills = 0;     // entries [0, num_prefills) are prefill chunks

  int32_t batch() const { return static_cast<int32_t>(context_lens.size()); }
  int32_t num_decodes() const { return batch() - num_prefills; }
  // Queries of the whole batch (the attention output's rows); those of the prefill chunks come
  // first, num_prefill_queries() of them.
  int32_t num_queries() const { return query_start.empty() ? 0 : query_start.back(); }
  int32_t num_prefill_queries() const {
    return query_start.empty() ? 0 : query_start[num_prefills];
  }
  int32_t queries_of(int32_t b) const { return query_start[b + 1] - query_start[b]; }
  void clear() { *this = StepPlan{}; }
};

}  // namespace tinyserve
