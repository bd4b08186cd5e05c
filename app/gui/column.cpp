#include "app/gui/column.h"

#include <algorithm>
#include <bit>

namespace tinyserve::app {

void Column::push(float value) {
  const size_t i = values_.size();
  values_.push_back(value);
  for (size_t k = 0; k < levels_.size(); ++k) {
    std::vector<MinMax>& level = levels_[k];
    const size_t j = i >> (k + 1);
    if (j == level.size()) {
      level.push_back({value, value});
    } else {
      level[j].merge({value, value});
    }
  }
  // A level of blocks of 2^(k+1) values starts once that many values exist.
  while (values_.size() >= (size_t{2} << levels_.size())) {
    const size_t k = levels_.size();
    MinMax first = MinMax::none();
    if (k == 0) {
      first = {std::min(values_[0], values_[1]), std::max(values_[0], values_[1])};
    } else {
      first = levels_[k - 1][0];
      first.merge(levels_[k - 1][1]);
    }
    levels_.push_back({first});
  }
}

void Column::clear() {
  values_.clear();
  levels_.clear();
}

MinMax Column::range(size_t begin, size_t end) const {
  MinMax out = MinMax::none();
  if (end > values_.size()) end = values_.size();
  while (begin < end) {
    const size_t span = end - begin;
    size_t k = static_cast<size_t>(std::bit_width(span) - 1);  // 2^k <= span
    if (begin != 0) k = std::min<size_t>(k, static_cast<size_t>(std::countr_zero(begin)));
    k = std::min(k, levels_.size());
    if (k == 0) {
      out.merge({values_[begin], values_[begin]});
      ++begin;
    } else {
      out.merge(levels_[k - 1][begin >> k]);
      begin += size_t{1} << k;
    }
  }
  return out;
}

}  // namespace tinyserve::app
