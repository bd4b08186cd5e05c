#include "core/memory/block_pool.h"

#include <algorithm>
#include <cassert>
#include <cstdlib>

#include "core/base/strings.h"

namespace tinyserve {

BlockPool::BlockPool(int32_t num_blocks, FreeListPolicy policy, uint64_t seed)
    : ref_count_(static_cast<size_t>(num_blocks), 0),
      hash_(static_cast<size_t>(num_blocks), kNoHash),
      available_bits_(static_cast<size_t>((num_blocks + 63) / 64), 0),
      free_list_(policy, num_blocks, seed),
      churn_(num_blocks) {
  assert(num_blocks >= 0);
  for (BlockId b = 0; b < num_blocks; ++b) set_available(b, true);
}

BlockState BlockPool::state(BlockId b) const {
  if (ref_count(b) > 0) return BlockState::kUsed;
  return hash(b) != kNoHash ? BlockState::kCached : BlockState::kFree;
}

BlockId BlockPool::allocate(BlockId hint) {
  assert(num_available() > 0);
  const BlockId b = free_list_.pop(hint);
  take(b);
  return b;
}

void BlockPool::allocate(int32_t n, std::vector<BlockId>& out, BlockId hint) {
  assert(n <= num_available());
  const size_t first = out.size();
  free_list_.pop_run(n, hint, out);
  for (size_t i = first; i < out.size(); ++i) take(out[i]);
}

void BlockPool::take(BlockId b) {
  if (hash(b) != kNoHash) {  // evict the cached content
    unindex(b);
    hash_[static_cast<size_t>(b)] = kNoHash;
    ++num_evictions_;
    evicted_.push_back(b);
  }
  note_change(b);
  ref_count_[static_cast<size_t>(b)] = 1;
  set_available(b, false);
  ++total_refs_;
}

void BlockPool::unindex(BlockId b) {
  const BlockHash h = hash(b);
  if (duplicates_.empty()) {
    index_.erase(h);
    return;
  }
  const auto dup = duplicates_.find(h);
  if (const auto it = index_.find(h); it->second == b) {
    if (dup == duplicates_.end()) {
      index_.erase(it);
      return;
    }
    it->second = dup->second.front();
    dup->second.erase(dup->second.begin());
  } else {
    dup->second.erase(std::find(dup->second.begin(), dup->second.end(), b));
  }
  if (dup->second.empty()) duplicates_.erase(dup);
}

bool BlockPool::indexed(BlockId b) const {
  const BlockHash h = hash(b);
  if (find(h) == b) return true;
  const auto dup = duplicates_.find(h);
  return dup != duplicates_.end() &&
         std::find(dup->second.begin(), dup->second.end(), b) != dup->second.end();
}

void BlockPool::incref(BlockId b) {
  assert(ref_count(b) > 0);
  note_change(b);
  ++ref_count_[static_cast<size_t>(b)];
  ++total_refs_;
}

void BlockPool::release(BlockId b) {
  assert(ref_count(b) > 0);
  note_change(b);
  --total_refs_;
  if (--ref_count_[static_cast<size_t>(b)] > 0) return;
  set_available(b, true);
  free_list_.push(b, hash(b) != kNoHash);
}

BlockId BlockPool::find(BlockHash hash) const {
  const auto it = index_.find(hash);
  return it == index_.end() ? kNoBlock : it->second;
}

BlockId BlockPool::acquire(BlockHash hash) {
  const BlockId b = find(hash);
  if (b == kNoBlock) return kNoBlock;
  if (ref_count(b) == 0) {  // revive a cached block
    free_list_.revive(b);
    set_available(b, false);
  }
  note_change(b);
  ++ref_count_[static_cast<size_t>(b)];
  ++total_refs_;
  return b;
}

void BlockPool::set_hash(BlockId b, BlockHash h) {
  assert(ref_count(b) > 0 && hash(b) == kNoHash && h != kNoHash && find(h) == kNoBlock);
  hash_[static_cast<size_t>(b)] = h;
  index_.emplace(h, b);
}

void BlockPool::add_hash(BlockId b, BlockHash h) {
  assert(ref_count(b) > 0 && hash(b) == kNoHash && h != kNoHash);
  hash_[static_cast<size_t>(b)] = h;
  if (const auto [it, inserted] = index_.emplace(h, b); !inserted) duplicates_[h].push_back(b);
}

void BlockPool::release_in_order(std::span<const BlockId> blocks) {
  scratch_front_.clear();
  for (BlockId b : blocks) {
    assert(ref_count(b) > 0);
    note_change(b);
    --total_refs_;
    if (--ref_count_[static_cast<size_t>(b)] > 0) continue;
    set_available(b, true);
    if (hash(b) == kNoHash) {
      scratch_front_.push_back(b);
    } else {
      free_list_.push(b, true);
    }
  }
  for (auto it = scratch_front_.rbegin(); it != scratch_front_.rend(); ++it) {
    free_list_.push_front(*it);
  }
}

std::vector<BlockId> BlockPool::take_evicted() {
  std::vector<BlockId> out;
  out.swap(evicted_);
  return out;
}

TINYSERVE_NO_COVERAGE std::string BlockPool::check() const {
  int32_t free = 0, cached = 0;
  int64_t refs = 0;
  for (BlockId b = 0; b < num_blocks(); ++b) {
    const int32_t count = ref_count(b);
    if (count < 0) return cat("block ", b, " has negative count ", count);
    refs += count;
    const BlockState s = state(b);
    const bool bit = (available_bits_[static_cast<size_t>(b >> 6)] >> (b & 63)) & 1;
    if (bit != (count == 0))
      return cat("block ", b, " has count ", count, " but availability bit ", bit);
    const bool listed_free = free_list_.contains_free(b);
    const bool listed_cached = free_list_.contains_cached(b);
    if (s == BlockState::kUsed && (listed_free || listed_cached)) {
      return cat("used block ", b, " (count ", count, ") is also on the free list");
    }
    if (s == BlockState::kCached && (!listed_cached || listed_free)) {
      return cat("cached block ", b, " is not listed as cached");
    }
    if (s == BlockState::kFree && (!listed_free || listed_cached)) {
      return cat("free block ", b, " is not listed as free");
    }
    if (hash(b) != kNoHash) {
      if (!indexed(b)) return cat("block ", b, " has a hash the index does not map to it");
    }
    free += s == BlockState::kFree;
    cached += s == BlockState::kCached;
  }
  if (free != num_free() || cached != num_cached()) {
    return cat("counted ", free, " free and ", cached, " cached blocks, the free list says ",
               num_free(), " and ", num_cached());
  }
  if (refs != total_refs_) return cat("counts sum to ", refs, ", bookkeeping says ", total_refs_);
  if (static_cast<int32_t>(index_.size()) > num_blocks()) return "hash index larger than the pool";
  for (const auto& [h, b] : index_) {
    if (b < 0 || b >= num_blocks() || hash(b) != h)
      return cat("index maps a hash to block ", b, " which does not hold it");
  }
  return {};
}

}  // namespace tinyserve
