#include "app/gui/plot.h"

#include <imgui_internal.h>

#include <algorithm>
#include <cstdio>

#include "app/gui/theme.h"

namespace tinyserve::app {

namespace {

constexpr float kLeftMargin = 50;
constexpr float kRightMargin = 6;

struct Frame {
  ImRect area;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  float x_of(double x) const {
    return area.Min.x + static_cast<float>((x - x0) / (x1 - x0)) * area.GetWidth();
  }
  float y_of(double y) const {
    return area.Max.y - static_cast<float>((y - y0) / (y1 - y0)) * area.GetHeight();
  }
};

void format_value(char* out, size_t size, double v, int decimals, const char* unit) {
  const double a = std::fabs(v);
  if (a >= 1e6) {
    std::snprintf(out, size, "%.2fM%s", v / 1e6, unit);
  } else if (a >= 1e4) {
    std::snprintf(out, size, "%.1fk%s", v / 1e3, unit);
  } else {
    std::snprintf(out, size, "%.*f%s", decimals, v, unit);
  }
}

// Index range of the samples to draw: those inside [x0, x1] and one either side.
std::pair<size_t, size_t> visible(const std::vector<double>& xs, size_t n, double x0, double x1) {
  auto b = static_cast<size_t>(
      std::lower_bound(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(n), x0) - xs.begin());
  auto e = static_cast<size_t>(
      std::upper_bound(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(n), x1) - xs.begin());
  if (b > 0) --b;
  if (e < n) ++e;
  return {b, e};
}

// Where each pixel column's samples end, shared by the series of one run (one x vector).
struct ColumnEnds {
  const std::vector<double>* x = nullptr;
  size_t n = 0;
  std::vector<size_t> ends;  // [columns] one past the last sample of column px
};

void draw_series(ImDrawList* dl, const PlotSeries& s, const Frame& f, ColumnEnds& cache) {
  const std::vector<double>& xs = *s.x;
  const Column& col = *s.values;
  const size_t n = std::min(xs.size(), col.size());
  if (n == 0) return;
  const auto [begin, end] = visible(xs, n, f.x0, f.x1);
  if (begin >= end) return;
  const float width = f.area.GetWidth();
  const float base = f.y_of(std::max(f.y0, 0.0));
  const ImU32 fill = (s.color & ~IM_COL32_A_MASK) | (static_cast<ImU32>(34) << IM_COL32_A_SHIFT);
  auto y_at = [&](size_t i) { return f.y_of(static_cast<double>(col[i]) * s.scale); };

  if (static_cast<float>(end - begin) <= width / 3) {
    // Sparse: the samples themselves, segment by segment (a thick polyline's miter joins spike
    // at sharp turns).
    ImVec2 prev(f.x_of(xs[begin]), y_at(begin));
    if (end - begin == 1) dl->AddCircleFilled(prev, 2.0f, s.color);
    for (size_t i = begin + 1; i < end; ++i) {
      const ImVec2 p(f.x_of(xs[i]), y_at(i));
      if (s.fill) dl->AddQuadFilled(prev, p, ImVec2(p.x, base), ImVec2(prev.x, base), fill);
      dl->AddLine(prev, p, s.color, 1.5f);
      prev = p;
    }
    return;
  }

  // Dense: one pixel column at a time, the extremes of its samples from the pyramid.
  const auto columns = static_cast<int>(width);
  if (cache.x != &xs || cache.n != n) {
    cache.x = &xs;
    cache.n = n;
    cache.ends.resize(static_cast<size_t>(std::max(columns, 0)));
    const double dx = (f.x1 - f.x0) / width;
    auto from = xs.begin() + static_cast<ptrdiff_t>(begin);
    for (int px = 0; px < columns; ++px) {
      from = std::lower_bound(from, xs.begin() + static_cast<ptrdiff_t>(end), f.x0 + (px + 1) * dx);
      cache.ends[static_cast<size_t>(px)] =
          px == columns - 1 ? end : static_cast<size_t>(from - xs.begin());
    }
  }
  size_t i = begin;
  int prev_px = -2;
  float prev_y = 0;
  for (int px = 0; px < columns && i < end; ++px) {
    const size_t j = cache.ends[static_cast<size_t>(px)];
    if (j <= i) continue;
    const MinMax mm = col.range(i, j);
    float top = f.y_of(static_cast<double>(mm.max) * s.scale);
    float bottom = f.y_of(static_cast<double>(mm.min) * s.scale);
    const float x = f.area.Min.x + static_cast<float>(px);
    if (prev_px == px - 1) {
      top = std::min(top, prev_y);
      bottom = std::max(bottom, prev_y);
    } else if (prev_px >= 0) {
      // Columns without samples in between: a straight segment.
      const ImVec2 a(f.area.Min.x + static_cast<float>(prev_px) + 1, prev_y), b(x, y_at(i));
      if (s.fill) dl->AddQuadFilled(a, b, ImVec2(b.x, base), ImVec2(a.x, base), fill);
      dl->AddLine(a, b, s.color, 1.5f);
    }
    if (s.fill) dl->AddRectFilled(ImVec2(x, top), ImVec2(x + 1, base), fill);
    dl->AddRectFilled(ImVec2(x, top - 0.75f), ImVec2(x + 1, bottom + 0.75f), s.color);
    prev_px = px;
    prev_y = y_at(j - 1);
    i = j;
  }
}

}  // namespace

void format_compact(char* out, size_t size, double v, const char* unit) {
  const double a = std::fabs(v);
  if (a >= 1e6) {
    std::snprintf(out, size, "%gM%s", v / 1e6, unit);
  } else if (a >= 1e3) {
    std::snprintf(out, size, "%gk%s", v / 1e3, unit);
  } else {
    std::snprintf(out, size, "%g%s", v, unit);
  }
}

const std::vector<double>& axis_of(const RunColumns& columns, const ViewState& view) {
  return view.axis_in_steps ? columns.step() : columns.time();
}

void plot(const char* id, std::span<const PlotSeries> series, const PlotSpec& spec,
          ViewState& view) {
  ImGui::PushID(id);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const float width = ImGui::GetContentRegionAvail().x;
  const float line = ImGui::GetTextLineHeight();
  const float legend_h = line + 5;
  const float labels_h = spec.x_labels ? line + 3 : 3;

  Frame f;
  f.area = ImRect(origin.x + kLeftMargin, origin.y + legend_h, origin.x + width - kRightMargin,
                  origin.y + std::max(spec.height, legend_h + labels_h + 20) - labels_h);
  f.x0 = view.axis_min;
  f.x1 = std::max(view.axis_max, view.axis_min + 1e-9);

  // The legend's readout: the sample under the shared cursor, else the latest.
  auto sample_at = [&](const PlotSeries& s) -> int64_t {
    const size_t n = std::min(s.x->size(), s.values->size());
    if (n == 0) return -1;
    if (!view.hover_valid) return static_cast<int64_t>(n - 1);
    const auto it =
        std::upper_bound(s.x->begin(), s.x->begin() + static_cast<ptrdiff_t>(n), view.hover_x);
    return std::max<int64_t>(0, (it - s.x->begin()) - 1);
  };

  // Y range over the visible samples.
  double lo = std::isnan(spec.y_min) ? 1e300 : spec.y_min;
  double hi = -1e300;
  for (const PlotSeries& s : series) {
    if (metric_hidden(view, s.metric)) continue;
    const size_t n = std::min(s.x->size(), s.values->size());
    const auto [b, e] = visible(*s.x, n, f.x0, f.x1);
    const MinMax mm = s.values->range(b, e);
    if (mm.empty()) continue;
    if (std::isnan(spec.y_min)) lo = std::min(lo, static_cast<double>(mm.min) * s.scale);
    hi = std::max(hi, static_cast<double>(mm.max) * s.scale);
  }
  if (lo > 1e299) lo = 0;
  if (!std::isnan(spec.y_max)) {
    f.y0 = lo;
    f.y1 = spec.y_max;
  } else {
    if (hi - lo < 1e-12) hi = lo + 1;
    const double step = nice_step(std::max(hi - lo, 1e-9) / 3);
    f.y0 = std::isnan(spec.y_min) ? std::floor(lo / step) * step : lo;
    f.y1 = std::max(std::ceil((hi + (hi - lo) * 0.04) / step) * step, f.y0 + step);
  }

  // Legend: title, then a swatch, label and value per series; click toggles a series.
  {
    dl->PushClipRect(origin, ImVec2(origin.x + width, origin.y + legend_h), true);
    ImVec2 p(origin.x + 4, origin.y + 1);
    ImGui::PushFont(theme::fonts().heading);
    dl->AddText(p, theme::kText, spec.title);
    p.x += ImGui::CalcTextSize(spec.title).x + 16;
    ImGui::PopFont();
    const bool can_click = ImGui::IsWindowHovered();
    for (const PlotSeries& s : series) {
      const bool hidden = metric_hidden(view, s.metric);
      char text[96];
      char value[32] = "";
      if (const int64_t i = sample_at(s); i >= 0) {
        format_value(value, sizeof value,
                     static_cast<double>((*s.values)[static_cast<size_t>(i)]) * s.scale,
                     spec.decimals, spec.unit);
      }
      std::snprintf(text, sizeof text, "%s %s", s.label, value);
      const ImVec2 size = ImGui::CalcTextSize(text);
      const ImVec2 swatch_min(p.x, p.y + line * 0.5f - 4);
      const ImU32 colour = hidden ? theme::mix(s.color, theme::kPanel, 0.7f) : s.color;
      dl->AddRectFilled(swatch_min, ImVec2(swatch_min.x + 9, swatch_min.y + 9), colour, 2.0f);
      dl->AddText(ImVec2(p.x + 13, p.y), hidden ? theme::kTextDim : theme::kText, text);
      const ImVec2 item_max(p.x + 13 + size.x, p.y + line);
      if (can_click && s.metric != Metric::kCount && ImGui::IsMouseHoveringRect(p, item_max)) {
        ImGui::SetTooltip("Click to %s %s", hidden ? "show" : "hide", s.label);
        if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
          view.hidden_metrics ^= uint64_t{1} << static_cast<unsigned>(s.metric);
        }
      }
      p.x = item_max.x + 14;
    }
    dl->PopClipRect();
  }

  // Interaction over the plot area.
  ImGui::SetCursorScreenPos(f.area.Min);
  ImGui::InvisibleButton(
      "area", ImVec2(std::max(f.area.GetWidth(), 1.0f), std::max(f.area.GetHeight(), 1.0f)));
  const ImGuiIO& io = ImGui::GetIO();
  if (ImGui::IsItemHovered()) {
    ImGui::SetItemUsingMouseWheel();
    const double mx = f.x0 + (io.MousePos.x - f.area.Min.x) / f.area.GetWidth() * (f.x1 - f.x0);
    view.hover_seen = true;
    view.hover_x = mx;
    if (io.MouseWheel != 0) {
      zoom_axis(view, mx, std::pow(0.8, static_cast<double>(io.MouseWheel)), axis_bounds(view));
    }
    if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) view.axis_follow = true;
    const std::string x_text = axis_label(
        mx, view.axis_in_steps ? 1.0 : nice_step((f.x1 - f.x0) / 200), view.axis_in_steps);
    ImGui::SetTooltip("%s %s\nwheel: zoom, drag: pan, double-click: whole run",
                      view.axis_in_steps ? "step" : "t =", x_text.c_str());
  }
  if (ImGui::IsItemActive() && io.MouseDelta.x != 0) {
    pan_axis(view, -io.MouseDelta.x / f.area.GetWidth() * (f.x1 - f.x0), axis_bounds(view));
  }
  ImGui::SetCursorScreenPos(ImVec2(origin.x, f.area.Max.y));
  ImGui::Dummy(ImVec2(width, labels_h));

  // Axes and grid.
  dl->AddRectFilled(f.area.Min, f.area.Max, theme::kPlotBackground);
  {
    const double step = nice_step(
        (f.y1 - f.y0) / std::max(2.0, std::floor(static_cast<double>(f.area.GetHeight()) / 28)));
    for (double y = std::ceil(f.y0 / step) * step; y <= f.y1 + step * 1e-6; y += step) {
      const float py = f.y_of(y);
      dl->AddLine(ImVec2(f.area.Min.x, py), ImVec2(f.area.Max.x, py), theme::kGrid);
      char text[32];
      format_compact(text, sizeof text, std::fabs(y) < step * 1e-6 ? 0.0 : y, spec.unit);
      const ImVec2 size = ImGui::CalcTextSize(text);
      dl->AddText(
          ImVec2(f.area.Min.x - size.x - 5, std::clamp(py - size.y * 0.5f, origin.y + legend_h - 4,
                                                       f.area.Max.y - size.y + 4)),
          theme::kAxisText, text);
    }
  }
  for (const AxisTick& t : axis_ticks(f.x0, f.x1, f.area.GetWidth(), view.axis_in_steps)) {
    const float px = f.x_of(t.x);
    dl->AddLine(ImVec2(px, f.area.Min.y), ImVec2(px, f.area.Max.y), theme::kGrid);
    if (spec.x_labels) {
      const ImVec2 size = ImGui::CalcTextSize(t.label.c_str());
      dl->AddText(ImVec2(std::clamp(px - size.x * 0.5f, f.area.Min.x, f.area.Max.x - size.x),
                         f.area.Max.y + 2),
                  theme::kAxisText, t.label.c_str());
    }
  }

  dl->PushClipRect(f.area.Min, f.area.Max, true);
  ColumnEnds ends;
  for (const PlotSeries& s : series) {
    if (!metric_hidden(view, s.metric)) draw_series(dl, s, f, ends);
  }
  if (view.hover_valid && view.hover_x >= f.x0 && view.hover_x <= f.x1) {
    const float px = f.x_of(view.hover_x);
    dl->AddLine(ImVec2(px, f.area.Min.y), ImVec2(px, f.area.Max.y), theme::kCursor);
  }
  dl->PopClipRect();
  dl->AddRect(f.area.Min, f.area.Max, IM_COL32(255, 255, 255, 20));
  ImGui::PopID();
}

}  // namespace tinyserve::app
