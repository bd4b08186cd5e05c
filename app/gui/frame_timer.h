// The app's own frame timer: the main thread's CPU time to build each frame (snapshot, views,
// draw lists, texture uploads; engine stepping is measured apart), with its wall time alongside.
// A rolling mean feeds the status bar; the scripted mode keeps every sample for its report.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

namespace tinyserve::app {

class FrameTimer {
 public:
  struct Sample {
    double cpu_ms = 0;
    double wall_ms = 0;
  };

  void begin() {
    cpu_start_ = thread_cpu_ms();
    wall_start_ = std::chrono::steady_clock::now();
  }
  Sample end() {
    Sample s;
    s.cpu_ms = thread_cpu_ms() - cpu_start_;
    s.wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall_start_)
            .count();
    recent_[next_++ % recent_.size()] = s.cpu_ms;
    if (keep_all_) all_.push_back(s);
    return last_ = s;
  }
  const Sample& last() const { return last_; }
  double mean_cpu_ms() const {
    const size_t n = std::min<size_t>(next_, recent_.size());
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += recent_[i];
    return n ? sum / static_cast<double>(n) : 0.0;
  }
  void keep_all(bool on) { keep_all_ = on; }
  const std::vector<Sample>& all() const { return all_; }

  static double thread_cpu_ms() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  }

 private:
  double cpu_start_ = 0;
  std::chrono::steady_clock::time_point wall_start_{};
  std::vector<double> recent_ = std::vector<double>(120, 0.0);
  size_t next_ = 0;
  Sample last_;
  bool keep_all_ = false;
  std::vector<Sample> all_;
};

}  // namespace tinyserve::app
