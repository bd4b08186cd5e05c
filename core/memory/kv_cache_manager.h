// The paged KV-cache manager: block tables of sequences over a GPU block pool, with prefix
// caching, copy-on-write forks, and swapping to a CPU block pool. Nothing here touches K/V data:
// operations report the block copies a backend must perform.
//
// Two semantics (core/base/semantics.h), two sets of operations:
//   vllm-v1  (ChunkAllocator, as vLLM 0.33's KVCacheManager and BlockPool) block 0 of the pool is
//            the null block, never handed out; admission checks the whole known sequence against
//            the available blocks but takes blocks only for the first chunk (admit), later chunks
//            and decodes grow the table (allocate_slots); a full block is cached when the
//            scheduler schedules its last token (cache_blocks), generated tokens included, with
//            no de-duplication; free() releases the last block first, unhashed blocks to the
//            front of the free list (reused first), cached blocks to its back.
//   vllm-v0  (can_allocate / allocate / append_slot, as vLLM v0's block manager) a prompt's
//            blocks are all taken at admission, keeping a watermark free; full prompt blocks are
//            published once computed (mark_computed), a hash held by one block; free() releases
//            the last block first into the free list's own order; forks share blocks with
//            copy-on-write; groups swap to the CPU pool.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/id_map.h"
#include "core/base/semantics.h"
#include "core/memory/block_pool.h"
#include "core/memory/kv_allocator.h"

namespace tinyserve {

// Debug builds (CMAKE_BUILD_TYPE=Debug) check every invariant after every operation.
#ifdef TINYSERVE_DEBUG_CHECKS
inline constexpr bool kDebugBuild = true;
#else
inline constexpr bool kDebugBuild = false;
#endif

struct KvCacheConfig {
  int32_t block_size = 16;
  int32_t num_gpu_blocks = 0;
  int32_t num_cpu_blocks = 0;
  FreeListPolicy policy = FreeListPolicy::kLifo;
  bool enable_prefix_caching = false;
  double watermark = 0.01;  // fraction of GPU blocks kept free when admitting new sequences
  uint64_t seed = 0;
  bool check_invariants = kDebugBuild;  // run check_invariants() after every operation
  Semantics semantics = Semantics::kVllmV0;
};

class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class KvCacheManager final : public KvAllocator, public KvSwapper, public ChunkAllocator {
 public:
  explicit KvCacheManager(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  int32_t watermark_blocks() const { return watermark_blocks_; }

  // Admission: Never when the prompt cannot fit even in an empty pool (minus the watermark).
  AllocStatus can_allocate(const AllocRequest& request) const override;
  // Maps every prompt position to a slot, reusing cached leading blocks. Returns the number of
  // prompt tokens found in the prefix cache (a multiple of block_size, < the prompt's length).
  int32_t allocate(SeqId seq, const AllocRequest& request) override;
  // Publishes full prompt blocks once computed.
  void mark_computed(SeqId seq, int32_t num_computed) override;

  int32_t blocks_needed_to_append(SeqId seq) const override;  // 0 or 1
  int32_t num_available_blocks() const override { return gpu_.num_available(); }
  AppendResult append_slot(SeqId seq) override;

  bool can_fork(SeqId) const override { return true; }
  // The child shares every block (copy-on-write on the next write to a shared block).
  std::vector<BlockCopy> fork(SeqId parent, SeqId child) override;
  // Releases the blocks, last block first (so LRU eviction takes tails first); under vllm-v1
  // into the free list as vLLM's free_blocks (see above).
  void free(SeqId seq) override;

  // vllm-v1 (ChunkAllocator, kv_allocator.h).
  ChunkAllocator* chunk_allocator() override {
    return config_.semantics == Semantics::kVllmV1 ? this : nullptr;
  }
  PrefixHit find_prefix(std::span<const BlockHash> hashes) const override;
  bool can_admit(int32_t known_tokens, PrefixHit hit, bool others_running) const override;
  void admit(SeqId seq, std::span<const BlockHash> hashes, PrefixHit hit, int32_t known_tokens,
             int32_t tokens) override;
  bool allocate_slots(SeqId seq, int32_t tokens) override;
  void cache_blocks(SeqId seq, std::span<const BlockHash> hashes, int32_t tokens) override;
  int32_t num_reserved_blocks() const override { return null_block_ != kNoBlock ? 1 : 0; }
  BlockId null_block() const { return null_block_; }

  KvSwapper* swapper() override { return this; }
  int32_t blocks_to_swap(std::span<const SeqId> seqs) const override;
  bool can_swap_out(std::span<const SeqId> seqs) const override;
  std::vector<BlockCopy> swap_out(std::span<const SeqId> seqs) override;
  bool can_swap_in(std::span<const SeqId> seqs) const override;
  std::vector<BlockCopy> swap_in(std::span<const SeqId> seqs) override;

  bool has(SeqId id) const override { return slot_of_.contains(id); }
  Tier tier(SeqId id) const override { return seq(id).tier; }
  const BlockTable& table(SeqId id) const override { return seq(id).table; }
  std::vector<SeqId> live_seqs() const override;
  int32_t num_live_seqs() const { return static_cast<int32_t>(slot_of_.size()); }

  int32_t block_size() const override { return config_.block_size; }
  bool caches_prefixes() const override { return config_.enable_prefix_caching; }
  PoolStats stats() const override;
  std::span<const uint64_t> available_bits() const override { return gpu_.available_bits(); }
  int64_t take_ref_churn() override { return gpu_.take_ref_churn(); }
  std::vector<BlockId> take_evicted() override { return gpu_.take_evicted(); }
  void block_views(std::vector<BlockView>& out) const override;

  const BlockPool& gpu_pool() const { return gpu_; }
  const BlockPool& cpu_pool() const { return cpu_; }
  BlockPool& gpu_pool_for_testing() { return gpu_; }  // lets tests break invariants on purpose
  int32_t block_fill(BlockId b) const { return fill_[static_cast<size_t>(b)]; }
  int64_t stored_tokens() const { return stored_tokens_; }
  int64_t prefix_query_tokens() const { return prefix_query_tokens_; }
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }

  // Every block is exactly one of free, used, cached; each count equals the number of tables
  // holding the block; blocks shared by several tables sit at one logical index with one fill
  // (so no slot maps to two different tokens); free + used + cached = total; the same for the CPU
  // pool. Returns "" or a description of the first violation.
  std::string check_invariants() const override;

 private:
  struct Seq {
    SeqId id = kNoSeq;
    BlockTable table;
    Tier tier = Tier::kGpu;
    int32_t prompt_len = 0;
    std::vector<BlockHash> chain;  // hash chain of the prompt's full blocks (prefix caching)
    int32_t published = 0;         // leading blocks of the chain already offered to the cache
  };

  Seq& seq(SeqId id) { return slots_[slot_of_.at(id)]; }
  const Seq& seq(SeqId id) const { return slots_[slot_of_.at(id)]; }
  Seq& add_seq(SeqId id);
  void remove_seq(SeqId id);
  void release_gpu(BlockId b);
  void set_tokens(Seq& s, int32_t tokens);  // vllm-v1: the table covers `tokens`, fills follow
  std::vector<BlockCopy> move_group(std::span<const SeqId> ids, Tier to);
  void verify(const char* operation) const;
  // The request's hash chain over its first n full blocks: given, or computed into scratch.
  std::span<const BlockHash> chain_of(const AllocRequest& request, int32_t n,
                                      std::vector<BlockHash>& scratch) const;

  KvCacheConfig config_;
  int32_t watermark_blocks_;
  BlockPool gpu_;
  BlockPool cpu_;
  std::vector<int32_t> fill_;      // [num_gpu_blocks] tokens held by each GPU block
  std::vector<int32_t> cpu_fill_;  // [num_cpu_blocks]
  std::vector<Seq> slots_;  // live sequences; slots are reused so memory stays flat on long runs
  std::vector<uint32_t> free_slots_;
  IdMap slot_of_;   // SeqId -> index into slots_
  struct Scratch {  // the invariant checker's per-block tallies
    std::vector<int32_t> count, index, fill;
    void reset(int32_t n) {
      count.assign(static_cast<size_t>(n), 0);
      index.assign(static_cast<size_t>(n), -1);
      fill.assign(static_cast<size_t>(n), 0);
    }
  };
  mutable Scratch scratch_gpu_, scratch_cpu_;
  mutable std::vector<std::pair<SeqId, uint32_t>> scratch_live_;
  int64_t stored_tokens_ = 0;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
  BlockId null_block_ = kNoBlock;  // vllm-v1: taken at start, never handed out nor freed
  std::vector<BlockId> scratch_blocks_;
};

}  // namespace tinyserve
