// Everything the views remember between frames: selection, the shared time axis, toggles and
// filters. Plain data; the simulation state lives in the Session's runs.
#pragma once

#include <cstdint>

#include "app/gui/run_columns.h"
#include "core/base/ids.h"
#include "core/scheduling/events.h"

namespace tinyserve::app {

struct ViewState {
  SeqId selected = kNoSeq;  // kNoSeq: follow the oldest running sequence

  // The time axis every plot shares, in simulated seconds (or steps).
  bool axis_in_steps = false;
  bool axis_follow = true;  // show the whole run as it grows
  double axis_min = 0, axis_max = 1;
  double axis_end = 1;       // where the runs' data ends (update_axis)
  bool hover_valid = false;  // the mouse was over a plot last frame, at hover_x on the axis
  bool hover_seen = false;   // ... this frame
  double hover_x = 0;
  uint64_t hidden_metrics = 0;  // bit per Metric hidden from its plot

  // Event log filters.
  uint32_t event_kinds = (1u << kNumEventKinds) - 1;
  int64_t event_request = -1;  // -1: every request
  bool event_follow = true;    // keep the newest event in view

  int32_t step_n = 10;
  bool compare_view = false;
  bool show_help = false;
};

inline bool metric_hidden(const ViewState& v, Metric m) {
  return m != Metric::kCount && ((v.hidden_metrics >> static_cast<unsigned>(m)) & 1u);
}

}  // namespace tinyserve::app
