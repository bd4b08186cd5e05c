// The menu bar, the status bar and the keyboard shortcuts.
#include <GLFW/glfw3.h>

#include <cstdio>

#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

void export_csv(Gui& gui) {
  Session& s = gui.session;
  std::string saved;
  for (size_t i = 0; i < s.num_runs(); ++i) {
    Run& run = s.run(i);
    const std::string suffix = s.num_runs() > 1 ? (i == 0 ? "-A" : "-B") : "";
    const std::string path = run.scenario().name + suffix + "-metrics.csv";
    if (std::string error = export_metrics_csv(run, path); !error.empty()) {
      show_notice(gui, error);
      return;
    }
    saved += (saved.empty() ? "" : ", ") + path;
  }
  show_notice(gui, "saved " + saved);
}

}  // namespace

void draw_menu_bar(Gui& gui) {
  if (!ImGui::BeginMainMenuBar()) return;
  Session& s = gui.session;
  ViewState& v = gui.view;
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Save screenshot (PNG)", "Ctrl+S")) gui.screenshot_requested = true;
    if (ImGui::MenuItem("Export metrics (CSV)", "Ctrl+E")) export_csv(gui);
    if (ImGui::MenuItem("Open sweep folder...")) gui.sweep.ask_folder = true;
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) gui.quit_requested = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Run")) {
    const bool done = s.done();
    if (ImGui::MenuItem(s.mode() == PlayMode::kPlaying ? "Pause" : "Play", "Space", false, !done))
      s.toggle_play();
    if (ImGui::MenuItem("Step", "Right, N", false, !done)) s.step(1);
    char label[32];
    std::snprintf(label, sizeof label, "Step %d", v.step_n);
    if (ImGui::MenuItem(label, "Shift+Right", false, !done)) s.step(v.step_n);
    if (ImGui::MenuItem("Run to end", "E", s.mode() == PlayMode::kRunToEnd, !done)) s.run_to_end();
    if (ImGui::MenuItem("Reset", "R")) gui.params.error = s.reset();
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    ImGui::MenuItem("Compare side by side", "C", &v.compare_view, s.comparing());
    ImGui::MenuItem("Sweep browser", nullptr, &gui.sweep.visible, gui.sweep.is_open());
    ImGui::MenuItem("Time axis in steps", "T", &v.axis_in_steps);
    ImGui::MenuItem("Whole run on the time axis", "F", &v.axis_follow);
    if (ImGui::MenuItem("Follow the oldest running sequence", "Esc", v.selected == kNoSeq))
      v.selected = kNoSeq;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    ImGui::MenuItem("Keyboard shortcuts", "F1", &v.show_help);
    ImGui::EndMenu();
  }
  ImGui::EndMainMenuBar();

  if (v.show_help) {
    ImGui::SetNextWindowPos(ImGui::GetMainViewport()->GetCenter(), ImGuiCond_Appearing,
                            ImVec2(0.5f, 0.5f));
    if (ImGui::Begin("Keyboard shortcuts", &v.show_help,
                     ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoSavedSettings)) {
      const char* rows[][2] = {{"Space", "play / pause"},
                               {"Right, N", "one step"},
                               {"Shift+Right", "step N"},
                               {"E", "run to end (again: stop)"},
                               {"R", "reset the run"},
                               {"C", "compare side by side"},
                               {"T", "time axis in seconds / steps"},
                               {"F", "whole run on the time axis"},
                               {"Esc", "follow the oldest running sequence"},
                               {"Ctrl+S", "save a screenshot (PNG)"},
                               {"Ctrl+E", "export metrics (CSV)"},
                               {"Ctrl+Q", "quit"},
                               {"plots", "wheel zoom, drag pan, double-click whole run"}};
      if (ImGui::BeginTable("keys", 2, ImGuiTableFlags_SizingFixedFit)) {
        for (const auto& r : rows) {
          ImGui::TableNextRow();
          ImGui::TableNextColumn();
          ImGui::PushFont(theme::fonts().mono);
          ImGui::TextColored(theme::vec(theme::kAccent), "%s", r[0]);
          ImGui::PopFont();
          ImGui::TableNextColumn();
          ImGui::TextUnformatted(r[1]);
        }
        ImGui::EndTable();
      }
    }
    ImGui::End();
  }
}

void handle_shortcuts(Gui& gui, std::span<const KeyPress> keys) {
  if (ImGui::GetIO().WantTextInput) return;
  Session& s = gui.session;
  ViewState& v = gui.view;
  for (const KeyPress& k : keys) {
    if (k.ctrl) {
      if (k.key == GLFW_KEY_S) gui.screenshot_requested = true;
      if (k.key == GLFW_KEY_E) export_csv(gui);
      if (k.key == GLFW_KEY_Q) gui.quit_requested = true;
      continue;
    }
    switch (k.key) {
      case GLFW_KEY_SPACE:
        if (!s.done()) s.toggle_play();
        break;
      case GLFW_KEY_RIGHT:
      case GLFW_KEY_N:
        if (!s.done()) s.step(k.shift ? v.step_n : 1);
        break;
      case GLFW_KEY_E:
        if (!s.done()) s.run_to_end();
        break;
      case GLFW_KEY_R:
        gui.params.error = s.reset();
        break;
      case GLFW_KEY_C:
        v.compare_view = s.comparing() && !v.compare_view;
        break;
      case GLFW_KEY_T:
        v.axis_in_steps = !v.axis_in_steps;
        break;
      case GLFW_KEY_F:
        v.axis_follow = !v.axis_follow;
        break;
      case GLFW_KEY_ESCAPE:
        v.selected = kNoSeq;
        break;
      case GLFW_KEY_F1:
        v.show_help = !v.show_help;
        break;
      default:
        break;
    }
  }
}

void draw_status_bar(Gui& gui, const ImRect& r) {
  ImGui::SetNextWindowPos(r.Min, ImGuiCond_Always);
  ImGui::SetNextWindowSize(r.GetSize(), ImGuiCond_Always);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(10, 4));
  ImGui::PushStyleColor(ImGuiCol_WindowBg, theme::kBackground);
  constexpr ImGuiWindowFlags kFlags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                      ImGuiWindowFlags_NoSavedSettings |
                                      ImGuiWindowFlags_NoBringToFrontOnFocus;
  if (ImGui::Begin("##status", nullptr, kFlags) && gui.session.has_run()) {
    Session& s = gui.session;
    const Snapshot& snap = s.run().snapshot();
    const bool gpu = snap.backend == "cuda";
    ImGui::TextColored(theme::vec(gpu ? theme::kGood : theme::kWarn), "%s", gpu ? "GPU" : "CPU");
    ImGui::SameLine();
    // The backend's description can be long (why no GPU runs): it gets what the right-hand
    // figures leave, elided, with the whole text on hover.
    const float room = ImGui::GetWindowContentRegionMax().x - ImGui::GetCursorPosX() - 620.0f;
    const std::string& description = snap.backend_description;
    std::string shown = description;
    if (ImGui::CalcTextSize(shown.c_str()).x > room) {
      while (!shown.empty() && ImGui::CalcTextSize((shown + "...").c_str()).x > room) shown.pop_back();
      shown += "...";
    }
    ImGui::TextUnformatted(shown.c_str());
    if (shown.size() != description.size() && ImGui::IsItemHovered()) {
      ImGui::SetTooltip("%s", description.c_str());
    }
    ImGui::SameLine(0, 24);
    ImGui::TextColored(theme::vec(theme::kTextDim), "%s", snap.scenario.c_str());
    ImGui::SameLine(0, 24);
    const char* mode = s.done()                          ? "done"
                       : s.mode() == PlayMode::kPlaying  ? "playing"
                       : s.mode() == PlayMode::kRunToEnd ? "running to end"
                                                         : "paused";
    ImGui::TextColored(theme::vec(theme::kTextDim), "%s", mode);
    if (!gui.notice.empty() && ImGui::GetTime() < gui.notice_until) {
      ImGui::SameLine(0, 24);
      ImGui::TextColored(theme::vec(theme::kAccent), "%s", gui.notice.c_str());
    }
    char frame[128];
    char fps[32] = "on input";  // paused, the loop waits for events
    if (s.mode() != PlayMode::kPaused || s.steps_taken() > 0) {
      std::snprintf(fps, sizeof fps, "%4.0f FPS", static_cast<double>(ImGui::GetIO().Framerate));
    }
    std::snprintf(frame, sizeof frame, "engine %5.2f ms   frame %5.2f ms CPU   %s", gui.engine_ms,
                  gui.timer.mean_cpu_ms(), fps);
    ImGui::PushFont(theme::fonts().mono);
    const float w = ImGui::CalcTextSize(frame).x;
    ImGui::SameLine(ImGui::GetWindowContentRegionMax().x - w);
    ImGui::TextUnformatted(frame);
    ImGui::PopFont();
    if (ImGui::IsItemHovered()) {
      ImGui::SetTooltip(
          "frame: the main thread's CPU time to build a frame (snapshot, views, draw lists,\n"
          "texture uploads), mean of the last 120 frames; engine: wall time spent stepping\n"
          "the engine this frame. Paused, frames are drawn on input only.");
    }
  }
  ImGui::End();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar();
}

}  // namespace tinyserve::app
