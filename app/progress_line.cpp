#include "app/progress_line.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tinyserve::app {

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(seconds, 0.0)));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

ProgressLine::ProgressLine(bool enabled, int64_t total)
    : enabled_(enabled), tty_(isatty(fileno(stderr)) != 0), total_(total) {}

double ProgressLine::elapsed_s() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void ProgressLine::update(int64_t done, const std::string& detail, bool final) {
  if (!enabled_) return;
  const double fraction =
      total_ > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0)
                 : 1.0;
  const double elapsed = elapsed_s();
  std::string eta;
  if (done > 0 && done < total_) {
    eta =
        "  ~" +
        format_duration(elapsed / static_cast<double>(done) * static_cast<double>(total_ - done)) +
        " left";
  }
  const std::string extra = detail.empty() ? "" : "  " + detail;
  if (tty_) {
    const auto now = Clock::now();
    if (!final && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r[%s%s] %3.0f%%  %lld/%lld runs%s  %s elapsed%s   ",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), fraction * 100,
                 static_cast<long long>(done), static_cast<long long>(total_), extra.c_str(),
                 format_duration(elapsed).c_str(), eta.c_str());
    if (final) std::fputc('\n', stderr);
  } else {
    const int tenth = static_cast<int>(fraction * 10);
    if (tenth <= last_tenth_ && (!final || tenth == last_tenth_)) return;
    last_tenth_ = tenth;
    std::fprintf(stderr, "progress: %3.0f%%  %lld/%lld runs%s  %s elapsed\n", fraction * 100,
                 static_cast<long long>(done), static_cast<long long>(total_), extra.c_str(),
                 format_duration(elapsed).c_str());
  }
  std::fflush(stderr);
}

}  // namespace tinyserve::app
