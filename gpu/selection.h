// Query-aware block selection on the GPU (core/execution/selection.h is the reference, bit for
// bit): key-bound upkeep as tokens land and blocks move, block scores, and the top-K choice per
// (sequence, KV head) that becomes that KV head's block-table row for sparse attention
// (paged_attention with DecodeBatch::table_head_stride). Plain C++ over the structs of
// core/execution/paged_kv.h with device pointers; launchers enqueue on a stream and return the
// launch error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/base/ids.h"
#include "core/execution/paged_kv.h"
#include "core/execution/step_plan.h"

namespace tinyserve::gpu {

// Brings the bounds of the blocks a step wrote up to date with the pool's keys, every layer,
// after reshape_and_cache of every layer (update_key_bounds_reference's rule: slot 0 written
// starts the block afresh). writes: device [num_writes], distinct blocks.
cudaError_t update_key_bounds(const PagedKv& cache, const KeyBounds& bounds,
                              const BlockWrite* writes, int32_t num_writes, cudaStream_t stream);

// reshape_and_cache and update_key_bounds of one layer in one launch (cache and bounds one
// layer): the CTA of each written block writes its new rows and widens (or, slot 0 written,
// restarts) its bounds. writes: device [num_writes], block_writes()'s list for
// tokens.slot_mapping: every token written into a block lies in its [token_begin, token_end).
cudaError_t reshape_and_update_bounds(const PagedKv& cache, const KeyBounds& bounds,
                                      const NewKv& tokens, const BlockWrite* writes,
                                      int32_t num_writes, cudaStream_t stream);

// Copies whole blocks' bounds, every layer, as copy_blocks copies their K/V (either side may be
// mapped pinned host memory). copies: device [num_copies].
cudaError_t copy_key_bounds(const KeyBounds& src, const KeyBounds& dst, const BlockCopy* copies,
                            int32_t num_copies, cudaStream_t stream);

// One layer's selection of a decode batch. batch: q (the bounds' dtype), block_tables shared by
// the KV heads, context_lens, scale (device pointers; out and max_context_len unused).
struct SelectLaunch {
  KeyBounds bounds;  // one layer
  DecodeBatch batch;
  int32_t block_size = 16;
  GroupScore rule = GroupScore::kMax;
  int32_t max_blocks = 0;           // >= every sequence's block count (the scores' row width)
  const int32_t* counts = nullptr;  // [batch] blocks kept per KV head (plan_selection)
  int32_t max_selected = 0;         // >= every count
  float* scores = nullptr;          // [batch, num_kv_heads, max_blocks] workspace (written)
  int32_t* tables = nullptr;        // [batch, num_kv_heads, max_selected] out: physical blocks
  int32_t* logical = nullptr;       // [batch, num_kv_heads, max_selected] out, or null
  // One launch only: [batch, num_kv_heads] counters, zero before the first launch; every launch
  // leaves them zero again.
  int32_t* tickets = nullptr;
};

// Scores every block (block_scores_reference's bits), then, in a second launch, keeps the top
// `counts[b]` per (sequence, KV head) (select_blocks_reference's choice, rows padded with -1).
cudaError_t score_blocks(const SelectLaunch& s, cudaStream_t stream);
cudaError_t select_top_blocks(const SelectLaunch& s, cudaStream_t stream);
// The same in one launch: the CTA that writes the last scores of a (sequence, KV head) selects
// its blocks (needs s.tickets).
cudaError_t score_and_select(const SelectLaunch& s, cudaStream_t stream);

}  // namespace tinyserve::gpu
