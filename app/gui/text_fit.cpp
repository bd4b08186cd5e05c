#include "app/gui/text_fit.h"

#include <algorithm>
#include <numeric>

namespace tinyserve::app {

namespace {

bool continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

std::string elide(std::string_view text, float width, const MeasureText& measure) {
  if (measure(text) <= width) return std::string(text);
  if (measure("...") > width) return "";
  // The longest prefix that fits with "...": binary search over byte lengths, then back to a
  // character boundary.
  size_t lo = 0, hi = text.size();
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    if (measure(std::string(text.substr(0, mid)) + "...") <= width) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  while (lo > 0 && lo < text.size() && continuation_byte(text[lo])) --lo;
  return std::string(text.substr(0, lo)) + "...";
}

std::vector<float> fit_line(std::span<const LinePiece> pieces, float room, float gap) {
  std::vector<float> w;
  std::vector<bool> kept(pieces.size(), true);
  for (const LinePiece& p : pieces) w.push_back(std::max(p.natural, 0.0f));
  auto total = [&] {
    float sum = 0;
    int n = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      if (!kept[i]) continue;
      sum += w[i];
      ++n;
    }
    return sum + gap * static_cast<float>(std::max(n - 1, 0));
  };
  // Lowest priority first; among equals, the later piece first.
  std::vector<size_t> order(pieces.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return pieces[a].priority != pieces[b].priority ? pieces[a].priority < pieces[b].priority
                                                    : a > b;
  });
  for (size_t i : order) {
    const float excess = total() - room;
    if (excess <= 0) return w;
    const float floor = std::min(pieces[i].min, w[i]);
    w[i] = std::max(floor, w[i] - excess);
    if (w[i] <= 0) kept[i] = false;  // shrunk away: its gap goes too
  }
  for (size_t i : order) {
    if (total() <= room) break;
    kept[i] = false;
    w[i] = 0;
  }
  // What dropping freed goes back to the shrunk pieces kept, highest priority first.
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const size_t i = *it;
    const float left = room - total();
    if (left <= 0) break;
    if (kept[i] && w[i] > 0) w[i] = std::min(pieces[i].natural, w[i] + left);
  }
  return w;
}

}  // namespace tinyserve::app
