// The plain structs that the attention kernels and the CPU reference take by value: the paged
// K/V pools, the contiguous layout, a decode batch, new tokens to cache. Pointers are host or
// device pointers depending on who receives the struct; nothing here owns memory.
#pragma once

#include <cstdint>

#include "core/base/half.h"

#if defined(__CUDACC__)
#define TINYSERVE_HD __host__ __device__
#else
#define TINYSERVE_HD
#endif

namespace tinyserve {

// What an fp8 pool's elements mean: element = value / scale, so value = element * scale, with one
// scale per tensor (k, v) or, when k_heads / v_heads are set, one per KV head ([num_kv_heads]
// each, host or device pointers like the pools'). Pools of other dtypes hold values as they are
// and ignore the scales.
struct KvScales {
  float k = 1.0f;
  float v = 1.0f;
  const float* k_heads = nullptr;
  const float* v_heads = nullptr;

  TINYSERVE_HD float k_of(int32_t kv_head) const {
    return k_heads != nullptr ? k_heads[kv_head] : k;
  }
  TINYSERVE_HD float v_of(int32_t kv_head) const {
    return v_heads != nullptr ? v_heads[kv_head] : v;
  }
};

// Paged K/V pools for num_layers layers. K and V are each
//   [num_layers, num_blocks, num_kv_heads, block_size, head_dim]
// row-major in dtype: layer-major, then block; one (layer, block, kv head) is a contiguous
// [block_size, head_dim] tile. Token slot s lives in block s / block_size at offset
// s % block_size.
struct PagedKv {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::kF16;
  int32_t num_layers = 1;
  int32_t num_blocks = 0;
  int32_t num_kv_heads = 0;
  int32_t block_size = 0;
  int32_t head_dim = 0;
  KvScales scales;  // fp8 pools only

  TINYSERVE_HD int64_t block_elements() const {
    return static_cast<int64_t>(num_kv_heads) * block_size * head_dim;
  }
  TINYSERVE_HD int64_t layer_elements() const { return block_elements() * num_blocks; }
  // Element offset of (block, kv head, offset in block, dim) within one layer.
  TINYSERVE_HD int64_t index(int64_t block, int32_t kv_head, int32_t offset, int32_t dim) const {
    return ((block * num_kv_heads + kv_head) * block_size + offset) * head_dim + dim;
  }
  // The one-layer view of layer l (num_layers == 1).
  TINYSERVE_HD PagedKv layer(int32_t l) const {
    PagedKv view = *this;
    const int64_t bytes = layer_elements() * dtype_size(dtype) * l;
    view.k = static_cast<char*>(k) + bytes;
    view.v = static_cast<char*>(v) + bytes;
    view.num_layers = 1;
    return view;
  }
};

// Contiguous K/V of one layer, each [batch, num_kv_heads, max_len, head_dim] in dtype: what a
// serving engine without paging reserves per request. With read_padded, attention reads every
// position up to max_len and masks those at or past the sequence's length (the padded-batch
// baseline, like a naive masked PyTorch implementation); otherwise it reads the real lengths.
struct ContiguousKv {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::kF16;
  int32_t batch = 0;
  int32_t num_kv_heads = 0;
  int32_t max_len = 0;
  int32_t head_dim = 0;
  bool read_padded = false;
  KvScales scales;  // fp8 only

  TINYSERVE_HD int64_t index(int64_t seq, int32_t kv_head, int64_t position, int32_t dim) const {
    return ((seq * num_kv_heads + kv_head) * max_len + position) * head_dim + dim;
  }
};

// One decode step: one query token per sequence. Query head h reads KV head
// h / (num_heads / num_kv_heads) (GQA; num_heads % num_kv_heads == 0, group size 1..8).
// Sequence b, KV head h reads its block table row at
//   block_tables + b * max_blocks_per_seq * (table_head_stride > 0 ? num_kv_heads : 1)
//                + h * table_head_stride
// so one row per sequence (table_head_stride 0, the usual case) or one per (sequence, KV head)
// ([batch, num_kv_heads, max_blocks_per_seq] with table_head_stride = max_blocks_per_seq: each
// KV head may read its own selection of blocks). v1 and v2 read only one row per sequence.
struct DecodeBatch {
  const void* q = nullptr;                // [batch, num_heads, head_dim], query_dtype(cache dtype)
  void* out = nullptr;                    // [batch, num_heads, head_dim], query_dtype(cache dtype)
  const int32_t* block_tables = nullptr;  // [batch, max_blocks_per_seq]; paged layout only
  const int32_t* context_lens = nullptr;  // [batch], each in [1, max_context_len]
  int32_t batch = 0;
  int32_t num_heads = 0;
  int32_t max_blocks_per_seq = 0;
  int32_t max_context_len = 0;  // host-known bound on context_lens (the padded length if padded)
  float scale = 1.0f;           // usually 1 / sqrt(head_dim)
  int32_t table_head_stride = 0;

  // The block table row of (sequence b, KV head h).
  TINYSERVE_HD const int32_t* table_row(int32_t b, int32_t kv_head, int32_t num_kv_heads) const {
    const int64_t seq_stride =
        static_cast<int64_t>(max_blocks_per_seq) * (table_head_stride > 0 ? num_kv_heads : 1);
    return block_tables + b * seq_stride + static_cast<int64_t>(kv_head) * table_head_stride;
  }
};

// Channel-wise bounds of each block's keys over its filled slots, per KV head: the metadata of
// query-aware selection. [num_layers, num_blocks, num_kv_heads, 2, head_dim] in dtype (the pool's;
// fp16 for fp8 pools): row 0 the minimum, row 1 the maximum.
struct KeyBounds {
  void* data = nullptr;
  DType dtype = DType::kF16;
  int32_t num_layers = 1;
  int32_t num_blocks = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;

  TINYSERVE_HD int64_t block_elements() const {
    return static_cast<int64_t>(num_kv_heads) * 2 * head_dim;
  }
  TINYSERVE_HD int64_t layer_elements() const { return block_elements() * num_blocks; }
  // Element offset of (block, kv head, 0 = min / 1 = max, dim) within one layer.
  TINYSERVE_HD int64_t index(int64_t block, int32_t kv_head, int32_t which, int32_t dim) const {
    return ((block * num_kv_heads + kv_head) * 2 + which) * head_dim + dim;
  }
  TINYSERVE_HD KeyBounds layer(int32_t l) const {
    KeyBounds view = *this;
    view.data = static_cast<char*>(data) + layer_elements() * dtype_size(dtype) * l;
    view.num_layers = 1;
    return view;
  }
};

// The dtype of the key bounds of a pool of dtype t.
TINYSERVE_HD inline DType key_bounds_dtype(DType t) {
  return is_fp8(t) ? DType::kF16 : t;
}

// A block written by a step: slots [first, last] of it received new tokens. Writing slot 0
// starts the block afresh (a block is filled in order from slot 0), so its bounds are then
// recomputed over slots [0, last]; otherwise slots [first, last] widen the bounds it had. The new
// tokens written into it all lie in [token_begin, token_end) of the step's token list (which may
// hold other blocks' tokens too).
struct BlockWrite {
  int32_t block = 0;
  int32_t first = 0;
  int32_t last = 0;
  int32_t token_begin = 0;
  int32_t token_end = 0;
};

// Prefill chunks of a step, ragged: entry b's queries are rows [query_start[b],
// query_start[b + 1]) of q, the last tokens of a sequence that holds context_lens[b] tokens, whose
// K/V are already in the pool. Query i of entry b sits at position p = context_lens[b] -
// (query_start[b + 1] - query_start[b]) + i and attends to positions [0, p] of its sequence
// through its block table (causal; the positions before the chunk are its cached prefix). Query
// head h reads KV head h / (num_heads / num_kv_heads) (GQA).
struct PrefillBatch {
  const void* q = nullptr;  // [num_queries, num_heads, head_dim], query_dtype(cache dtype)
  void* out = nullptr;      // [num_queries, num_heads, head_dim], query_dtype(cache dtype)
  const int32_t* query_start = nullptr;   // [batch + 1], query_start[0] = 0, increasing
  const int32_t* context_lens = nullptr;  // [batch], each >= the entry's query count
  const int32_t* block_tables = nullptr;  // [batch, max_blocks_per_seq]
  int32_t batch = 0;
  int32_t num_queries = 0;  // query_start[batch]
  int32_t num_heads = 0;
  int32_t max_blocks_per_seq = 0;
  float scale = 1.0f;  // usually 1 / sqrt(head_dim)
};

// New tokens' K/V to write into the paged pools of one layer (reshape_and_cache); an fp8 cache
// stores each element as value / scale, rounded to nearest even and saturated.
struct NewKv {
  const void* key = nullptr;    // [num_tokens, num_kv_heads, head_dim], query_dtype(cache dtype)
  const void* value = nullptr;  // [num_tokens, num_kv_heads, head_dim]
  const int64_t* slot_mapping = nullptr;  // [num_tokens]; slot = block * block_size + offset,
                                          // negative = padding (skipped)
  int32_t num_tokens = 0;
};

}  // namespace tinyserve
