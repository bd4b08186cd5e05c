// KV-cache maintenance on the GPU: reshape_and_cache, block copies (copy-on-write within the
// GPU pool; swap between the GPU pool and a mapped pinned host pool), and synthetic K/V/q rows.
// Plain C++ over core/execution/paged_kv.h; every launcher enqueues on a stream and returns the
// error.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/base/ids.h"
#include "core/execution/paged_kv.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve::gpu {

// Writes the new tokens' K/V rows into their slots of one layer (cache.num_layers == 1);
// negative slots are skipped. Slots must be distinct. fp8 pools quantize the fp16 rows to
// value / scale (cache.scales, device pointers for per-head scales), bit for bit as
// reshape_and_cache_reference does.
cudaError_t reshape_and_cache(const PagedKv& cache, const NewKv& tokens, cudaStream_t stream);

// Copies whole blocks, every layer, K and V, from src to dst (same geometry except num_blocks).
// Either pool may live in mapped pinned host memory (its device pointer): one launch then moves a
// whole batch of swaps. copies: device array [num_copies]; destinations distinct, and no block
// both read and written when src and dst are the same pool.
cudaError_t copy_blocks(const PagedKv& src, const PagedKv& dst, const BlockCopy* copies,
                        int32_t num_copies, cudaStream_t stream);

// Rows [count, heads, head_dim] of synthetic `kind` values for one layer: row (i, h) comes from
// (tokens[i], positions[i], layer, h), exactly as core/execution/synthetic_kv.h computes it on the
// host.
struct SyntheticRows {
  SyntheticKind kind = SyntheticKind::kKey;
  uint64_t seed = 0;
  SyntheticPattern pattern = SyntheticPattern::kUniform;
  int32_t group = 1;  // query heads per KV head (the structured pattern's queries need it)
  int32_t layer = 0;
  const int32_t* tokens = nullptr;     // [count], device
  const int32_t* positions = nullptr;  // [count], device
  int32_t count = 0;
  int32_t heads = 0;
  int32_t head_dim = 0;
  DType dtype = DType::kF16;
  void* out = nullptr;  // [count, heads, head_dim], device
};
cudaError_t synthesize_rows(const SyntheticRows& rows, cudaStream_t stream);

// out[i] (device, [count]): the fp8 bits (t = kFp8E4M3 or kFp8E5M2) of the float whose bit
// pattern is first + i, converted as reshape_and_cache converts (the tests hold it against the
// host's float_to_fp8_bits over all 2^32 floats).
cudaError_t fp8_bits_of_floats(DType t, uint32_t first, int64_t count, uint8_t* out,
                               cudaStream_t stream);

}  // namespace tinyserve::gpu
