// A pool of physical KV blocks: reference counts, the prefix-cache index, and the free list.
//
// Every block is in exactly one state:
//   used    reference count > 0 (held by one or more block tables);
//   cached  count 0 but holding a full block's content under a hash: reusable by a prefix hit
//           until evicted;
//   free    count 0, no content.
// Free and cached blocks are the available ones; the free list (free_list.h) decides which one a
// new block is (a cached one is evicted: its hash leaves the index).
//
// Under vllm-v0 semantics a hash is held by one block at most. Under vllm-v1, as vLLM 0.33 (which
// never de-duplicates), several blocks may hold one hash: find() returns the one cached first that
// is still cached, and release_in_order() frees a request's blocks as vLLM's free_blocks does.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/ids.h"
#include "core/memory/free_list.h"
#include "core/memory/ref_churn.h"

namespace tinyserve {

class BlockPool {
 public:
  BlockPool(int32_t num_blocks, FreeListPolicy policy, uint64_t seed = 0);

  int32_t num_blocks() const { return static_cast<int32_t>(ref_count_.size()); }
  int32_t num_free() const { return free_list_.num_free(); }
  int32_t num_cached() const { return free_list_.num_cached(); }
  int32_t num_used() const { return num_blocks() - free_list_.size(); }
  int32_t num_available() const { return free_list_.size(); }
  FreeListPolicy policy() const { return free_list_.policy(); }

  // Takes one block with count 1; precondition: num_available() > 0. hint: the caller's last
  // block, so best-fit can keep a sequence contiguous.
  BlockId allocate(BlockId hint = kNoBlock);
  // Appends n blocks with count 1 to out; precondition: n <= num_available().
  void allocate(int32_t n, std::vector<BlockId>& out, BlockId hint = kNoBlock);
  void incref(BlockId b);   // precondition: used
  void release(BlockId b);  // decrements; at zero the block becomes cached (hashed) or free

  // Prefix-cache index over full blocks, used or cached.
  BlockId find(BlockHash hash) const;
  // Takes a reference on the block holding hash (reviving it when cached); kNoBlock if absent.
  BlockId acquire(BlockHash hash);
  // Publishes a used block's content; precondition: used, unhashed, hash not indexed, hash != 0.
  void set_hash(BlockId b, BlockHash hash);
  // vllm-v1: publishes a used block's content even when other blocks hold the same hash (they
  // are found first). Precondition: used, unhashed, hash != 0.
  void add_hash(BlockId b, BlockHash hash);
  // vllm-v1 (vLLM's BlockPool.free_blocks): drops one reference of each block in the order given
  // (a request's last block first); those whose count reaches zero become available, unhashed
  // ones at the free list's front (the first given reused first), cached ones at its back in
  // the order given.
  void release_in_order(std::span<const BlockId> blocks);

  int32_t ref_count(BlockId b) const { return ref_count_[static_cast<size_t>(b)]; }
  BlockHash hash(BlockId b) const { return hash_[static_cast<size_t>(b)]; }
  BlockState state(BlockId b) const;
  bool is_available(BlockId b) const { return ref_count(b) == 0; }
  // Bit b set when block b has count zero (free or cached); 64 blocks a word.
  const std::vector<uint64_t>& available_bits() const { return available_bits_; }
  int32_t num_hashed() const { return static_cast<int32_t>(index_.size()); }
  uint64_t num_evictions() const { return num_evictions_; }
  // Evicted blocks since the last call, in eviction order (for the event log).
  std::vector<BlockId> take_evicted();

  // Sum over blocks of |count now - count at the last call| (the temporal fragmentation term's
  // numerator); resets the baseline. Total of all counts is total_refs().
  int64_t take_ref_churn() {
    return churn_.take([this](BlockId b) { return ref_count(b); });
  }
  int64_t total_refs() const { return total_refs_; }

  // Checks the pool's own bookkeeping; returns a description of the first violation, or "".
  std::string check() const;

 private:
  void take(BlockId b);  // a block the free list handed out: count 1, evicted if it was cached
  void unindex(BlockId b);
  bool indexed(BlockId b) const;
  void note_change(BlockId b) { churn_.note(b, ref_count(b)); }
  void set_available(BlockId b, bool available) {
    const uint64_t bit = uint64_t{1} << (b & 63);
    uint64_t& word = available_bits_[static_cast<size_t>(b >> 6)];
    word = available ? (word | bit) : (word & ~bit);
  }
  std::vector<int32_t> ref_count_;  // [num_blocks]
  std::vector<BlockHash> hash_;     // [num_blocks] kNoHash when the block holds no cached content
  std::vector<uint64_t> available_bits_;          // [ceil(num_blocks / 64)]
  std::unordered_map<BlockHash, BlockId> index_;  // the first block cached under each hash
  // vllm-v1: the later blocks cached under a hash, in caching order (empty under vllm-v0).
  std::unordered_map<BlockHash, std::vector<BlockId>> duplicates_;
  std::vector<BlockId> scratch_front_;
  FreeList free_list_;
  uint64_t num_evictions_ = 0;
  std::vector<BlockId> evicted_;

  int64_t total_refs_ = 0;
  RefChurn churn_;
};

}  // namespace tinyserve
