// The available blocks of a pool (reference count zero) and the order in which they are reused.
// A block is available either free (no content) or cached (a full block's content under a hash,
// reusable by a prefix hit until it is evicted). The policy decides which block comes next:
//
//   LIFO      the most recently freed block first (warm in caches, as vLLM v0's free list).
//   FIFO      the least recently freed block first.
//   best-fit  free blocks kept as maximal runs of consecutive ids; a request for n blocks takes the
//             smallest run that holds n (after first extending the caller's own last block), so a
//             sequence's blocks stay contiguous and freed sequences leave whole runs.
//   random    a uniformly random free block (seeded).
//   LRU       free and cached blocks in one queue, the front taken first (vLLM's free block
//             queue). Under vllm-v0 semantics released blocks join the back, so the least
//             recently released block is reused (evicted, when cached) first; under vllm-v1 (as
//             vLLM 0.33's BlockPool.free_blocks) released unhashed blocks join the front
//             (push_front: reused first) and cached ones the back.
// Under every policy but LRU a cached block is evicted only when no free block is left, the least
// recently released first. Policies are one enum and one class, not an interface: each is a few
// lines and the hot path stays a switch.
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/base/ids.h"
#include "core/base/named.h"
#include "core/base/rng.h"

namespace tinyserve {

enum class FreeListPolicy : uint8_t { kLifo, kFifo, kLru, kBestFit, kRandom };

inline constexpr Named<FreeListPolicy> kFreeListPolicyNames[] = {
    {FreeListPolicy::kLifo, "lifo"},
    {FreeListPolicy::kFifo, "fifo"},
    {FreeListPolicy::kLru, "lru"},
    {FreeListPolicy::kBestFit, "best-fit"},
    {FreeListPolicy::kRandom, "random"}};

inline std::string_view to_string(FreeListPolicy policy) {
  return name_of<FreeListPolicy>(kFreeListPolicyNames, policy);
}

// An intrusive doubly-linked list over block ids: O(1) insertion at either end and removal.
class RecencyList {
 public:
  explicit RecencyList(int32_t num_blocks);
  bool contains(BlockId b) const { return prev_[static_cast<size_t>(b)] != kNotLinked; }
  bool empty() const { return size_ == 0; }
  int32_t size() const { return size_; }
  BlockId front() const { return next_[sentinel()]; }
  void push_back(BlockId b);
  void push_front(BlockId b);
  void remove(BlockId b);

 private:
  static constexpr int32_t kNotLinked = -2;
  size_t sentinel() const { return prev_.size() - 1; }
  void link(BlockId b, BlockId prev, BlockId next);

  std::vector<int32_t> prev_, next_;  // [num_blocks + 1], the last entry is the sentinel
  int32_t size_ = 0;
};

class FreeList {
 public:
  // Starts holding every block of [0, num_blocks) as free (LIFO pops them in ascending order).
  FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed);
  // Starts empty.
  FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed, std::nullptr_t);

  FreeListPolicy policy() const { return policy_; }
  int32_t size() const { return num_free_ + num_cached_; }  // available blocks
  int32_t num_free() const { return num_free_; }
  int32_t num_cached() const { return num_cached_; }
  bool empty() const { return size() == 0; }
  bool contains_free(BlockId b) const { return free_[static_cast<size_t>(b)] != 0; }
  bool contains_cached(BlockId b) const { return cached_[static_cast<size_t>(b)] != 0; }

  // A block whose count fell to zero; cached: it keeps content under a hash. Precondition: not
  // held here.
  void push(BlockId b, bool cached);
  // A free block to reuse before every other (vllm-v1: vLLM 0.33 prepends freed unhashed blocks
  // to its queue). LRU: the front of the queue; the other policies order free blocks their own
  // way, so for them this is push(b, false). Precondition: not held here.
  void push_front(BlockId b);
  // A cached block taken back by a prefix hit. Precondition: contains_cached(b).
  void revive(BlockId b);
  // The next block to reuse (the caller evicts it when it was cached); hint: the caller's last
  // block, so best-fit can keep a sequence contiguous. Precondition: !empty().
  BlockId pop(BlockId hint = kNoBlock);
  // Appends the next n blocks to out, as n pops would (best-fit takes whole runs). Precondition:
  // n <= size().
  void pop_run(int32_t n, BlockId hint, std::vector<BlockId>& out);

 private:
  BlockId pop_free(BlockId hint);
  BlockId pop_best_fit(BlockId hint);
  void remove_run(BlockId start);
  void add_run(BlockId start, int32_t len);
  BlockId take_front_of_run(BlockId start, int32_t n, std::vector<BlockId>* out);

  FreeListPolicy policy_;
  int32_t num_blocks_;
  int32_t num_free_ = 0;
  int32_t num_cached_ = 0;
  std::vector<uint8_t> free_;    // [num_blocks] 1 when the block is held here as free
  std::vector<uint8_t> cached_;  // [num_blocks] 1 when the block is held here as cached

  // Released blocks in release order: cached ones, and under LRU the free ones too.
  RecencyList recency_;
  // Free blocks of the other policies. LIFO: a stack. FIFO: a ring of capacity num_blocks.
  // Random: an array with positions.
  std::vector<BlockId> items_;
  int32_t head_ = 0;
  std::vector<int32_t> position_;  // random: index of each block in items_
  Rng rng_;

  // Best-fit: maximal runs of free blocks, found by their two ends, ordered by (length, start).
  std::vector<int32_t> run_length_;  // [num_blocks] valid at a run's first block
  std::vector<BlockId> run_start_;   // [num_blocks] valid at a run's last block
  std::set<std::pair<int32_t, BlockId>> runs_by_length_;
};

}  // namespace tinyserve
