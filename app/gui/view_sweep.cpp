// The sweep browser: a floating window over the layout with a finished sweep's configurations
// (tinyserve sweep DIR). Click a row to run it in the app; Ctrl+click a second row to compare the
// two side by side. Rows replay exactly the sweep's runs (same scenario, overrides and seed).
#include <cstdio>
#include <cstring>

#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

// The overrides the app starts every run with (its backend), then the row's.
std::vector<std::string> with_app_overrides(const Gui& gui, std::vector<std::string> row) {
  std::vector<std::string> o = gui.sweep_prefix;
  if (!gui.sweep.plan().backend.empty()) o.push_back("engine.backend=" + gui.sweep.plan().backend);
  o.insert(o.end(), row.begin(), row.end());
  return o;
}

}  // namespace

std::string open_sweep_row(Gui& gui, size_t row) {
  SweepBrowser& b = gui.sweep;
  if (row >= b.plan().runs.size())
    return cat("row ", row, ": the sweep has ", b.plan().runs.size());
  gui.session.end_compare();
  std::string error =
      gui.session.load(b.plan().scenario, with_app_overrides(gui, b.overrides(row)));
  if (!error.empty()) return error;
  b.selected = static_cast<int64_t>(row);
  b.second = -1;
  gui.view.compare_view = false;
  gui.session.run_to_end();
  return "";
}

std::string compare_sweep_rows(Gui& gui, size_t a, size_t b) {
  SweepBrowser& s = gui.sweep;
  const size_t n = s.plan().runs.size();
  if (a >= n || b >= n || a == b)
    return cat("rows ", a, " and ", b, ": expected two rows below ", n);
  std::vector<std::string> base;
  const CompareSetup setup = s.compare_setup(a, b, base);
  gui.session.end_compare();
  if (std::string e = gui.session.load(s.plan().scenario, with_app_overrides(gui, base));
      !e.empty()) {
    return e;
  }
  if (std::string e = gui.session.compare(setup); !e.empty()) return e;
  s.selected = static_cast<int64_t>(a);
  s.second = static_cast<int64_t>(b);
  gui.view.compare_view = true;
  gui.session.run_to_end();
  return "";
}

void draw_sweep(Gui& gui, const ImRect& place) {
  SweepBrowser& b = gui.sweep;
  if (b.ask_folder) {
    ImGui::OpenPopup("Open sweep folder");
    b.ask_folder = false;
  }
  ImGui::SetNextWindowPos(ImGui::GetMainViewport()->GetCenter(), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  if (ImGui::BeginPopupModal("Open sweep folder", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
    ImGui::TextUnformatted("A folder written by `tinyserve sweep` (it holds sweep.json):");
    ImGui::SetNextItemWidth(520);
    const bool enter = ImGui::InputText("##folder", b.folder, sizeof b.folder,
                                        ImGuiInputTextFlags_EnterReturnsTrue);
    if (!b.error.empty()) ImGui::TextColored(theme::vec(theme::kBad), "%s", b.error.c_str());
    if (ImGui::Button("Open") || enter) {
      b.error = b.open(b.folder);
      if (b.error.empty()) ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (ImGui::Button("Cancel")) {
      b.error.clear();
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }
  if (!b.visible || !b.is_open()) return;

  ImGui::SetNextWindowSize(place.GetSize(), ImGuiCond_Appearing);
  ImGui::SetNextWindowPos(place.Min, ImGuiCond_Appearing);
  const std::string title = "Sweep " + b.plan().dir + "###sweep";
  if (!ImGui::Begin(title.c_str(), &b.visible, ImGuiWindowFlags_NoSavedSettings)) {
    ImGui::End();
    return;
  }
  int64_t ok = 0;
  for (const SweepRow& r : b.table().rows) ok += r.status.state == RunState::kComplete;
  ImGui::TextColored(theme::vec(theme::kTextDim),
                     "%zu configurations, %lld complete. Click a row to run it here; "
                     "Ctrl+click a second row to compare the two side by side.",
                     b.table().rows.size(), static_cast<long long>(ok));
  if (!b.error.empty()) ImGui::TextColored(theme::vec(theme::kBad), "%s", b.error.c_str());

  constexpr ImGuiTableFlags kFlags = ImGuiTableFlags_Sortable | ImGuiTableFlags_ScrollY |
                                     ImGuiTableFlags_ScrollX | ImGuiTableFlags_RowBg |
                                     ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_Resizable |
                                     ImGuiTableFlags_SizingFixedFit;
  const int columns = static_cast<int>(b.num_columns());
  if (ImGui::BeginTable("configurations", columns, kFlags)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    for (int c = 0; c < columns; ++c)
      ImGui::TableSetupColumn(b.header(static_cast<size_t>(c)).c_str());
    ImGui::TableHeadersRow();
    if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs(); specs && specs->SpecsDirty) {
      if (specs->SpecsCount > 0) {
        b.sort(static_cast<size_t>(specs->Specs[0].ColumnIndex),
               specs->Specs[0].SortDirection == ImGuiSortDirection_Ascending);
      }
      specs->SpecsDirty = false;
    }
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(b.order().size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const size_t row = b.order()[static_cast<size_t>(i)];
        const bool is_a = b.selected == static_cast<int64_t>(row);
        const bool is_b = b.second == static_cast<int64_t>(row);
        ImGui::TableNextRow();
        if (is_a || is_b) {
          ImU32 colour = is_a ? theme::kRunA : theme::kRunB;
          colour = (colour & 0x00FFFFFFu) | (70u << 24);
          ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg1, colour);
        }
        ImGui::TableNextColumn();
        ImGui::PushID(static_cast<int>(row));
        const std::string first = b.cell(row, 0);
        if (ImGui::Selectable(first.c_str(), is_a || is_b, ImGuiSelectableFlags_SpanAllColumns)) {
          const bool ctrl = ImGui::GetIO().KeyCtrl;
          if (ctrl && b.selected >= 0 && b.selected != static_cast<int64_t>(row)) {
            b.error = compare_sweep_rows(gui, static_cast<size_t>(b.selected), row);
          } else {
            b.error = open_sweep_row(gui, row);
          }
        }
        if (ImGui::IsItemHovered() && b.table().rows[row].status.state != RunState::kComplete) {
          ImGui::SetTooltip("%s", b.table().rows[row].status.error.c_str());
        }
        ImGui::PopID();
        for (int c = 1; c < columns; ++c) {
          ImGui::TableNextColumn();
          const std::string text = b.cell(row, static_cast<size_t>(c));
          if (static_cast<size_t>(c) == b.plan().axes.size()) {
            const bool good = b.table().rows[row].status.state == RunState::kComplete;
            ImGui::TextColored(theme::vec(good ? theme::kGood : theme::kBad), "%s", text.c_str());
          } else {
            ImGui::TextUnformatted(text.c_str());
          }
        }
      }
    }
    ImGui::EndTable();
  }
  ImGui::End();
}

}  // namespace tinyserve::app
