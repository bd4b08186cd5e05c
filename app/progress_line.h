// One progress bar for work made of many runs (a sweep, a search): a redrawn line on a terminal,
// a plain line at every tenth otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tinyserve::app {

class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t total);
  void set_total(int64_t total) { total_ = total; }
  // done of total finished; detail: e.g. "3 failed".
  void update(int64_t done, const std::string& detail, bool final = false);
  double elapsed_s() const;

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool tty_;
  int64_t total_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
  int last_tenth_ = -1;
};

// "1:05" / "1:02:03"
std::string format_duration(double seconds);

}  // namespace tinyserve::app
