#include "core/memory/free_list.h"

#include <cassert>
#include <iterator>

namespace tinyserve {

RecencyList::RecencyList(int32_t num_blocks)
    : prev_(static_cast<size_t>(num_blocks) + 1, kNotLinked),
      next_(static_cast<size_t>(num_blocks) + 1, kNotLinked) {
  const auto s = static_cast<int32_t>(sentinel());
  prev_[sentinel()] = next_[sentinel()] = s;
}

void RecencyList::link(BlockId b, BlockId prev, BlockId next) {
  prev_[static_cast<size_t>(b)] = prev;
  next_[static_cast<size_t>(b)] = next;
  next_[static_cast<size_t>(prev)] = b;
  prev_[static_cast<size_t>(next)] = b;
  ++size_;
}

void RecencyList::push_back(BlockId b) {
  assert(!contains(b));
  const auto s = static_cast<int32_t>(sentinel());
  link(b, prev_[sentinel()], s);
}

void RecencyList::push_front(BlockId b) {
  assert(!contains(b));
  const auto s = static_cast<int32_t>(sentinel());
  link(b, s, next_[sentinel()]);
}

void RecencyList::remove(BlockId b) {
  assert(contains(b));
  const BlockId prev = prev_[static_cast<size_t>(b)];
  const BlockId next = next_[static_cast<size_t>(b)];
  next_[static_cast<size_t>(prev)] = next;
  prev_[static_cast<size_t>(next)] = prev;
  prev_[static_cast<size_t>(b)] = next_[static_cast<size_t>(b)] = kNotLinked;
  --size_;
}

FreeList::FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed, std::nullptr_t)
    : policy_(policy),
      num_blocks_(num_blocks),
      free_(static_cast<size_t>(num_blocks), 0),
      cached_(static_cast<size_t>(num_blocks), 0),
      recency_(num_blocks),
      rng_(seed) {
  switch (policy_) {
    case FreeListPolicy::kFifo:
      items_.assign(static_cast<size_t>(num_blocks), kNoBlock);
      break;
    case FreeListPolicy::kRandom:
      position_.assign(static_cast<size_t>(num_blocks), -1);
      break;
    case FreeListPolicy::kBestFit:
      run_length_.assign(static_cast<size_t>(num_blocks), 0);
      run_start_.assign(static_cast<size_t>(num_blocks), kNoBlock);
      break;
    case FreeListPolicy::kLifo:
      items_.reserve(static_cast<size_t>(num_blocks));
      break;
    case FreeListPolicy::kLru:
      break;
  }
}

FreeList::FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed)
    : FreeList(policy, num_blocks, seed, nullptr) {
  if (policy_ == FreeListPolicy::kBestFit) {
    if (num_blocks > 0) add_run(0, num_blocks);
    std::fill(free_.begin(), free_.end(), 1);
    num_free_ = num_blocks;
    return;
  }
  if (policy_ == FreeListPolicy::kLifo) {
    for (BlockId b = num_blocks - 1; b >= 0; --b) push(b, false);
  } else {
    for (BlockId b = 0; b < num_blocks; ++b) push(b, false);
  }
}

void FreeList::push(BlockId b, bool cached) {
  assert(b >= 0 && b < num_blocks_ && !contains_free(b) && !contains_cached(b));
  if (cached) {
    cached_[static_cast<size_t>(b)] = 1;
    ++num_cached_;
    recency_.push_back(b);
    return;
  }
  free_[static_cast<size_t>(b)] = 1;
  ++num_free_;
  switch (policy_) {
    case FreeListPolicy::kLru:
      recency_.push_back(b);
      break;
    case FreeListPolicy::kLifo:
      items_.push_back(b);
      break;
    case FreeListPolicy::kFifo: {
      int32_t tail = head_ + num_free_ - 1;
      if (tail >= num_blocks_) tail -= num_blocks_;
      items_[static_cast<size_t>(tail)] = b;
      break;
    }
    case FreeListPolicy::kRandom:
      position_[static_cast<size_t>(b)] = static_cast<int32_t>(items_.size());
      items_.push_back(b);
      break;
    case FreeListPolicy::kBestFit: {
      BlockId start = b;
      int32_t len = 1;
      if (b > 0 && contains_free(b - 1)) {  // merge with the run ending just before b
        start = run_start_[static_cast<size_t>(b - 1)];
        len += run_length_[static_cast<size_t>(start)];
        remove_run(start);
      }
      if (b + 1 < num_blocks_ && contains_free(b + 1)) {  // and with the run starting after b
        len += run_length_[static_cast<size_t>(b + 1)];
        remove_run(b + 1);
      }
      add_run(start, len);
      break;
    }
  }
}

void FreeList::push_front(BlockId b) {
  if (policy_ != FreeListPolicy::kLru) {
    push(b, false);
    return;
  }
  assert(b >= 0 && b < num_blocks_ && !contains_free(b) && !contains_cached(b));
  free_[static_cast<size_t>(b)] = 1;
  ++num_free_;
  recency_.push_front(b);
}

void FreeList::revive(BlockId b) {
  assert(contains_cached(b));
  recency_.remove(b);
  cached_[static_cast<size_t>(b)] = 0;
  --num_cached_;
}

BlockId FreeList::pop(BlockId hint) {
  assert(!empty());
  if (policy_ != FreeListPolicy::kLru && num_free_ > 0) return pop_free(hint);
  const BlockId b = recency_.front();
  recency_.remove(b);
  if (cached_[static_cast<size_t>(b)] != 0) {
    cached_[static_cast<size_t>(b)] = 0;
    --num_cached_;
  } else {
    free_[static_cast<size_t>(b)] = 0;
    --num_free_;
  }
  return b;
}

BlockId FreeList::pop_free(BlockId hint) {
  BlockId b = kNoBlock;
  switch (policy_) {
    case FreeListPolicy::kLifo:
      b = items_.back();
      items_.pop_back();
      break;
    case FreeListPolicy::kFifo:
      b = items_[static_cast<size_t>(head_)];
      if (++head_ == num_blocks_) head_ = 0;
      break;
    case FreeListPolicy::kRandom: {
      const auto i = static_cast<size_t>(rng_.below(items_.size()));
      b = items_[i];
      const BlockId last = items_.back();
      items_[i] = last;
      position_[static_cast<size_t>(last)] = static_cast<int32_t>(i);
      items_.pop_back();
      position_[static_cast<size_t>(b)] = -1;
      break;
    }
    case FreeListPolicy::kBestFit:
      b = pop_best_fit(hint);
      break;
    case FreeListPolicy::kLru:
      assert(false);
      break;  // pop() serves LRU from the queue
  }
  free_[static_cast<size_t>(b)] = 0;
  --num_free_;
  return b;
}

void FreeList::pop_run(int32_t n, BlockId hint, std::vector<BlockId>& out) {
  assert(n <= size());
  const size_t first = out.size();
  if (policy_ == FreeListPolicy::kBestFit && n > 0 && num_free_ > 0) {
    // Extend the caller's last block first, then take the smallest run that holds the rest;
    // when no run is long enough, take the longest whole and continue.
    int32_t from_free = std::min(n, num_free_);
    n -= from_free;
    if (hint != kNoBlock && hint + 1 < num_blocks_ && contains_free(hint + 1)) {
      const int32_t take = std::min(from_free, run_length_[static_cast<size_t>(hint + 1)]);
      take_front_of_run(hint + 1, take, &out);
      from_free -= take;
    }
    while (from_free > 0) {
      auto it = runs_by_length_.lower_bound({from_free, 0});
      if (it == runs_by_length_.end()) it = std::prev(runs_by_length_.end());
      const int32_t take = std::min(from_free, it->first);
      take_front_of_run(it->second, take, &out);
      from_free -= take;
    }
  }
  for (int32_t i = 0; i < n; ++i) out.push_back(pop(out.size() > first ? out.back() : hint));
}

BlockId FreeList::pop_best_fit(BlockId hint) {
  BlockId start;
  if (hint != kNoBlock && hint + 1 < num_blocks_ && contains_free(hint + 1)) {
    start = hint + 1;  // hint is in use, so hint + 1 starts a run
  } else {
    start = runs_by_length_.begin()->second;  // the shortest run: fill holes first
  }
  return take_front_of_run(start, 1, nullptr);
}

// Removes the first n blocks of the run at start; with out, also their membership (pop clears
// it itself).
BlockId FreeList::take_front_of_run(BlockId start, int32_t n, std::vector<BlockId>* out) {
  const int32_t len = run_length_[static_cast<size_t>(start)];
  assert(n >= 1 && n <= len);
  remove_run(start);
  if (len > n) add_run(start + n, len - n);
  if (out != nullptr) {
    for (BlockId b = start; b < start + n; ++b) {
      out->push_back(b);
      free_[static_cast<size_t>(b)] = 0;
    }
    num_free_ -= n;
  }
  return start;
}

void FreeList::remove_run(BlockId start) {
  const int32_t len = run_length_[static_cast<size_t>(start)];
  runs_by_length_.erase({len, start});
  run_length_[static_cast<size_t>(start)] = 0;
  run_start_[static_cast<size_t>(start + len - 1)] = kNoBlock;
}

void FreeList::add_run(BlockId start, int32_t len) {
  run_length_[static_cast<size_t>(start)] = len;
  run_start_[static_cast<size_t>(start + len - 1)] = start;
  runs_by_length_.emplace(len, start);
}

}  // namespace tinyserve
