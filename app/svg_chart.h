// Line charts as inline SVG for the HTML reports (report.html): axes with 1-2-5 ticks, units,
// a legend, readable colours (Okabe-Ito, with dashes once they run out), no script and no font
// but the browser's sans-serif. Long series are decimated to the plot's width first.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tinyserve::app {

struct ChartSeries {
  std::string name;
  std::vector<double> x, y;  // same length; x ascending; NaN y leaves a gap
};

struct ChartAxis {
  std::string label;                    // "time", "TTFT p99"
  std::string unit;                     // "s", "requests"; shown as "label (unit)"
  bool percent = false;                 // values are fractions, shown as 0-100 %
  std::vector<std::string> categories;  // non-empty: x values are indices into these
  double min = std::numeric_limits<double>::quiet_NaN();  // NaN: from the data
  double max = std::numeric_limits<double>::quiet_NaN();
  bool include_zero = false;
  bool log = false;           // x only: a log10 scale (positive values)
  std::vector<double> ticks;  // x only: ticks at these values instead of 1-2-5 steps
};

inline ChartAxis make_axis(std::string label, std::string unit = "", bool percent = false) {
  ChartAxis a;
  a.label = std::move(label);
  a.unit = std::move(unit);
  a.percent = percent;
  return a;
}

struct ChartRule {  // a horizontal line across the plot, e.g. an SLO
  double y = 0;
  std::string label;
};

struct LineChart {
  std::string title;
  std::string subtitle;  // one line under the title ("" none)
  ChartAxis x, y;
  std::vector<ChartSeries> series;
  std::vector<ChartRule> rules;
  bool markers = false;  // a dot at every point (sweeps: few points per line)
  int32_t width = 900;   // pixels, the whole figure
  int32_t height = 320;
  int32_t legend_width = 0;  // > 0: this wide, so that charts stacked together align
};

// The chart as one <svg> element.
std::string svg_line_chart(const LineChart& chart);

// Colour i of the palette (cycles) and whether series i is drawn dashed.
const char* chart_colour(size_t i);

struct Ticks {
  double first = 0, step = 1;
  int32_t count = 0;  // ticks at first + k step, k < count
};
// About target ticks on a 1-2-5 step covering [lo, hi] (both ends rounded outwards).
Ticks nice_ticks(double lo, double hi, int32_t target);
// A tick label: as few digits as the step needs, k/M/G suffixes from 10,000 up.
std::string tick_label(double value, double step);

// At most 2 x buckets points that keep each bucket's minimum and maximum in order, so a polyline
// through them looks like the full series at buckets pixels wide (x ascending).
void decimate_min_max(const std::vector<double>& x, const std::vector<double>& y, int32_t buckets,
                      std::vector<double>& out_x, std::vector<double>& out_y);

// Escapes &, <, >, " and ' for XML and HTML text and attributes.
std::string xml_escape(const std::string& text);

}  // namespace tinyserve::app
