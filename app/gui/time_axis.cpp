#include "app/gui/time_axis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tinyserve::app {

AxisBounds axis_bounds(const ViewState& view) {
  return {view.axis_end, view.axis_in_steps ? kMinSpanSteps : kMinSpanSeconds};
}

void update_axis(ViewState& view, std::span<const std::vector<double>* const> xs) {
  double end = 0;
  for (const std::vector<double>* x : xs) {
    if (!x->empty()) end = std::max(end, x->back());
  }
  const AxisBounds bounds{end, view.axis_in_steps ? kMinSpanSteps : kMinSpanSeconds};
  view.axis_end = end;
  if (view.axis_follow) {
    view.axis_min = 0;
    view.axis_max = std::max(end, bounds.min_span);
  } else {
    clamp_axis(view, bounds);
  }
}

void clamp_axis(ViewState& view, const AxisBounds& bounds) {
  const double limit = std::max(bounds.end, bounds.min_span);
  double lo = std::isfinite(view.axis_min) ? view.axis_min : 0;
  double hi = std::isfinite(view.axis_max) ? view.axis_max : limit;
  double span = std::clamp(hi - lo, bounds.min_span, limit);
  lo = std::clamp(lo, 0.0, limit - span);
  view.axis_min = lo;
  view.axis_max = lo + span;
}

void zoom_axis(ViewState& view, double at, double factor, const AxisBounds& bounds) {
  view.axis_follow = false;
  const double limit = std::max(bounds.end, bounds.min_span);
  const double span = view.axis_max - view.axis_min;
  const double next = std::clamp(span * factor, bounds.min_span, limit);
  // Keep the position under the cursor where it is on screen.
  const double share = span > 0 ? std::clamp((at - view.axis_min) / span, 0.0, 1.0) : 0.5;
  view.axis_min = at - share * next;
  view.axis_max = view.axis_min + next;
  clamp_axis(view, bounds);
}

void pan_axis(ViewState& view, double delta, const AxisBounds& bounds) {
  view.axis_follow = false;
  view.axis_min += delta;
  view.axis_max += delta;
  const double span = view.axis_max - view.axis_min;
  const double limit = std::max(bounds.end, bounds.min_span);
  // A pan keeps the zoom: it stops at either end instead of squeezing the span.
  if (view.axis_min < 0) {
    view.axis_min = 0;
    view.axis_max = span;
  } else if (view.axis_max > limit) {
    view.axis_max = limit;
    view.axis_min = limit - span;
  }
  clamp_axis(view, bounds);
}

double nice_step(double x) {
  if (!(x > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(x)));
  const double m = x / p * (1 - 1e-9);  // 0.005 / 0.001 is 5.000000000000001
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

std::string axis_label(double x, double spacing, bool in_steps) {
  char text[48];
  if (std::fabs(x) < spacing * 1e-6) x = 0;
  if (in_steps) {
    const double a = std::fabs(x);
    // Compact where the spacing allows it: 12k, 1.25M; whole steps otherwise.
    if (a >= 1e6 && spacing >= 1e4) {
      std::snprintf(text, sizeof text, "%.*fM",
                    spacing >= 1e6   ? 0
                    : spacing >= 1e5 ? 1
                                     : 2,
                    x / 1e6);
    } else if (a >= 1e4 && spacing >= 100) {
      std::snprintf(text, sizeof text, "%.*fk", spacing >= 1e3 ? 0 : 1, x / 1e3);
    } else {
      std::snprintf(text, sizeof text, "%.0f", x);
    }
    return text;
  }
  // Enough decimals that neighbouring ticks differ: 0.001 spacing -> 3.
  const int decimals =
      spacing >= 1 ? 0 : std::clamp(static_cast<int>(std::ceil(-std::log10(spacing) - 1e-9)), 0, 9);
  std::snprintf(text, sizeof text, "%.*fs", decimals, x);
  return text;
}

std::vector<AxisTick> axis_ticks(double x0, double x1, float width_px, bool in_steps) {
  std::vector<AxisTick> ticks;
  if (!(x1 > x0) || !std::isfinite(x0) || !std::isfinite(x1)) return ticks;
  const double count = std::max(1.0, std::floor(static_cast<double>(width_px) / 90));
  double spacing = nice_step((x1 - x0) / count);
  if (in_steps) spacing = std::max(spacing, 1.0);
  const double first = std::ceil(x0 / spacing - 1e-9);
  for (double k = first;; ++k) {
    const double x = k * spacing;
    if (x > x1 + spacing * 1e-9 || ticks.size() > 1000) break;
    ticks.push_back({x, axis_label(x, spacing, in_steps)});
  }
  return ticks;
}

}  // namespace tinyserve::app
