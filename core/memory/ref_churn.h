// Tracks sum over blocks of |reference count now - count at the last mark| cheaply: a block's
// count is remembered the first time it changes after a mark (the temporal fragmentation term).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/base/ids.h"

namespace tinyserve {

class RefChurn {
 public:
  explicit RefChurn(int32_t num_blocks) : mark_(static_cast<size_t>(num_blocks), kUntouched) {}

  // Call before changing block b's count; count is its value before the change.
  void note(BlockId b, int32_t count) {
    int32_t& mark = mark_[static_cast<size_t>(b)];
    if (mark == kUntouched) {
      mark = count;
      touched_.push_back(b);
    }
  }

  // count_of(b) gives block b's count now. Resets the mark.
  template <typename CountOf>
  int64_t take(CountOf&& count_of) {
    int64_t churn = 0;
    for (BlockId b : touched_) {
      int32_t& mark = mark_[static_cast<size_t>(b)];
      churn += std::abs(count_of(b) - mark);
      mark = kUntouched;
    }
    touched_.clear();
    return churn;
  }

 private:
  static constexpr int32_t kUntouched = -1;
  std::vector<int32_t> mark_;  // [num_blocks]
  std::vector<BlockId> touched_;
};

}  // namespace tinyserve
