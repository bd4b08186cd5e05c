// Compare: two configurations of one workload stepping in lockstep, their pool maps and key
// metrics side by side, the metrics read at one simulated time.
#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

#include "app/gui/compare_table.h"
#include "app/gui/plot.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

void metrics_table(const Run& a, const Run& b) {
  const CompareTable t = compare_at_equal_time(a, b);
  ImGui::BeginGroup();
  ImGui::PushFont(theme::fonts().mono);
  ImGui::TextColored(theme::vec(theme::kTextDim), "at t = %.2f s", t.time_s);
  ImGui::SameLine();
  ImGui::TextColored(theme::vec(theme::kRunA), "A step %lld", static_cast<long long>(t.steps_a));
  ImGui::SameLine();
  ImGui::TextColored(theme::vec(theme::kRunB), "B step %lld", static_cast<long long>(t.steps_b));
  ImGui::PopFont();
  ImGui::EndGroup();
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip(
        "Both runs at the latest simulated time both have reached (a finished run keeps its "
        "last state), each at its last step ending by then.");
  }
  constexpr ImGuiTableFlags kFlags =
      ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("metrics", 5, kFlags)) return;
  ImGui::TableSetupColumn("metric", ImGuiTableColumnFlags_WidthStretch, 2.2f);
  ImGui::TableSetupColumn("better", ImGuiTableColumnFlags_WidthFixed,
                          ImGui::CalcTextSize("better").x);
  ImGui::TableSetupColumn("A", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableSetupColumn("B", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableSetupColumn("B vs A", ImGuiTableColumnFlags_WidthStretch, 1.1f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(theme::fonts().mono);
  for (const CompareRow& r : t.rows) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.name);
    const bool hovered = ImGui::IsItemHovered();
    ImGui::TableNextColumn();
    const char* arrow = r.better == Better::kHigher  ? "\u2191"
                        : r.better == Better::kLower ? "\u2193"
                                                     : "-";
    ImGui::TextColored(theme::vec(theme::kTextDim), "%s", arrow);
    if (hovered || ImGui::IsItemHovered()) {
      ImGui::BeginTooltip();
      ImGui::PushTextWrapPos(ImGui::GetFontSize() * 28.0f);
      ImGui::TextColored(theme::vec(theme::kAccent), "%s", better_label(r.better));
      ImGui::TextUnformatted(r.help);
      ImGui::PopTextWrapPos();
      ImGui::EndTooltip();
    }
    ImGui::TableNextColumn();
    ImGui::TextColored(theme::vec(theme::kRunA), "%s", format_value(r, r.a).c_str());
    ImGui::TableNextColumn();
    ImGui::TextColored(theme::vec(theme::kRunB), "%s", format_value(r, r.b).c_str());
    ImGui::TableNextColumn();
    const std::string d = difference(r);
    switch (verdict(r)) {
      case Verdict::kEqual:
        ImGui::TextDisabled("%s", d.c_str());
        break;
      case Verdict::kNotColoured:
        ImGui::TextUnformatted(d.c_str());
        break;
      case Verdict::kBetter:
        ImGui::TextColored(theme::vec(theme::kGood), "%s", d.c_str());
        break;
      case Verdict::kWorse:
        ImGui::TextColored(theme::vec(theme::kBad), "%s", d.c_str());
        break;
    }
  }
  ImGui::PopFont();
  ImGui::EndTable();
}

// Both runs' usage, running and finished requests on one time axis.
void compare_plots(ViewState& v, const Run& a, const Run& b) {
  const std::vector<double>* xs[] = {&axis_of(a.columns(), v), &axis_of(b.columns(), v)};
  // Legend entries of both runs are not toggles (Metric::kCount): hiding is the single view's.
  auto pair = [&](Metric m, const char* la, const char* lb, float scale) {
    std::array<PlotSeries, 2> s;
    s[0] = {la, Metric::kCount, &a.columns()[m], xs[0], theme::kRunA, scale, false};
    s[1] = {lb, Metric::kCount, &b.columns()[m], xs[1], theme::kRunB, scale, false};
    return s;
  };
  const float h = (ImGui::GetContentRegionAvail().y - 8) / 3;
  {
    const auto s = pair(Metric::kKvCacheUsage, "A", "B", 100);
    PlotSpec spec;
    spec.title = "KV cache usage";
    spec.unit = "%";
    spec.y_max = 100;
    spec.height = h;
    spec.x_labels = false;
    plot("usage", s, spec, v);
  }
  {
    const auto s = pair(Metric::kRunning, "A", "B", 1);
    PlotSpec spec;
    spec.title = "Running requests";
    spec.height = h;
    spec.decimals = 0;
    spec.x_labels = false;
    plot("running", s, spec, v);
  }
  {
    const auto s = pair(Metric::kFinishedTotal, "A", "B", 1);
    PlotSpec spec;
    spec.title = "Finished requests";
    spec.height = ImGui::GetContentRegionAvail().y;
    spec.decimals = 0;
    plot("finished", s, spec, v);
  }
}

void side(Gui& gui, size_t i, ImVec2 size) {
  Run& run = gui.session.run(i);
  const Snapshot& snap = run.snapshot();
  const CompareSetup& setup = gui.session.compare_setup();
  ImGui::BeginChild(i == 0 ? "A" : "B", size, false,
                    ImGuiWindowFlags_NoScrollWithMouse | ImGuiWindowFlags_NoScrollbar);
  ImGui::PushFont(theme::fonts().heading);
  ImGui::TextColored(theme::vec(i == 0 ? theme::kRunA : theme::kRunB), "%s", i == 0 ? "A" : "B");
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::TextUnformatted((i == 0 ? setup.a : setup.b).c_str());
  ImGui::PushFont(theme::fonts().mono);
  char line[160];
  std::snprintf(line, sizeof line, "step %lld  %.2f s%s   %d x %d   used %.1f%%   %d running",
                static_cast<long long>(snap.step), snap.time_s, snap.done ? " done" : "",
                snap.stats.num_blocks, snap.block_size, snap.last.pool.kv_cache_usage * 100,
                snap.num_running);
  text_elided(line, ImGui::GetContentRegionAvail().x, theme::kTextDim);
  ImGui::PopFont();
  if (!run.error().empty()) ImGui::TextColored(theme::vec(theme::kBad), "%s", run.error().c_str());
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  pool_map_widget(gui, run, gui.compare_maps[i], avail);
  ImGui::EndChild();
}

}  // namespace

namespace {

float picker_button_width() {
  return ImGui::CalcTextSize("Compare").x + ImGui::GetStyle().FramePadding.x * 2 + 8;
}

float picker_combo_width() {
  float longest = 0;
  for (const CompareSetup& p : compare_presets())
    longest = std::max(longest, ImGui::CalcTextSize(p.name.c_str()).x);
  return longest + ImGui::GetStyle().FramePadding.x * 2 + ImGui::GetFrameHeight();
}

}  // namespace

float compare_picker_width() {
  return picker_combo_width() + ImGui::GetStyle().ItemSpacing.x + picker_button_width();
}

void compare_picker(Gui& gui) {
  Session& s = gui.session;
  const auto presets = compare_presets();
  std::vector<const char*> names;
  for (size_t i = 0; i < presets.size(); ++i) {
    names.push_back(presets[i].name.c_str());
    if (s.comparing() && presets[i].name == s.compare_setup().name) {
      gui.params.compare_preset = static_cast<int>(i);  // opened with --compare
    }
  }
  const float button_w = picker_button_width();
  const float combo_w = picker_combo_width();
  const float x = ImGui::GetWindowContentRegionMax().x - compare_picker_width();
  ImGui::SameLine();
  if (ImGui::GetCursorPosX() > x) ImGui::NewLine();
  ImGui::SetCursorPosX(std::max(x, ImGui::GetCursorPosX()));
  ImGui::SetNextItemWidth(combo_w);
  ImGui::BeginDisabled(s.comparing());
  ImGui::Combo("##preset", &gui.params.compare_preset, names.data(),
               static_cast<int>(names.size()));
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Two engines on one workload, one override apart, stepping in lockstep");
  ImGui::SameLine();
  if (s.comparing()) {
    if (ImGui::Button("Stop", ImVec2(button_w, 0))) {
      s.end_compare();
      gui.view.compare_view = false;
    }
  } else if (ImGui::Button("Compare", ImVec2(button_w, 0))) {
    gui.params.error = s.compare(presets[static_cast<size_t>(gui.params.compare_preset)]);
    if (gui.params.error.empty()) gui.view.compare_view = true;
  }
}

void draw_compare(Gui& gui, const ImRect& r) {
  if (!begin_panel("Compare", r, ImGuiWindowFlags_NoScrollWithMouse) || !gui.session.comparing() ||
      gui.session.num_runs() < 2) {
    if (!gui.session.comparing())
      ImGui::TextDisabled("Pick two configurations with Compare, above the pool map.");
    ImGui::End();
    return;
  }
  const CompareSetup& setup = gui.session.compare_setup();
  ImGui::PushFont(theme::fonts().heading);
  ImGui::TextUnformatted(setup.name.c_str());
  ImGui::PopFont();
  ImGui::SameLine(0, 14);
  ImGui::TextDisabled("lockstep by");
  Session& s = gui.session;
  ImGui::SameLine();
  if (ImGui::RadioButton("time", s.lockstep() == Lockstep::kTime)) s.set_lockstep(Lockstep::kTime);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip(
        "The run behind in simulated time steps, the other catches up: both show "
        "the same moment");
  ImGui::SameLine();
  if (ImGui::RadioButton("steps", s.lockstep() == Lockstep::kSteps))
    s.set_lockstep(Lockstep::kSteps);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip(
        "Both runs step once per tick, whatever time each step covers; the table "
        "still compares them at one simulated time");
  compare_picker(gui);

  const float w = ImGui::GetContentRegionAvail().x;
  const float map_h = std::round(ImGui::GetContentRegionAvail().y * 0.44f);
  side(gui, 0, ImVec2(w * 0.5f - 4, map_h));
  ImGui::SameLine(0, 8);
  side(gui, 1, ImVec2(w * 0.5f - 4, map_h));

  Run& a = gui.session.run(0);
  Run& b = gui.session.run(1);
  // The shared axis follows both runs whether their plots show or not (the kernel panel reads it).
  const std::vector<double>* xs[] = {&axis_of(a.columns(), gui.view),
                                     &axis_of(b.columns(), gui.view)};
  update_axis(gui.view, xs);
  // Wide: the table beside the plots; narrow: one or the other, in tabs.
  const float rest_h = ImGui::GetContentRegionAvail().y;
  if (w >= 640) {
    ImGui::BeginChild("table", ImVec2(std::min(w * 0.5f, 440.0f), rest_h), false);
    metrics_table(a, b);
    ImGui::EndChild();
    ImGui::SameLine(0, 10);
    ImGui::BeginChild("plots", ImVec2(0, rest_h), false, ImGuiWindowFlags_NoScrollWithMouse);
    compare_plots(gui.view, a, b);
    ImGui::EndChild();
  } else if (ImGui::BeginTabBar("compare tabs")) {
    if (ImGui::BeginTabItem("Metrics")) {
      ImGui::BeginChild("table", ImVec2(0, 0), false);
      metrics_table(a, b);
      ImGui::EndChild();
      ImGui::EndTabItem();
    }
    if (ImGui::BeginTabItem("Plots")) {
      ImGui::BeginChild("plots", ImVec2(0, 0), false, ImGuiWindowFlags_NoScrollWithMouse);
      compare_plots(gui.view, a, b);
      ImGui::EndChild();
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  ImGui::End();
}

}  // namespace tinyserve::app
