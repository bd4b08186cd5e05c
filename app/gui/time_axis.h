// The time axis every plot shares: zoom and pan bounded by the run (never before 0, never
// narrower than a floor), and its tick labels. No ImGui: the plot widget calls these.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "app/gui/view_state.h"

namespace tinyserve::app {

// What the axis may show: [0, end] of the runs' data, at least min_span wide.
struct AxisBounds {
  double end = 1;       // the last sample position of the runs shown
  double min_span = 1;  // the narrowest zoom
};

// The narrowest zoom: 10 steps, or 10 ms of simulated time (the labels' finest resolution).
inline constexpr double kMinSpanSteps = 10;
inline constexpr double kMinSpanSeconds = 0.01;

AxisBounds axis_bounds(const ViewState& view);

// Once per frame per panel of plots: records where the runs' data ends (xs: each run's sample
// positions, ascending) and shows the whole run when following, else keeps the axis in bounds.
void update_axis(ViewState& view, std::span<const std::vector<double>* const> xs);
// Keeps [axis_min, axis_max] inside [0, max(end, min_span)] and at least min_span wide.
void clamp_axis(ViewState& view, const AxisBounds& bounds);
// Zooms by factor (< 1: in) around position at; stops following the run.
void zoom_axis(ViewState& view, double at, double factor, const AxisBounds& bounds);
// Moves the axis by delta (axis units); stops following the run.
void pan_axis(ViewState& view, double delta, const AxisBounds& bounds);

struct AxisTick {
  double x = 0;
  std::string label;  // "1.25s", "12k"
};
// Ticks at 1, 2, 5 x 10^k over [x0, x1] for a plot width_px wide (one every ~90 px); steps are
// whole numbers. Labels carry as many decimals as the tick spacing needs.
std::vector<AxisTick> axis_ticks(double x0, double x1, float width_px, bool in_steps);
// One position's label at the given tick spacing: "0.860s", "1.2k".
std::string axis_label(double x, double spacing, bool in_steps);

// 1, 2, 5 x 10^k at or above x.
double nice_step(double x);

}  // namespace tinyserve::app
