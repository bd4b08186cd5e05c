// The interface the scheduler drives: the paged KV-cache manager and the contiguous baselines
// implement it, so one scenario runs against any allocator. Ask, then act: every act's
// precondition is its query's answer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/base/ids.h"
#include "core/memory/block_table.h"

namespace tinyserve {

enum class AllocStatus : uint8_t { kOk, kLater, kNever };
enum class Tier : uint8_t { kGpu, kCpu };

struct AllocRequest {
  std::span<const TokenId> tokens;  // the prompt (non-empty)
  int32_t final_len = 0;            // prompt + output tokens the sequence will reach
  int32_t num_seqs = 1;             // sequences the group holds at once (samples or beams)
  // Optional: the prompt's hash chain over its full blocks (prefix_cache.h), when the caller
  // keeps it; otherwise the allocator computes it.
  std::span<const BlockHash> block_hashes = {};
};

struct AppendResult {
  int64_t slot = -1;       // physical slot of the new token
  BlockCopy cow;           // src != kNoBlock when the last block was shared and was copied
  bool new_block = false;  // a fresh block was taken (not counting a copy)
};

// Pool-wide numbers for the metrics (GPU pool unless named cpu).
struct PoolStats {
  int32_t block_size = 0;
  int32_t num_blocks = 0;
  int32_t used_blocks = 0;    // held by sequences (reserved, for contiguous allocators)
  int32_t cached_blocks = 0;  // count zero, reusable prefix-cache content
  int64_t stored_tokens = 0;  // tokens held by used blocks, shared blocks counted once
  int64_t future_tokens = 0;  // slots reserved for tokens still to come (contiguous only)
  int64_t total_refs = 0;     // sum of reference counts (block-table entries)
  int32_t cpu_num_blocks = 0;
  int32_t cpu_used_blocks = 0;
  int64_t prefix_query_tokens = 0;  // prompt tokens looked up in the prefix cache (cumulative)
  int64_t prefix_hit_tokens = 0;    // of which found (cumulative)
};

// One block of the pool as a view shows it.
struct BlockView {
  BlockState state = BlockState::kFree;
  int32_t ref_count = 0;
  int32_t fill = 0;      // tokens held (for a contiguous reservation: of the sequence's tokens)
  SeqId owner = kNoSeq;  // lowest sequence id holding it
  BlockHash hash = kNoHash;
};

// What the metrics, the snapshot and the GUI read: queries only.
class KvAllocatorView {
 public:
  virtual ~KvAllocatorView() = default;

  virtual bool has(SeqId seq) const = 0;
  virtual Tier tier(SeqId seq) const = 0;  // where the sequence's blocks are
  virtual const BlockTable& table(SeqId seq) const = 0;
  virtual std::vector<SeqId> live_seqs() const = 0;  // ascending

  virtual int32_t block_size() const = 0;
  virtual bool caches_prefixes() const = 0;
  virtual int32_t num_available_blocks() const = 0;
  virtual PoolStats stats() const = 0;
  // Blocks of the pool never handed out (vllm-v1's null block): part of num_blocks, never
  // available.
  virtual int32_t num_reserved_blocks() const { return 0; }
  // Bit b set when GPU block b holds no sequence's data (free or cached); words of 64 blocks.
  virtual std::span<const uint64_t> available_bits() const = 0;
  virtual void block_views(std::vector<BlockView>& out) const = 0;  // [num_blocks]
  virtual std::string check_invariants() const = 0;
};

// Moving sequence groups (sequences that may share blocks) between the GPU pool and a CPU pool.
// The copies are (GPU block, CPU block) for swap-out and (CPU block, GPU block) for swap-in.
class KvSwapper {
 public:
  virtual ~KvSwapper() = default;
  virtual int32_t blocks_to_swap(std::span<const SeqId> seqs) const = 0;
  virtual bool can_swap_out(std::span<const SeqId> seqs) const = 0;
  virtual std::vector<BlockCopy> swap_out(std::span<const SeqId> seqs) = 0;
  virtual bool can_swap_in(std::span<const SeqId> seqs) const = 0;
  virtual std::vector<BlockCopy> swap_in(std::span<const SeqId> seqs) = 0;
};

// What the vllm-v1 scheduler drives (vLLM 0.33's KVCacheManager): blocks follow the tokens each
// step schedules, and a full block enters the prefix cache when its last token is scheduled.
struct PrefixHit {
  int32_t blocks = 0;     // leading full blocks found in the prefix cache
  int32_t evictable = 0;  // of which cached with count zero (taking them uses available blocks)
};

class ChunkAllocator {
 public:
  virtual ~ChunkAllocator() = default;
  // get_computed_blocks: how many leading blocks of the chain are cached (none without prefix
  // caching). The caller passes at most (known tokens - 1) / block_size hashes.
  virtual PrefixHit find_prefix(std::span<const BlockHash> hashes) const = 0;
  // The admission gate (vLLM 0.33's scheduler_reserve_full_isl): the blocks of the whole known
  // sequence less the hit, plus the evictable hit blocks and the watermark (only while others
  // run), fit in the available blocks. Nothing is reserved beyond the first chunk.
  virtual bool can_admit(int32_t known_tokens, PrefixHit hit, bool others_running) const = 0;
  // Takes the hit blocks (hashes[0, hit.blocks)) and blocks for `tokens` tokens in all, and
  // counts the lookup (known_tokens queried, the hit found). Precondition: can_admit.
  virtual void admit(SeqId seq, std::span<const BlockHash> hashes, PrefixHit hit,
                     int32_t known_tokens, int32_t tokens) = 0;
  // allocate_slots: grows the sequence's blocks to hold `tokens` tokens, taking blocks from the
  // front of the free list; false (nothing changes) when too few are available.
  virtual bool allocate_slots(SeqId seq, int32_t tokens) = 0;
  // cache_blocks: the sequence's full blocks within its first `tokens` tokens enter the prefix
  // cache under hashes (only as far as hashes reaches); no de-duplication.
  virtual void cache_blocks(SeqId seq, std::span<const BlockHash> hashes, int32_t tokens) = 0;
};

// What the scheduler drives.
class KvAllocator : public KvAllocatorView {
 public:
  virtual AllocStatus can_allocate(const AllocRequest& request) const = 0;
  // Returns the number of prompt tokens found in the prefix cache.
  virtual int32_t allocate(SeqId seq, const AllocRequest& request) = 0;
  // Positions [0, num_computed) of the sequence now hold computed K/V.
  virtual void mark_computed(SeqId seq, int32_t num_computed) = 0;

  virtual int32_t blocks_needed_to_append(SeqId seq) const = 0;
  bool can_append(SeqId seq) const {
    return blocks_needed_to_append(seq) <= num_available_blocks();
  }
  virtual AppendResult append_slot(SeqId seq) = 0;

  virtual bool can_fork(SeqId parent) const = 0;
  // Returns the block copies the child needs (none when blocks are shared).
  virtual std::vector<BlockCopy> fork(SeqId parent, SeqId child) = 0;
  virtual void free(SeqId seq) = 0;

  // Swapping, for allocators that can (the paged manager); nullptr otherwise.
  virtual KvSwapper* swapper() { return nullptr; }
  // vllm-v1's chunk-by-chunk allocation, for allocators built for it; nullptr otherwise.
  virtual ChunkAllocator* chunk_allocator() { return nullptr; }

  // Sum over GPU blocks of |reference count now - at the last call|; resets the baseline.
  virtual int64_t take_ref_churn() = 0;
  // Blocks evicted from the prefix cache since the last call, in eviction order.
  virtual std::vector<BlockId> take_evicted() = 0;
};

}  // namespace tinyserve
