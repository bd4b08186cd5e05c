// The app's views, one file each (view_*.cpp), and what they share: the session, the view state,
// the GPU textures of the pool maps, the frame timer and the requests they make of the main loop.
#pragma once

#include <imgui.h>
#include <imgui_internal.h>

#include <span>
#include <string>
#include <vector>

#include "app/gui/frame_timer.h"
#include "app/gui/pool_texture.h"
#include "app/gui/session.h"
#include "app/gui/sweep_browser.h"
#include "app/gui/view_state.h"

namespace tinyserve::app {

// The parameters panel's edit buffers, loaded from the run's scenario whenever the run changes.
struct ParamEdits {
  uint64_t generation = ~uint64_t{0};  // the session's generation these were loaded from
  int block_size = 16;
  int num_gpu_blocks = 0;
  float gpu_memory_utilization = 0.9f;
  int allocator = 0;    // paged, contiguous
  int reservation = 0;  // max-length, power-of-two, exact
  int free_list = 0;    // lifo, fifo, lru, best-fit, random
  int preemption = 0;   // recompute, swap
  bool prefix_caching = false;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 2048;
  float arrival_rate = 1;  // synthetic workloads
  float time_scale = 1;    // trace workloads
  int seed = 0;
  char path[512] = "";
  std::string error;
  int compare_preset = 0;
};

struct ScenarioEntry {
  std::string name, path, description;
};

struct Gui {
  explicit Gui(Session s) : session(std::move(s)) {}
  Session session;
  ViewState view;
  ParamEdits params;
  PoolTexture pool_map;
  PoolTexture compare_maps[2];
  FrameTimer timer;
  double engine_ms = 0;
  std::string notice;  // shown in the status bar for a while
  double notice_until = 0;
  std::vector<ScenarioEntry> scenarios;  // the scenarios/ folder, read once
  bool scenarios_listed = false;
  bool screenshot_requested = false;
  bool quit_requested = false;
  SweepBrowser sweep;                     // view_sweep.cpp
  std::vector<std::string> sweep_prefix;  // overrides before a sweep row's (the app's backend)
};

// Layout: fixed panel rectangles that fill the window (Dear ImGui 1.86 in Debian has no docking).
struct Layout {
  ImRect controls, queues, pool_map, timeseries, compare, block_table, kernel, events, status;
};
Layout compute_layout(ImVec2 display, float menu_height, float status_height);

// Begins a fixed panel window at r; always pair with ImGui::End().
bool begin_panel(const char* title, const ImRect& r, ImGuiWindowFlags extra = 0);
void heading(const char* text);
void help_marker(const char* text);
// Text elided to width in the current font ("..." at the end); the whole text on hover when cut.
void text_elided(const std::string& text, float width, ImU32 colour);
std::string elided(const std::string& text, float width);
void show_notice(Gui& gui, std::string text);

// The sequence the inspector shows: the selection, else the oldest running one.
SeqId shown_sequence(const Snapshot& snap, const ViewState& view);

void draw_menu_bar(Gui& gui);
// The sweep browser (floating, first placed at place) and its folder dialog; running one row, or
// comparing two: "" or the error.
void draw_sweep(Gui& gui, const ImRect& place);
std::string open_sweep_row(Gui& gui, size_t row);
std::string compare_sweep_rows(Gui& gui, size_t a, size_t b);
void draw_controls(Gui& gui, const ImRect& r);
void draw_pool_map(Gui& gui, const ImRect& r);
void draw_block_table(Gui& gui, const ImRect& r);
void draw_queues(Gui& gui, const ImRect& r);
void draw_timeseries(Gui& gui, const ImRect& r);
void draw_kernel(Gui& gui, const ImRect& r);
void draw_events(Gui& gui, const ImRect& r);
void draw_compare(Gui& gui, const ImRect& r);
void draw_status_bar(Gui& gui, const ImRect& r);
// A key pressed since the last frame (recorded from GLFW's callback, so that a press and release
// within one frame still count).
struct KeyPress {
  int key = 0;  // GLFW_KEY_*
  bool ctrl = false, shift = false;
};
void handle_shortcuts(Gui& gui, std::span<const KeyPress> keys);

// The compare picker (a preset and Compare / Stop), right-aligned on the current line, or on the
// next one when the line has no room left for it.
void compare_picker(Gui& gui);
float compare_picker_width();

// The pool map widget (the panel and each side of Compare): fills size at the cursor; hover shows
// the block, a click selects its owner.
void pool_map_widget(Gui& gui, Run& run, PoolTexture& texture, ImVec2 size);

// Export: the metrics of run(0) as CSV; the framebuffer as PNG (after rendering, before swap).
std::string export_metrics_csv(Run& run, const std::string& path);
std::string save_screenshot(const std::string& path, int width, int height);

}  // namespace tinyserve::app
