// The menu bar, the status bar and the keyboard shortcuts.
#include <GLFW/glfw3.h>

#include <cstdio>
#include <string>
#include <vector>

#include "app/gui/text_fit.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "app/outputs.h"

namespace tinyserve::app {

namespace {

void export_csv(Gui& gui) {
  Session& s = gui.session;
  std::string saved;
  for (size_t i = 0; i < s.num_runs(); ++i) {
    Run& run = s.run(i);
    const std::string suffix = s.num_runs() > 1 ? (i == 0 ? "-A" : "-B") : "";
    const std::string path = path_component(run.scenario().name) + suffix + "-metrics.csv";
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

// The status bar is one line of pieces, left to right, and the frame figures on the right; when
// the line is too narrow, pieces are elided (whole text on hover) or dropped, least important
// first, so nothing overprints. A new piece (the scheduler's semantics, say) is one more entry.
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
    const char* mode = s.done()                          ? "done"
                       : s.mode() == PlayMode::kPlaying  ? "playing"
                       : s.mode() == PlayMode::kRunToEnd ? "running to end"
                                                         : "paused";
    char fps[32] = "on input";  // paused, the loop waits for events
    if (s.mode() != PlayMode::kPaused || s.steps_taken() > 0) {
      std::snprintf(fps, sizeof fps, "%4.0f FPS", static_cast<double>(ImGui::GetIO().Framerate));
    }
    char figures[128];
    std::snprintf(figures, sizeof figures, "engine %5.2f ms   frame %5.2f ms CPU   %s",
                  gui.engine_ms, gui.timer.mean_cpu_ms(), fps);

    struct Piece {
      std::string text;
      ImU32 colour;
      bool mono;
      LinePiece fit;
    };
    std::vector<Piece> pieces;
    auto add = [&](std::string text, ImU32 colour, bool mono, float min, int priority) {
      if (text.empty()) return;
      if (mono) ImGui::PushFont(theme::fonts().mono);
      const float w = ImGui::CalcTextSize(text.c_str()).x;
      if (mono) ImGui::PopFont();
      pieces.push_back({std::move(text), colour, mono, {w, std::min(min, w), priority}});
    };
    // Priorities: the backend's description gives way first, then the scenario's name down to
    // a stub, then the frame figures (whole or not at all), then the notice.
    const float name_min = ImGui::CalcTextSize("a_scenario_n...").x;
    add(gpu ? "GPU" : "CPU", gpu ? theme::kGood : theme::kWarn, false, 1e9f, 9);
    add(snap.backend_description, theme::kText, false, 0, 0);
    add(snap.scenario, theme::kTextDim, false, name_min, 4);
    const size_t semantics_piece = pieces.size();
    std::string semantics;  // "vllm-v1", or both runs' when comparing
    for (size_t i = 0; i < s.num_runs(); ++i) {
      const SchedulerConfig& sc = s.run(i).engine().config().scheduler;
      semantics += (i > 0 ? " vs " : "") + std::string(to_string(sc.semantics)) +
                   (sc.async_scheduling ? " async" : "");
    }
    add(semantics, theme::kTextDim, false, 1e9f, 7);
    add(mode, theme::kTextDim, false, 1e9f, 8);
    if (!gui.notice.empty() && ImGui::GetTime() < gui.notice_until)
      add(gui.notice, theme::kAccent, false, name_min, 5);
    const size_t right = pieces.size();  // the figures, right-aligned
    add(figures, theme::kText, true, 1e9f, 3);

    const float gap = 24;
    const float left = ImGui::GetCursorPosX();
    const float room = ImGui::GetWindowContentRegionMax().x - left;
    std::vector<LinePiece> fit;
    for (const Piece& p : pieces) fit.push_back(p.fit);
    const std::vector<float> widths = fit_line(fit, room, gap);
    bool first = true;
    for (size_t i = 0; i < pieces.size(); ++i) {
      const float w = widths[i];
      if (w <= 0) continue;
      if (i == right) {
        ImGui::SameLine(ImGui::GetWindowContentRegionMax().x - w);
      } else if (!first) {
        ImGui::SameLine(0, i == 1 ? ImGui::GetStyle().ItemSpacing.x : gap);
      }
      first = false;
      if (pieces[i].mono) ImGui::PushFont(theme::fonts().mono);
      text_elided(pieces[i].text, w, pieces[i].colour);
      if (pieces[i].mono) ImGui::PopFont();
      if (i == semantics_piece && ImGui::IsItemHovered()) {
        ImGui::SetTooltip(
            "scheduler.semantics: vllm-v1 decides as vLLM 0.33's v1 engine, step for step;\n"
            "vllm-v0 as vLLM v0's block manager (whole prompts, watermark, swap, beams).\n"
            "docs/fidelity.md");
      }
      if (i == right && ImGui::IsItemHovered()) {
        ImGui::SetTooltip(
            "frame: the main thread's CPU time to build a frame (snapshot, views, draw lists,\n"
            "texture uploads), mean of the last 120 frames; engine: wall time spent stepping\n"
            "the engine this frame. Paused, frames are drawn on input only.");
      }
    }
  }
  ImGui::End();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar();
}

}  // namespace tinyserve::app
