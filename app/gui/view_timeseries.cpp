// Time series: the pool's metrics, the fragmentation formula, the queues, pressure, the prefix
// cache and throughput over the run, on one shared time axis.
#include <array>
#include <cstdio>

#include "app/gui/plot.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

PlotSeries series(const RunColumns& c, const ViewState& v, Metric m, const char* label,
                  float scale = 1, bool fill = false) {
  PlotSeries s;
  s.label = label;
  s.metric = m;
  s.values = &c[m];
  s.x = &axis_of(c, v);
  s.color = theme::metric_color(m);
  s.scale = scale;
  s.fill = fill;
  return s;
}

}  // namespace

void draw_timeseries(Gui& gui, const ImRect& r) {
  if (!begin_panel("Time series", r, ImGuiWindowFlags_NoScrollWithMouse) ||
      !gui.session.has_run()) {
    ImGui::End();
    return;
  }
  Run& run = gui.session.run();
  run.snapshot();
  const RunColumns& c = run.columns();
  ViewState& v = gui.view;
  const std::vector<double>* xs[] = {&axis_of(c, v)};
  update_axis(v, xs);

  // Axis controls.
  if (ImGui::RadioButton("time", !v.axis_in_steps)) v.axis_in_steps = false;
  ImGui::SameLine();
  if (ImGui::RadioButton("steps", v.axis_in_steps)) v.axis_in_steps = true;
  ImGui::SameLine();
  if (ImGui::Checkbox("whole run", &v.axis_follow) && v.axis_follow) update_axis(v, xs);
  ImGui::SameLine();
  char hint[96];
  std::snprintf(hint, sizeof hint,
                "%zu step%s   \u00b7   wheel zoom, drag pan, double-click whole run", c.size(),
                c.size() == 1 ? "" : "s");
  text_elided(hint, ImGui::GetContentRegionAvail().x, theme::kTextDim);

  const float avail = ImGui::GetContentRegionAvail().y;
  const float h = std::max(60.0f, (avail - 4) / 5.0f);
  const FragmentationParams& fp = run.engine().config().fragmentation;
  char f_spatial[32], f_temporal[32], f_access[32];
  std::snprintf(f_spatial, sizeof f_spatial, "%.2g*F_spatial", fp.a);
  std::snprintf(f_temporal, sizeof f_temporal, "%.2g*F_temporal", fp.b);
  std::snprintf(f_access, sizeof f_access, "%.2g*F_access", fp.c);

  {
    const PlotSeries s[] = {
        series(c, v, Metric::kKvCacheUsage, "KV cache usage", 100, true),
        series(c, v, Metric::kTokenUtilization, "token utilization", 100),
        series(c, v, Metric::kInternalFragmentation, "internal frag.", 100),
        series(c, v, Metric::kExternalFragmentation, "external frag.", 100),
    };
    PlotSpec spec;
    spec.title = "Memory";
    spec.unit = "%";
    spec.height = h;
    spec.y_max = 100;
    spec.x_labels = false;
    plot("memory", s, spec, v);
  }
  {
    const PlotSeries s[] = {
        series(c, v, Metric::kFTotal, "F_total", 1, true),
        series(c, v, Metric::kFSpatial, f_spatial, static_cast<float>(fp.a)),
        series(c, v, Metric::kFTemporal, f_temporal, static_cast<float>(fp.b)),
        series(c, v, Metric::kFAccess, f_access, static_cast<float>(fp.c)),
    };
    PlotSpec spec;
    spec.title = "Fragmentation";
    spec.height = h;
    spec.decimals = 3;
    spec.x_labels = false;
    plot("fragmentation", s, spec, v);
  }
  {
    const PlotSeries s[] = {
        series(c, v, Metric::kRunning, "running"),
        series(c, v, Metric::kWaiting, "waiting"),
        series(c, v, Metric::kSwapped, "swapped"),
    };
    PlotSpec spec;
    spec.title = "Requests";
    spec.height = h;
    spec.decimals = 0;
    spec.x_labels = false;
    plot("queues", s, spec, v);
  }
  {
    const PlotSeries s[] = {
        series(c, v, Metric::kPreemptionsTotal, "preemptions (total)"),
    };
    const PlotSeries hit[] = {
        series(c, v, Metric::kPrefixHitRate, "prefix hit rate", 100, true),
    };
    const float half = ImGui::GetContentRegionAvail().x * 0.5f - 4;
    ImGui::BeginGroup();
    ImGui::BeginChild("pressure", ImVec2(half, h), false, ImGuiWindowFlags_NoScrollWithMouse);
    PlotSpec spec;
    spec.title = "Preemptions";
    spec.height = h;
    spec.decimals = 0;
    spec.x_labels = false;
    plot("preemptions", s, spec, v);
    ImGui::EndChild();
    ImGui::SameLine(0, 8);
    ImGui::BeginChild("prefix", ImVec2(half, h), false, ImGuiWindowFlags_NoScrollWithMouse);
    PlotSpec hit_spec;
    hit_spec.title = "Prefix cache";
    hit_spec.unit = "%";
    hit_spec.height = h;
    hit_spec.y_max = 100;
    hit_spec.x_labels = false;
    plot("prefix", hit, hit_spec, v);
    ImGui::EndChild();
    ImGui::EndGroup();
  }
  {
    char window[48];
    std::snprintf(window, sizeof window, "over %zu steps", kThroughputWindow);
    PlotSeries step = series(c, v, Metric::kThroughput, "per step");
    step.color = theme::mix(step.color, theme::kPlotBackground, 0.6f);
    const PlotSeries s[] = {step, series(c, v, Metric::kThroughputWindow, window, 1, true)};
    PlotSpec spec;
    spec.title = "Output tokens/s";
    spec.height = ImGui::GetContentRegionAvail().y;
    spec.decimals = 0;
    plot("throughput", s, spec, v);
  }
  ImGui::End();
}

}  // namespace tinyserve::app
