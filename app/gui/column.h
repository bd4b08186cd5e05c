// One metric over a run's steps, with a min/max pyramid so that the extremes of any index range
// cost O(log n): plots decimate to their width without touching every step.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace tinyserve::app {

struct MinMax {
  float min = 0;
  float max = 0;
  bool empty() const { return min > max; }
  void merge(const MinMax& o) {
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
  }
  static MinMax none() {
    return {std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()};
  }
};

class Column {
 public:
  void push(float value);
  void clear();
  size_t size() const { return values_.size(); }
  float operator[](size_t i) const { return values_[i]; }
  std::span<const float> values() const { return values_; }
  // Extremes of values [begin, end); none() when the range is empty.
  MinMax range(size_t begin, size_t end) const;

 private:
  std::vector<float> values_;
  // levels_[k][j]: extremes of values [j << (k + 1), (j + 1) << (k + 1)), the last one partial.
  std::vector<std::vector<MinMax>> levels_;
};

}  // namespace tinyserve::app
