// The fixed panel layout and the small helpers every panel uses.
#include <algorithm>
#include <utility>

#include "app/gui/text_fit.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

Layout compute_layout(ImVec2 display, float menu_height, float status_height) {
  Layout l;
  const float top = menu_height;
  const float bottom = display.y - status_height;
  const float height = std::max(bottom - top, 100.0f);
  const float left_w = std::clamp(display.x * 0.21f, 280.0f, 380.0f);
  const float right_w = std::clamp(display.x * 0.295f, 340.0f, 560.0f);
  const float x1 = left_w;
  const float x2 = display.x - right_w;

  const float controls_h = std::round(height * 0.74f);
  l.controls = ImRect(0, top, x1, top + controls_h);
  l.queues = ImRect(0, top + controls_h, x1, bottom);

  const float map_h = std::round(height * 0.43f);
  l.pool_map = ImRect(x1, top, x2, top + map_h);
  l.timeseries = ImRect(x1, top + map_h, x2, bottom);
  l.compare = ImRect(x1, top, x2, bottom);

  const float table_h = std::round(height * 0.29f);
  const float kernel_h = std::round(height * 0.34f);
  l.block_table = ImRect(x2, top, display.x, top + table_h);
  l.kernel = ImRect(x2, top + table_h, display.x, top + table_h + kernel_h);
  l.events = ImRect(x2, top + table_h + kernel_h, display.x, bottom);
  l.status = ImRect(0, bottom, display.x, display.y);
  return l;
}

bool begin_panel(const char* title, const ImRect& r, ImGuiWindowFlags extra) {
  ImGui::SetNextWindowPos(r.Min, ImGuiCond_Always);
  ImGui::SetNextWindowSize(r.GetSize(), ImGuiCond_Always);
  constexpr ImGuiWindowFlags kFlags =
      ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse |
      ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;
  return ImGui::Begin(title, nullptr, kFlags | extra);
}

void heading(const char* text) {
  ImGui::PushFont(theme::fonts().heading);
  ImGui::TextUnformatted(text);
  ImGui::PopFont();
}

void help_marker(const char* text) {
  ImGui::SameLine();
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

std::string elided(const std::string& text, float width) {
  return elide(text, width, [](std::string_view t) {
    return ImGui::CalcTextSize(t.data(), t.data() + t.size()).x;
  });
}

void text_elided(const std::string& text, float width, ImU32 colour) {
  const std::string shown = elided(text, width);
  ImGui::TextColored(theme::vec(colour), "%s", shown.c_str());
  if (shown.size() != text.size() && ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40.0f);
    ImGui::TextUnformatted(text.c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

void show_notice(Gui& gui, std::string text) {
  gui.notice = std::move(text);
  gui.notice_until = ImGui::GetTime() + 6.0;
}

SeqId shown_sequence(const Snapshot& snap, const ViewState& view) {
  if (view.selected != kNoSeq) return view.selected;
  for (const SeqView& s : snap.seqs) {
    if (s.queue == QueueKind::kRunning) return s.id;
  }
  return kNoSeq;
}

}  // namespace tinyserve::app
