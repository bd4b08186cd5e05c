// The free list of a block pool: which free block (reference count zero, no cached content) is
// handed out next. Policies are one enum and one class, not an interface: each policy is a few
// lines and the hot path stays a switch.
//
//   LIFO      the most recently freed block first (warm in caches, as vLLM v0's free list).
//   FIFO      the least recently freed block first.
//   best-fit  free blocks kept as maximal runs of consecutive ids; a request for n blocks takes the
//             smallest run that holds n (after first extending the caller's own last block), so a
//             sequence's blocks stay contiguous and freed sequences leave whole runs.
//   random    a uniformly random free block (seeded).
//   LRU       not held here: the pool keeps free and cached blocks in one recency list (block_pool.h).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/ids.h"
#include "core/base/rng.h"

namespace tinyserve {

enum class FreeListPolicy : uint8_t { kLifo, kFifo, kLru, kBestFit, kRandom };

inline constexpr FreeListPolicy kAllFreeListPolicies[] = {
    FreeListPolicy::kLifo, FreeListPolicy::kFifo, FreeListPolicy::kLru, FreeListPolicy::kBestFit,
    FreeListPolicy::kRandom};

std::string_view to_string(FreeListPolicy policy);
std::optional<FreeListPolicy> parse_free_list_policy(std::string_view name);

class FreeList {
 public:
  // Starts holding every block of [0, num_blocks) (LIFO pops them in ascending order).
  FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed);
  // Starts empty.
  FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed, std::nullptr_t);

  FreeListPolicy policy() const { return policy_; }
  int32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool contains(BlockId b) const { return member_[static_cast<size_t>(b)] != 0; }

  void push(BlockId b);                  // precondition: !contains(b)
  BlockId pop(BlockId hint = kNoBlock);  // precondition: !empty(); hint: the caller's last block
  // Appends n blocks to out; precondition: n <= size().
  void pop_run(int32_t n, BlockId hint, std::vector<BlockId>& out);

 private:
  BlockId pop_best_fit(BlockId hint);
  void remove_run(BlockId start);
  void add_run(BlockId start, int32_t len);
  BlockId take_front_of_run(BlockId start, int32_t n, std::vector<BlockId>* out);

  FreeListPolicy policy_;
  int32_t num_blocks_;
  int32_t size_ = 0;
  std::vector<uint8_t> member_;  // [num_blocks] 1 when the block is in the list

  // LIFO: a stack. FIFO: a ring of capacity num_blocks. Random: an array with positions.
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
