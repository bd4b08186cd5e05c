// The CPU reference of query-aware selection's metadata (KeyBounds, core/execution/paged_kv.h):
// which blocks a step writes, their bounds brought up to date after the writes, and the bounds
// carried along with block copies (copy-on-write, swaps). Scalar loops on host pointers.
#pragma once

#include <span>
#include <vector>

#include "core/base/ids.h"
#include "core/execution/paged_kv.h"

namespace tinyserve {

// The blocks the given slots fall in, ascending by block, each with the first and last offset
// written and the range of token indices that wrote it; negative slots (padding) are skipped.
std::vector<BlockWrite> block_writes(std::span<const int64_t> slot_mapping, int32_t block_size);

// Brings every layer's bounds of the written blocks up to date with the pool's keys (after the
// writes): a block whose slot 0 was written gets the bounds of slots [0, last]; another block's
// bounds widen to cover slots [first, last]. cache and bounds hold the same layers and blocks.
void update_key_bounds_reference(const PagedKv& cache, const KeyBounds& bounds,
                                 std::span<const BlockWrite> writes);

// Copies the bounds of whole blocks, every layer (with copy_blocks_reference of the K/V).
void copy_key_bounds_reference(const KeyBounds& src, const KeyBounds& dst,
                               std::span<const BlockCopy> copies);

// The bounds of one block's first `filled` slots computed from scratch, one layer:
// [num_kv_heads, 2, head_dim] as float (what a test compares maintained bounds with).
std::vector<float> key_bounds_of(const PagedKv& layer, int64_t block, int32_t filled);

}  // namespace tinyserve
