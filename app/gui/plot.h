// A small plot widget for long step series: several series over the shared time axis, axes with
// ticks, a legend that reads out the values under the cursor, zoom (wheel), pan (drag) and
// follow (double-click). Each series is decimated to the plot's width through its column's
// min/max pyramid, so drawing costs O(width x log steps) whatever the run's length.
#pragma once

#include <imgui.h>

#include <cmath>
#include <span>
#include <vector>

#include "app/gui/column.h"
#include "app/gui/run_columns.h"
#include "app/gui/time_axis.h"
#include "app/gui/view_state.h"

namespace tinyserve::app {

struct PlotSeries {
  const char* label = "";
  Metric metric = Metric::kCount;  // for the legend's show/hide toggle
  const Column* values = nullptr;
  const std::vector<double>* x = nullptr;  // sample positions on the axis, ascending
  ImU32 color = 0;
  float scale = 1;    // display multiplier (100 for fractions shown in %)
  bool fill = false;  // shade the area under the curve
};

struct PlotSpec {
  const char* title = "";
  const char* unit = "";  // appended to values: "%", " ms"
  float height = 100;     // the whole widget, legend and axis labels included
  double y_min = 0;       // NAN: from the data
  double y_max = NAN;     // NAN: from the data
  int decimals = 1;
  bool x_labels = true;
};

// Draws the plot at the cursor, full width; reads and updates the shared axis in view.
void plot(const char* id, std::span<const PlotSeries> series, const PlotSpec& spec,
          ViewState& view);

// The shared axis's sample positions for a run (time or step, as the view asks).
const std::vector<double>& axis_of(const RunColumns& columns, const ViewState& view);

// "12.3k", "4.56M": compact numbers for axis labels.
void format_compact(char* out, size_t size, double v, const char* unit);

}  // namespace tinyserve::app
