#include "core/memory/block_pool.h"

#include <cassert>
#include <cstdlib>

#include "core/base/strings.h"

namespace tinyserve {

BlockPool::BlockPool(int32_t num_blocks, FreeListPolicy policy, uint64_t seed)
    : ref_count_(static_cast<size_t>(num_blocks), 0),
      hash_(static_cast<size_t>(num_blocks), kNoHash),
      available_bits_(static_cast<size_t>((num_blocks + 63) / 64), 0),
      free_list_(policy == FreeListPolicy::kLru ? FreeList(policy, num_blocks, seed, nullptr)
                                                 : FreeList(policy, num_blocks, seed)),
      lru_prev_(static_cast<size_t>(num_blocks) + 1, kNotLinked),
      lru_next_(static_cast<size_t>(num_blocks) + 1, kNotLinked),
      num_free_(num_blocks),
      churn_(num_blocks) {
  assert(num_blocks >= 0);
  const auto sentinel = static_cast<size_t>(num_blocks);
  lru_prev_[sentinel] = lru_next_[sentinel] = num_blocks;
  if (policy == FreeListPolicy::kLru) {
    for (BlockId b = 0; b < num_blocks; ++b) lru_push_back(b);
  }
  for (BlockId b = 0; b < num_blocks; ++b) set_available(b, true);
}

BlockState BlockPool::state(BlockId b) const {
  if (ref_count(b) > 0) return BlockState::kUsed;
  return hash(b) != kNoHash ? BlockState::kCached : BlockState::kFree;
}

BlockId BlockPool::allocate(BlockId hint) {
  const BlockId b = take_one(hint);
  note_change(b);
  ref_count_[static_cast<size_t>(b)] = 1;
  set_available(b, false);
  ++total_refs_;
  return b;
}

void BlockPool::allocate(int32_t n, std::vector<BlockId>& out, BlockId hint) {
  assert(n <= num_available());
  const size_t first = out.size();
  if (policy() != FreeListPolicy::kLru) {
    const int32_t from_free = std::min(n, free_list_.size());
    free_list_.pop_run(from_free, hint, out);
    num_free_ -= from_free;
    n -= from_free;
  }
  for (int32_t i = 0; i < n; ++i) out.push_back(take_one(out.size() > first ? out.back() : hint));
  for (size_t i = first; i < out.size(); ++i) {
    note_change(out[i]);
    ref_count_[static_cast<size_t>(out[i])] = 1;
    set_available(out[i], false);
  }
  total_refs_ += static_cast<int64_t>(out.size() - first);
}

BlockId BlockPool::take_one(BlockId hint) {
  assert(num_available() > 0);
  if (policy() != FreeListPolicy::kLru && !free_list_.empty()) {
    --num_free_;
    return free_list_.pop(hint);
  }
  const auto sentinel = static_cast<size_t>(num_blocks());
  const BlockId b = lru_next_[sentinel];
  lru_unlink(b);
  if (hash(b) != kNoHash) {
    evict(b);
  } else {
    --num_free_;
  }
  return b;
}

void BlockPool::evict(BlockId b) {
  index_.erase(hash(b));
  hash_[static_cast<size_t>(b)] = kNoHash;
  --num_cached_;
  ++num_evictions_;
  evicted_.push_back(b);
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
  if (hash(b) != kNoHash) {
    ++num_cached_;
    lru_push_back(b);
  } else {
    ++num_free_;
    if (policy() == FreeListPolicy::kLru) {
      lru_push_back(b);
    } else {
      free_list_.push(b);
    }
  }
}

BlockId BlockPool::find(BlockHash hash) const {
  const auto it = index_.find(hash);
  return it == index_.end() ? kNoBlock : it->second;
}

BlockId BlockPool::acquire(BlockHash hash) {
  const BlockId b = find(hash);
  if (b == kNoBlock) return kNoBlock;
  if (ref_count(b) == 0) {  // revive a cached block
    lru_unlink(b);
    --num_cached_;
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

std::vector<BlockId> BlockPool::take_evicted() {
  std::vector<BlockId> out;
  out.swap(evicted_);
  return out;
}

void BlockPool::lru_push_back(BlockId b) {
  const auto sentinel = num_blocks();
  const BlockId last = lru_prev_[static_cast<size_t>(sentinel)];
  lru_prev_[static_cast<size_t>(b)] = last;
  lru_next_[static_cast<size_t>(b)] = sentinel;
  lru_next_[static_cast<size_t>(last)] = b;
  lru_prev_[static_cast<size_t>(sentinel)] = b;
}

void BlockPool::lru_unlink(BlockId b) {
  const BlockId prev = lru_prev_[static_cast<size_t>(b)];
  const BlockId next = lru_next_[static_cast<size_t>(b)];
  lru_next_[static_cast<size_t>(prev)] = next;
  lru_prev_[static_cast<size_t>(next)] = prev;
  lru_prev_[static_cast<size_t>(b)] = lru_next_[static_cast<size_t>(b)] = kNotLinked;
}

TINYSERVE_NO_COVERAGE std::string BlockPool::check() const {
  const bool lru = policy() == FreeListPolicy::kLru;
  int32_t free = 0, cached = 0;
  int64_t refs = 0;
  for (BlockId b = 0; b < num_blocks(); ++b) {
    const int32_t count = ref_count(b);
    if (count < 0) return cat("block ", b, " has negative count ", count);
    refs += count;
    const BlockState s = state(b);
    const bool bit = (available_bits_[static_cast<size_t>(b >> 6)] >> (b & 63)) & 1;
    if (bit != (count == 0)) return cat("block ", b, " has count ", count, " but availability bit ", bit);
    const bool in_free_list = !lru && free_list_.contains(b);
    const bool in_lru = lru_contains(b);
    if (s == BlockState::kUsed && (in_free_list || in_lru)) {
      return cat("used block ", b, " (count ", count, ") is also on a free list");
    }
    if (s == BlockState::kCached && (!in_lru || in_free_list)) {
      return cat("cached block ", b, " is not exactly on the recency list");
    }
    if (s == BlockState::kFree && (lru ? !in_lru : (!in_free_list || in_lru))) {
      return cat("free block ", b, " is not exactly on one free list");
    }
    if (hash(b) != kNoHash) {
      if (find(hash(b)) != b) return cat("block ", b, " has a hash the index does not map to it");
    }
    free += s == BlockState::kFree;
    cached += s == BlockState::kCached;
  }
  if (free != num_free_ || cached != num_cached_) {
    return cat("counted ", free, " free and ", cached, " cached blocks, bookkeeping says ", num_free_, " and ", num_cached_);
  }
  if (!lru && free_list_.size() != num_free_) {
    return cat("free list holds ", free_list_.size(), " blocks, ", num_free_, " are free");
  }
  if (refs != total_refs_) return cat("counts sum to ", refs, ", bookkeeping says ", total_refs_);
  if (static_cast<int32_t>(index_.size()) > num_blocks()) return "hash index larger than the pool";
  for (const auto& [h, b] : index_) {
    if (b < 0 || b >= num_blocks() || hash(b) != h) return cat("index maps a hash to block ", b, " which does not hold it");
  }
  return {};
}

}  // namespace tinyserve
