// Query-aware block selection (Quest, arXiv 2406.10774; the TinyServe paper's page selection,
// arXiv 2509.12211): the CPU reference of the scores, the top-K choice and the quality measures,
// and the host-side plan every executor computes before launching anything.
//
// For a decode query q (one per sequence and query head) and a block with key bounds m, M
// (KeyBounds), sum_i max(q_i m_i, q_i M_i) bounds q.k from above for every key k of the block.
// Scaled as attention is (by DecodeBatch::scale), it is the block's score for that head; a GQA
// group's heads combine into one score per KV head (GroupScore). Each (sequence, KV head) then
// keeps the first block, the last (partial) one and the best-scoring others, as many blocks as
// the budget allows (selected_block_count); equal scores go to the lower logical block. The
// selected blocks, in ascending logical order, form that KV head's own block-table row
// (DecodeBatch::table_head_stride), and sparse attention is paged attention over those rows.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/execution/paged_kv.h"
#include "core/execution/step_plan.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve {

std::string_view group_score_name(GroupScore rule);  // "max", "sum"

// Blocks each KV head of a sequence of context_len tokens reads: all of them when the budget
// covers the context, else max(2, ceil(budget / block_size)).
int32_t selected_block_count(const SelectionSettings& settings, int32_t context_len,
                             int32_t block_size);

// What a step's selection will read, known on the host from the context lengths alone.
struct SelectionPlan {
  std::vector<int32_t> counts;  // [batch] blocks each KV head reads
  std::vector<int32_t>
      context_lens;             // [batch] tokens each KV head attends (its last block partial)
  int32_t max_selected = 1;     // the longest row
  int32_t max_context_len = 1;  // the longest of context_lens
  int64_t blocks_total = 0;     // blocks of the batch, summed over sequences (one KV head)
  int64_t blocks_selected = 0;  // selected blocks, likewise
  int64_t tokens_total = 0;     // tokens full attention attends, summed over sequences
  int64_t tokens_selected = 0;  // tokens the sparse attention attends, likewise
};
SelectionPlan plan_selection(const SelectionSettings& settings,
                             std::span<const int32_t> context_lens, int32_t block_size);

// The float bound of one query head over one block, in the canonical order the GPU kernel
// follows (so both give the same bits): the head dim is cut into 16-byte vectors of the bounds'
// dtype (V elements), dealt to L = min(32, D / V) lanes (lane l takes vectors l, l + L, ...);
// each lane sums its terms in order, then lanes add pairwise (l + (l ^ o), o = L/2 .. 1).
// q: head_dim floats; the bounds of (block, kv_head) in `bounds` (one layer).
float block_bound(const float* q, const KeyBounds& bounds, int64_t block, int32_t kv_head);

// Scores of one layer: [batch, num_kv_heads, max_blocks_per_seq] (scaled bound of each logical
// block, the group's heads combined by `rule`: max, or the sum in head order), -inf past each
// sequence's blocks. batch.q holds the queries in `q_dtype`; batch.block_tables are shared by
// the KV heads.
std::vector<float> block_scores_reference(const KeyBounds& bounds, const DecodeBatch& batch,
                                          int32_t block_size, DType q_dtype, GroupScore rule);

// The blocks each (sequence, KV head) reads.
struct BlockSelection {
  int32_t batch = 0;
  int32_t num_kv_heads = 0;
  int32_t max_selected = 0;
  std::vector<int32_t> logical;       // [batch, num_kv_heads, max_selected] ascending, -1 after
  std::vector<int32_t> block_tables;  // [batch, num_kv_heads, max_selected] physical, -1 after
  std::vector<int32_t> counts;        // [batch]
  std::vector<int32_t> context_lens;  // [batch]
  int64_t row(int32_t b, int32_t kv_head) const {
    return (static_cast<int64_t>(b) * num_kv_heads + kv_head) * max_selected;
  }
};

// Top-K of `scores` (block_scores_reference's layout) under `plan`, over the full batch's block
// tables and lengths (host pointers).
BlockSelection select_blocks_reference(std::span<const float> scores, const DecodeBatch& batch,
                                       int32_t num_kv_heads, int32_t block_size,
                                       const SelectionPlan& plan);

// The full batch turned into the sparse one: per-KV-head rows of the selection (host pointers
// into `selection`, which must outlive the result).
DecodeBatch sparse_batch(const DecodeBatch& full, const BlockSelection& selection);

// How well a selection stands for full attention (exact attention in double, one layer).
struct SelectionQuality {
  // Share of the attention mass the best blocks hold that the selected blocks hold: per
  // (sequence, KV head), the selected blocks' mass over the mass of the same number of blocks
  // with the most mass (mass of a block: its tokens' softmax weights, averaged over the group's
  // query heads). Mean and minimum over the batch's (sequence, KV head) pairs.
  double recall = 1.0;
  double min_recall = 1.0;
  // ||sparse - full|| / ||full|| over the batch's outputs, both exact.
  double output_error = 0.0;
  int64_t pairs = 0;
};
SelectionQuality selection_quality_reference(const PagedKv& cache, const DecodeBatch& full,
                                             const BlockSelection& selection);

// Needles of the structured synthetic K/V (core/execution/synthetic_kv.h): for every sequence
// and query head whose query (at query_positions[b]) targets a topic span, whether every block
// holding that span is among its KV head's selected blocks. Nothing under the uniform pattern.
struct NeedleCount {
  int64_t needles = 0;
  int64_t found = 0;
};
NeedleCount count_needles(const SyntheticSpec& spec, int32_t layer,
                          std::span<const int32_t> query_positions, int32_t num_heads,
                          int32_t block_size, const BlockSelection& selection);

}  // namespace tinyserve
