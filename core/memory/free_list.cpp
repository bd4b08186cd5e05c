#include "core/memory/free_list.h"

#include <cassert>
#include <iterator>

namespace tinyserve {

std::string_view to_string(FreeListPolicy policy) {
  switch (policy) {
    case FreeListPolicy::kLifo: return "lifo";
    case FreeListPolicy::kFifo: return "fifo";
    case FreeListPolicy::kLru: return "lru";
    case FreeListPolicy::kBestFit: return "best-fit";
    case FreeListPolicy::kRandom: return "random";
  }
  return "?";
}

std::optional<FreeListPolicy> parse_free_list_policy(std::string_view name) {
  for (FreeListPolicy p : kAllFreeListPolicies) {
    if (to_string(p) == name) return p;
  }
  if (name == "bestfit" || name == "best_fit") return FreeListPolicy::kBestFit;
  return std::nullopt;
}

FreeList::FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed, std::nullptr_t)
    : policy_(policy),
      num_blocks_(num_blocks),
      member_(static_cast<size_t>(num_blocks), 0),
      rng_(seed) {
  switch (policy_) {
    case FreeListPolicy::kFifo: items_.assign(static_cast<size_t>(num_blocks), kNoBlock); break;
    case FreeListPolicy::kRandom: position_.assign(static_cast<size_t>(num_blocks), -1); break;
    case FreeListPolicy::kBestFit:
      run_length_.assign(static_cast<size_t>(num_blocks), 0);
      run_start_.assign(static_cast<size_t>(num_blocks), kNoBlock);
      break;
    default: items_.reserve(static_cast<size_t>(num_blocks)); break;
  }
}

FreeList::FreeList(FreeListPolicy policy, int32_t num_blocks, uint64_t seed)
    : FreeList(policy, num_blocks, seed, nullptr) {
  if (policy_ == FreeListPolicy::kBestFit) {
    if (num_blocks > 0) add_run(0, num_blocks);
    std::fill(member_.begin(), member_.end(), 1);
    size_ = num_blocks;
    return;
  }
  if (policy_ == FreeListPolicy::kLifo || policy_ == FreeListPolicy::kLru) {
    for (BlockId b = num_blocks - 1; b >= 0; --b) push(b);
  } else {
    for (BlockId b = 0; b < num_blocks; ++b) push(b);
  }
}

void FreeList::push(BlockId b) {
  assert(b >= 0 && b < num_blocks_ && !contains(b));
  member_[static_cast<size_t>(b)] = 1;
  switch (policy_) {
    case FreeListPolicy::kLifo:
    case FreeListPolicy::kLru: items_.push_back(b); break;
    case FreeListPolicy::kFifo: {
      int32_t tail = head_ + size_;
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
      if (b > 0 && contains(b - 1)) {  // merge with the run ending just before b
        start = run_start_[static_cast<size_t>(b - 1)];
        len += run_length_[static_cast<size_t>(start)];
        remove_run(start);
      }
      if (b + 1 < num_blocks_ && contains(b + 1)) {  // and with the run starting just after b
        len += run_length_[static_cast<size_t>(b + 1)];
        remove_run(b + 1);
      }
      add_run(start, len);
      break;
    }
  }
  ++size_;
}

BlockId FreeList::pop(BlockId hint) {
  assert(size_ > 0);
  BlockId b = kNoBlock;
  switch (policy_) {
    case FreeListPolicy::kLifo:
    case FreeListPolicy::kLru:
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
    case FreeListPolicy::kBestFit: b = pop_best_fit(hint); break;
  }
  member_[static_cast<size_t>(b)] = 0;
  --size_;
  return b;
}

void FreeList::pop_run(int32_t n, BlockId hint, std::vector<BlockId>& out) {
  assert(n <= size_);
  if (policy_ != FreeListPolicy::kBestFit) {
    for (int32_t i = 0; i < n; ++i) out.push_back(pop(hint));
    return;
  }
  // Extend the caller's last block first, then take the smallest run that holds the rest; when
  // no run is long enough, take the longest whole and continue.
  if (hint != kNoBlock && hint + 1 < num_blocks_ && contains(hint + 1) && n > 0) {
    const int32_t take = std::min(n, run_length_[static_cast<size_t>(hint + 1)]);
    take_front_of_run(hint + 1, take, &out);
    n -= take;
  }
  while (n > 0) {
    auto it = runs_by_length_.lower_bound({n, 0});
    if (it == runs_by_length_.end()) it = std::prev(runs_by_length_.end());
    const int32_t take = std::min(n, it->first);
    take_front_of_run(it->second, take, &out);
    n -= take;
  }
}

BlockId FreeList::pop_best_fit(BlockId hint) {
  BlockId start;
  if (hint != kNoBlock && hint + 1 < num_blocks_ && contains(hint + 1)) {
    start = hint + 1;  // hint is in use, so hint + 1 starts a run
  } else {
    start = runs_by_length_.begin()->second;  // the shortest run: fill holes first
  }
  return take_front_of_run(start, 1, nullptr);
}

// Removes the first n blocks of the run at start (they leave the list's membership unchanged
// when called from pop, which clears it; pop_run clears it here).
BlockId FreeList::take_front_of_run(BlockId start, int32_t n, std::vector<BlockId>* out) {
  const int32_t len = run_length_[static_cast<size_t>(start)];
  assert(n >= 1 && n <= len);
  remove_run(start);
  if (len > n) add_run(start + n, len - n);
  if (out != nullptr) {
    for (BlockId b = start; b < start + n; ++b) {
      out->push_back(b);
      member_[static_cast<size_t>(b)] = 0;
    }
    size_ -= n;
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
