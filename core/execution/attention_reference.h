// The CPU reference for every kernel: the oracle of the GPU tests and the CPU backend's math.
// Scalar loops over the structs of paged_kv.h, on host pointers, for every DType. Attention
// accumulates in double with an exact (two-pass) softmax. fp8 pools are read as element * scale
// (exact in double); queries, outputs and new K/V rows are query_dtype(cache dtype).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/base/ids.h"
#include "core/execution/paged_kv.h"

namespace tinyserve {

// Decode attention over one layer (cache.num_layers == 1): [batch, num_heads, head_dim]. The
// paged version honours DecodeBatch::table_head_stride (sparse attention over selected blocks).
std::vector<double> paged_attention_f64(const PagedKv& cache, const DecodeBatch& batch);
std::vector<double> contiguous_attention_f64(const ContiguousKv& cache, const DecodeBatch& batch);

// Prefill attention over one layer: each chunk's queries over the chunk's cached prefix and
// the chunk itself, causally: [num_queries, num_heads, head_dim].
std::vector<double> prefill_attention_f64(const PagedKv& cache, const PrefillBatch& batch);

// The same, stored into batch.out in the cache's dtype (round to nearest even).
void paged_attention_reference(const PagedKv& cache, const DecodeBatch& batch);
void prefill_attention_reference(const PagedKv& cache, const PrefillBatch& batch);
void contiguous_attention_reference(const ContiguousKv& cache, const DecodeBatch& batch);

// Writes each new token's K and V rows into its slot of one layer; negative slots are skipped.
// fp8 pools store round_to(dtype, x / scale) (float division, round to nearest even, saturated).
void reshape_and_cache_reference(const PagedKv& cache, const NewKv& tokens);

// What an element x (a value of query_dtype(t)) reads back as once cached in a pool of dtype t:
// round_to(t, x), or round_to(t, x / scale) * scale for fp8 (the attention's view of it).
double cached_value(DType t, float x, float scale);

// Copies whole blocks (every layer, K and V) from src to dst; src and dst may be the same pool
// (copy-on-write) or a GPU and a CPU pool of the same geometry but different block counts (swap).
void copy_blocks_reference(const PagedKv& src, const PagedKv& dst,
                           std::span<const BlockCopy> copies);

}  // namespace tinyserve
