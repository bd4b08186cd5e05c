#include "app/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tinyserve::app {

namespace {

constexpr const char* kPalette[] = {"#0072B2", "#D55E00", "#009E73", "#E69F00",
                                    "#CC79A7", "#56B4E9", "#000000", "#8C6D31"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);
constexpr double kCharWidth = 7.4;  // 12 px sans-serif, generous
constexpr int32_t kLegendRow = 18;

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.starts_with("-") && s.find_first_not_of("-0.") == std::string::npos) {
    s.erase(0, 1);
  }
  return s;
}

std::string px(double v) {
  return fixed(v, 1);
}

// The decimals that show every multiple of step: 0.25 -> 2, 0.2 -> 1, 5 -> 0.
int decimals_for(double step) {
  if (!(step > 0) || !std::isfinite(step)) return 0;
  for (int d = 0; d < 12; ++d) {
    const double scaled = step * std::pow(10.0, d);
    if (std::fabs(scaled - std::round(scaled)) < 1e-6 * scaled) return d;
  }
  return 12;
}

std::string axis_title(const ChartAxis& a) {
  const std::string unit = a.percent ? "%" : a.unit;
  return unit.empty() ? a.label : a.label + " (" + unit + ")";
}

std::string truncate(const std::string& s, size_t max_chars) {
  if (s.size() <= max_chars) return s;
  if (max_chars <= 1) return s.substr(0, max_chars);
  return s.substr(0, max_chars - 1) + "\u2026";
}

struct Range {
  double lo = 0, hi = 1;
};

Range data_range(const LineChart& c, bool x_axis) {
  const ChartAxis& axis = x_axis ? c.x : c.y;
  if (x_axis && !axis.categories.empty()) {
    return {-0.5, static_cast<double>(axis.categories.size()) - 0.5};
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const ChartSeries& s : c.series) {
    for (double v : x_axis ? s.x : s.y) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!x_axis) {
    for (const ChartRule& r : c.rules) {
      lo = std::min(lo, r.y);
      hi = std::max(hi, r.y);
    }
  }
  if (!std::isfinite(axis.min) && axis.include_zero) lo = std::min(lo, 0.0);
  if (std::isfinite(axis.min)) lo = axis.min;
  if (std::isfinite(axis.max)) hi = axis.max;
  if (!(lo <= hi)) return {0, 1};
  if (lo == hi) {
    if (lo == 0) return {0, 1};
    const double pad = std::fabs(lo) * 0.1;
    return {lo - pad, hi + pad};
  }
  return {lo, hi};
}

}  // namespace

const char* chart_colour(size_t i) {
  return kPalette[i % kPaletteSize];
}

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Ticks nice_ticks(double lo, double hi, int32_t target) {
  Ticks t;
  if (!(std::isfinite(lo) && std::isfinite(hi))) return t;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double norm = raw / mag;
  t.step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  t.first = std::floor(lo / t.step + 1e-9) * t.step;
  const double last = std::ceil(hi / t.step - 1e-9) * t.step;
  t.count = static_cast<int32_t>(std::llround((last - t.first) / t.step)) + 1;
  return t;
}

std::string tick_label(double value, double step) {
  if (std::fabs(value) < step * 1e-6) value = 0;
  const double a = std::fabs(value);
  if (a >= 1e9) return fixed(value / 1e9, decimals_for(step / 1e9)) + "G";
  if (a >= 1e6) return fixed(value / 1e6, decimals_for(step / 1e6)) + "M";
  if (a >= 1e4) return fixed(value / 1e3, decimals_for(step / 1e3)) + "k";
  return fixed(value, decimals_for(step));
}

void decimate_min_max(const std::vector<double>& x, const std::vector<double>& y, int32_t buckets,
                      std::vector<double>& out_x, std::vector<double>& out_y) {
  out_x.clear();
  out_y.clear();
  const size_t n = std::min(x.size(), y.size());
  if (n == 0) return;
  if (buckets < 1 || n <= 2 * static_cast<size_t>(buckets)) {
    out_x.assign(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n));
    out_y.assign(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(n));
    return;
  }
  const double x0 = x.front(), span = x[n - 1] - x.front();
  size_t i = 0;
  while (i < n) {
    const int64_t b =
        span > 0
            ? std::min<int64_t>(buckets - 1, static_cast<int64_t>((x[i] - x0) / span * buckets))
            : 0;
    size_t lo = i, hi = i, j = i;
    bool gap = false;
    for (; j < n; ++j) {
      const int64_t bj =
          span > 0
              ? std::min<int64_t>(buckets - 1, static_cast<int64_t>((x[j] - x0) / span * buckets))
              : 0;
      if (bj != b) break;
      if (std::isnan(y[j])) {
        gap = true;
        continue;
      }
      if (std::isnan(y[lo]) || y[j] < y[lo]) lo = j;
      if (std::isnan(y[hi]) || y[j] > y[hi]) hi = j;
    }
    const size_t first = std::min(lo, hi), second = std::max(lo, hi);
    out_x.push_back(x[first]);
    out_y.push_back(y[first]);
    if (second != first) {
      out_x.push_back(x[second]);
      out_y.push_back(y[second]);
    }
    if (gap) {
      out_x.push_back(x[j - 1]);
      out_y.push_back(std::nan(""));
    }
    i = j;
  }
}

std::string svg_line_chart(const LineChart& c) {
  const bool categorical = !c.x.categories.empty();
  // Legend: a column on the right, as wide as the longest name (capped).
  size_t longest = 0;
  for (const ChartSeries& s : c.series) longest = std::max(longest, s.name.size());
  for (const ChartRule& r : c.rules) longest = std::max(longest, r.label.size());
  const size_t legend_chars =
      c.legend_width > 0 ? static_cast<size_t>(std::max(0.0, (c.legend_width - 40) / kCharWidth))
                         : std::min<size_t>(longest, 34);
  const bool legend = !c.series.empty() && (c.series.size() > 1 || !c.series[0].name.empty());
  const int32_t legend_w =
      c.legend_width > 0 ? c.legend_width
      : legend || !c.rules.empty()
          ? static_cast<int32_t>(static_cast<double>(legend_chars) * kCharWidth) + 40
          : 0;
  const int32_t top = 30 + (c.subtitle.empty() ? 0 : 16) + 8;
  const int32_t left = 70, bottom = categorical ? 62 : 46, right = 16 + legend_w;
  const int32_t entries = static_cast<int32_t>(c.series.size() + c.rules.size());
  const int32_t height = std::max(c.height, top + bottom + entries * kLegendRow + 12);
  const int32_t width = std::max(c.width, left + right + 160);
  const double pw = width - left - right, ph = height - top - bottom;

  const Range xr = data_range(c, true);
  Range yr = data_range(c, false);
  const double y_scale = c.y.percent ? 100.0 : 1.0;
  const Ticks yt =
      nice_ticks(yr.lo * y_scale, yr.hi * y_scale, std::max(3, static_cast<int>(ph / 50)));
  yr = {yt.first / y_scale, (yt.first + yt.step * (yt.count - 1)) / y_scale};
  double x_lo = xr.lo, x_hi = xr.hi;
  if (c.x.log && x_lo <= 0) {  // log: the positive part of the data
    x_lo = INFINITY;
    for (const ChartSeries& se : c.series) {
      for (double v : se.x) {
        if (v > 0) x_lo = std::min(x_lo, v);
      }
    }
    if (!std::isfinite(x_lo) || x_lo >= x_hi) x_lo = x_hi / 10;
  }
  // The x axis spans the data (a little more with markers, so edge dots show whole), linear or
  // log10; its ticks are the given ones, powers of ten (log), or 1-2-5 steps inside it.
  const bool log_x = c.x.log && !categorical && x_lo > 0;
  const auto tx = [&](double v) { return log_x ? std::log10(v) : v; };
  double xt_lo = tx(x_lo), xt_hi = tx(x_hi);
  if (c.markers && !categorical) {
    const double pad = (xt_hi - xt_lo) * 0.03;
    xt_lo -= pad;
    xt_hi += pad;
  }
  const auto inside = [&](double v) {
    const double t = tx(v), eps = 1e-9 * (xt_hi - xt_lo);
    return std::isfinite(t) && t >= xt_lo - eps && t <= xt_hi + eps;
  };
  std::vector<std::pair<double, std::string>> xticks;
  if (!categorical && !c.x.ticks.empty()) {
    std::vector<double> sorted = c.x.ticks;
    std::sort(sorted.begin(), sorted.end());
    double step = INFINITY;
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i] > sorted[i - 1]) step = std::min(step, sorted[i] - sorted[i - 1]);
    }
    for (double v : sorted) {
      if (inside(v))
        xticks.emplace_back(v, tick_label(v, std::isfinite(step) ? step : std::fabs(v)));
    }
  } else if (log_x) {  // powers of ten, and 2 and 5 times them over three decades or fewer
    const bool fine = xt_hi - xt_lo <= 3;
    for (double k = std::floor(xt_lo); k <= std::ceil(xt_hi); ++k) {
      for (double m : {1.0, 2.0, 5.0}) {
        const double v = m * std::pow(10.0, k);
        if ((m == 1.0 || fine) && inside(v))
          xticks.emplace_back(v, tick_label(v, std::pow(10.0, k)));
      }
    }
  } else if (!categorical) {
    const Ticks xt = nice_ticks(x_lo, x_hi, std::max(3, static_cast<int>(pw / 90)));
    for (int32_t k = 0; k < xt.count; ++k) {
      const double v = xt.first + k * xt.step;
      if (inside(v)) xticks.emplace_back(v, tick_label(v, xt.step));
    }
  }
  const auto sx = [&](double v) { return left + (tx(v) - xt_lo) / (xt_hi - xt_lo) * pw; };
  const auto sy = [&](double v) { return top + ph - (v - yr.lo) / (yr.hi - yr.lo) * ph; };

  std::string o;
  o.reserve(16384);
  o += "<svg class=\"chart\" width=\"" + std::to_string(width) + "\" height=\"" +
       std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " +
       std::to_string(height) + "\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<title>" + xml_escape(c.title) + "</title>\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o += "<text x=\"" + std::to_string(left) +
       "\" y=\"20\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">" + xml_escape(c.title) +
       "</text>\n";
  if (!c.subtitle.empty()) {
    o += "<text x=\"" + std::to_string(left) + "\" y=\"38\" fill=\"#555\">" +
         xml_escape(c.subtitle) + "</text>\n";
  }
  // Grid and y ticks.
  o += "<g stroke=\"#e3e3e3\" stroke-width=\"1\">\n";
  for (int32_t k = 0; k < yt.count; ++k) {
    const double y = sy((yt.first + k * yt.step) / y_scale);
    o += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + pw) + "\" y2=\"" +
         px(y) + "\"/>\n";
  }
  if (!categorical) {
    for (const auto& tick : xticks) {
      const double x = sx(tick.first);
      o += "<line x1=\"" + px(x) + "\" y1=\"" + px(top) + "\" x2=\"" + px(x) + "\" y2=\"" +
           px(top + ph) + "\"/>\n";
    }
  }
  o += "</g>\n<g fill=\"#333\">\n";
  for (int32_t k = 0; k < yt.count; ++k) {
    const double v = yt.first + k * yt.step;
    o += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + px(sy(v / y_scale) + 4) +
         "\" text-anchor=\"end\">" + xml_escape(tick_label(v, yt.step)) + "</text>\n";
  }
  if (categorical) {
    const size_t n = c.x.categories.size();
    const size_t fit =
        std::max<size_t>(3, static_cast<size_t>(pw / static_cast<double>(n) / kCharWidth));
    const size_t every = std::max<size_t>(
        1, static_cast<size_t>(std::ceil(static_cast<double>(n) * 4.0 * kCharWidth / pw)));
    for (size_t i = 0; i < n; i += every) {
      const double x = left + (static_cast<double>(i) + 0.5) / static_cast<double>(n) * pw;
      o += "<text x=\"" + px(x) + "\" y=\"" + px(top + ph + 16) + "\" text-anchor=\"middle\">" +
           xml_escape(truncate(c.x.categories[i], std::max(fit, every * fit))) + "</text>\n";
    }
  } else {
    for (const auto& [v, label] : xticks) {
      o += "<text x=\"" + px(sx(v)) + "\" y=\"" + px(top + ph + 16) + "\" text-anchor=\"middle\">" +
           xml_escape(label) + "</text>\n";
    }
  }
  o += "</g>\n";
  // Axes and their titles.
  o += "<g stroke=\"#444\" stroke-width=\"1\"><line x1=\"" + px(left) + "\" y1=\"" + px(top) +
       "\" x2=\"" + px(left) + "\" y2=\"" + px(top + ph) + "\"/><line x1=\"" + px(left) +
       "\" y1=\"" + px(top + ph) + "\" x2=\"" + px(left + pw) + "\" y2=\"" + px(top + ph) +
       "\"/></g>\n";
  o += "<text x=\"" + px(left + pw / 2) + "\" y=\"" + std::to_string(height - 10) +
       "\" text-anchor=\"middle\" fill=\"#222\">" + xml_escape(axis_title(c.x)) + "</text>\n";
  o += "<text transform=\"translate(16," + px(top + ph / 2) +
       ") rotate(-90)\" text-anchor=\"middle\" fill=\"#222\">" + xml_escape(axis_title(c.y)) +
       "</text>\n";

  // Data, clipped to the plot.
  static int clip_counter = 0;  // unique ids within one process's documents
  const std::string clip = "clip" + std::to_string(++clip_counter);
  o += "<clipPath id=\"" + clip + "\"><rect x=\"" + px(left - 3) + "\" y=\"" + px(top - 3) +
       "\" width=\"" + px(pw + 6) + "\" height=\"" + px(ph + 6) + "\"/></clipPath>\n";
  o += "<g clip-path=\"url(#" + clip +
       ")\" fill=\"none\" stroke-width=\"1.8\" stroke-linejoin=\"round\">\n";
  for (const ChartRule& r : c.rules) {
    const double y = sy(r.y);
    o += "<line x1=\"" + px(left) + "\" y1=\"" + px(y) + "\" x2=\"" + px(left + pw) + "\" y2=\"" +
         px(y) + "\" stroke=\"#B22222\" stroke-dasharray=\"6 4\"/>\n";
  }
  std::vector<double> dx, dy;
  for (size_t si = 0; si < c.series.size(); ++si) {
    const ChartSeries& s = c.series[si];
    decimate_min_max(s.x, s.y, static_cast<int32_t>(pw), dx, dy);
    const char* colour = chart_colour(si);
    const bool dashed = si >= kPaletteSize;
    std::string d;
    bool pen_down = false;
    for (size_t i = 0; i < dx.size(); ++i) {
      if (!std::isfinite(dy[i]) || !std::isfinite(dx[i])) {
        pen_down = false;
        continue;
      }
      d += pen_down ? " L" : " M";
      d += px(sx(dx[i])) + "," + px(sy(dy[i]));
      pen_down = true;
    }
    o += "<path stroke=\"" + std::string(colour) + "\"" +
         (dashed ? " stroke-dasharray=\"7 3\"" : "") + " d=\"" + d + "\"><title>" +
         xml_escape(s.name) + "</title></path>\n";
    if (c.markers && dx.size() <= 400) {
      o += "<g fill=\"" + std::string(colour) + "\" stroke=\"none\">";
      for (size_t i = 0; i < dx.size(); ++i) {
        if (!std::isfinite(dy[i])) continue;
        o += "<circle cx=\"" + px(sx(dx[i])) + "\" cy=\"" + px(sy(dy[i])) + "\" r=\"3\"/>";
      }
      o += "</g>\n";
    }
  }
  o += "</g>\n";
  if (c.series.empty() || std::all_of(c.series.begin(), c.series.end(),
                                      [](const ChartSeries& s) { return s.x.empty(); })) {
    o += "<text x=\"" + px(left + pw / 2) + "\" y=\"" + px(top + ph / 2) +
         "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n";
  }

  // Legend.
  if (legend_w > 0) {
    const double lx = left + pw + 16;
    double ly = top + 6;
    for (size_t si = 0; si < c.series.size(); ++si) {
      if (!legend) break;
      const bool dashed = si >= kPaletteSize;
      o += "<line x1=\"" + px(lx) + "\" y1=\"" + px(ly) + "\" x2=\"" + px(lx + 20) + "\" y2=\"" +
           px(ly) + "\" stroke=\"" + chart_colour(si) + "\" stroke-width=\"2.5\"" +
           (dashed ? " stroke-dasharray=\"7 3\"" : "") + "/>\n";
      o += "<text x=\"" + px(lx + 26) + "\" y=\"" + px(ly + 4) + "\" fill=\"#222\">" +
           xml_escape(truncate(c.series[si].name, legend_chars)) + "<title>" +
           xml_escape(c.series[si].name) + "</title></text>\n";
      ly += kLegendRow;
    }
    for (const ChartRule& r : c.rules) {
      o += "<line x1=\"" + px(lx) + "\" y1=\"" + px(ly) + "\" x2=\"" + px(lx + 20) + "\" y2=\"" +
           px(ly) + "\" stroke=\"#B22222\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n";
      o += "<text x=\"" + px(lx + 26) + "\" y=\"" + px(ly + 4) + "\" fill=\"#222\">" +
           xml_escape(truncate(r.label, legend_chars)) + "</text>\n";
      ly += kLegendRow;
    }
  }
  o += "</svg>\n";
  return o;
}

}  // namespace tinyserve::app
