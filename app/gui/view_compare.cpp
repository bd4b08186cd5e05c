// Compare: two configurations of one workload stepping in lockstep, their pool maps and key
// metrics side by side.
#include <array>
#include <cmath>
#include <cstdio>
#include <vector>

#include "app/gui/plot.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

struct Row {
  const char* name;
  double a, b;
  const char* format;  // printf format of one value
  bool higher_is_better;
  bool percent;
};

void metrics_table(Run& a, Run& b) {
  const Snapshot& sa = a.snapshot();
  const Snapshot& sb = b.snapshot();
  const RunSummary& ra = a.summary();
  const RunSummary& rb = b.summary();
  const PoolMetrics& pa = sa.last.pool;
  const PoolMetrics& pb = sb.last.pool;
  const Row rows[] = {
      {"running requests", static_cast<double>(sa.num_running), static_cast<double>(sb.num_running),
       "%.0f", true, false},
      {"waiting requests", static_cast<double>(sa.num_waiting), static_cast<double>(sb.num_waiting),
       "%.0f", false, false},
      {"KV cache usage", pa.kv_cache_usage * 100, pb.kv_cache_usage * 100, "%.1f%%", true, true},
      {"token utilization", pa.token_utilization * 100, pb.token_utilization * 100, "%.1f%%", true,
       true},
      {"reserved for later", pa.reserved_fraction * 100, pb.reserved_fraction * 100, "%.1f%%",
       false, true},
      {"internal frag.", pa.internal_fragmentation * 100, pb.internal_fragmentation * 100, "%.1f%%",
       false, true},
      {"external frag.", pa.external_fragmentation * 100, pb.external_fragmentation * 100, "%.1f%%",
       false, true},
      {"F_total", pa.f_total, pb.f_total, "%.3f", false, false},
      {"preemptions", static_cast<double>(ra.preemptions), static_cast<double>(rb.preemptions),
       "%.0f", false, false},
      {"finished requests", static_cast<double>(ra.finished), static_cast<double>(rb.finished),
       "%.0f", true, false},
      {"throughput (tok/s)", ra.throughput_tok_s, rb.throughput_tok_s, "%.0f", true, false},
      {"simulated time (s)", ra.simulated_s, rb.simulated_s, "%.1f", false, false},
      {"mean TTFT (s)", ra.ttft_s.mean, rb.ttft_s.mean, "%.3f", false, false},
  };
  constexpr ImGuiTableFlags kFlags =
      ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("metrics", 4, kFlags)) return;
  ImGui::TableSetupColumn("metric", ImGuiTableColumnFlags_WidthStretch, 2.2f);
  ImGui::TableSetupColumn("A", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableSetupColumn("B", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableSetupColumn("B vs A", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableHeadersRow();
  ImGui::PushFont(theme::fonts().mono);
  for (const Row& r : rows) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.name);
    ImGui::TableNextColumn();
    ImGui::TextColored(theme::vec(theme::kRunA), r.format, r.a);
    ImGui::TableNextColumn();
    ImGui::TextColored(theme::vec(theme::kRunB), r.format, r.b);
    ImGui::TableNextColumn();
    const double d = r.b - r.a;
    if (std::fabs(d) < 1e-9) {
      ImGui::TextDisabled("=");
    } else {
      const bool better = (d > 0) == r.higher_is_better;
      char text[48];
      if (r.percent) {
        std::snprintf(text, sizeof text, "%+.1f pt", d);
      } else if (std::fabs(r.a) > 1e-12) {
        std::snprintf(text, sizeof text, "%+.0f%%", 100 * d / std::fabs(r.a));
      } else {
        std::snprintf(text, sizeof text, "%+g", d);
      }
      ImGui::TextColored(theme::vec(better ? theme::kGood : theme::kBad), "%s", text);
    }
  }
  ImGui::PopFont();
  ImGui::EndTable();
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
  ImGui::TextColored(theme::vec(theme::kTextDim), "%d x %d   used %.1f%%   %d running%s",
                     snap.stats.num_blocks, snap.block_size, snap.last.pool.kv_cache_usage * 100,
                     snap.num_running, snap.done ? "   done" : "");
  ImGui::PopFont();
  if (!run.error().empty()) ImGui::TextColored(theme::vec(theme::kBad), "%s", run.error().c_str());
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  pool_map_widget(gui, run, gui.compare_maps[i], avail);
  ImGui::EndChild();
}

}  // namespace

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
  const float button_w = 76;
  const float combo_w = 176;
  ImGui::SameLine(ImGui::GetWindowContentRegionMax().x - combo_w - button_w -
                  ImGui::GetStyle().ItemSpacing.x);
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
  ImGui::SameLine();
  ImGui::TextDisabled("in lockstep");
  compare_picker(gui);

  const float w = ImGui::GetContentRegionAvail().x;
  const float map_h = std::round(ImGui::GetContentRegionAvail().y * 0.44f);
  side(gui, 0, ImVec2(w * 0.5f - 4, map_h));
  ImGui::SameLine(0, 8);
  side(gui, 1, ImVec2(w * 0.5f - 4, map_h));

  Run& a = gui.session.run(0);
  Run& b = gui.session.run(1);
  const float table_w = std::min(w * 0.5f, 420.0f);
  const float rest_h = ImGui::GetContentRegionAvail().y;
  ImGui::BeginChild("table", ImVec2(table_w, rest_h), false);
  metrics_table(a, b);
  ImGui::EndChild();
  ImGui::SameLine(0, 10);
  ImGui::BeginChild("plots", ImVec2(0, rest_h), false, ImGuiWindowFlags_NoScrollWithMouse);
  ViewState& v = gui.view;
  const std::vector<double>* xs[] = {&axis_of(a.columns(), v), &axis_of(b.columns(), v)};
  update_axis(v, xs);
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
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace tinyserve::app
