// The desktop app's setup, frame loop and teardown (after Dear ImGui's example_glfw_opengl3).
// Each frame: step the engine within a time budget, build the views from one snapshot per run,
// render, swap. The scripted mode runs a fixed number of frames and saves the last one.
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/backends.h"
#include "app/commands.h"
#include "app/gui/gui.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "app/outputs.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

// OpenGL 3.0 with GLSL 1.30: what Mesa's llvmpipe (software GL under Xvfb) and real drivers
// both give without asking for a core profile.
constexpr int kGlMajor = 3;
constexpr int kGlMinor = 0;
constexpr const char* kGlslVersion = "#version 130";

constexpr double kPlayBudgetS = 0.008;
constexpr double kRunToEndBudgetS = 0.012;

std::string g_glfw_error;

void remember_glfw_error(int code, const char* description) {
  g_glfw_error = cat(description, " (GLFW error ", code, ")");
}

void print_glfw_error(int code, const char* description) {
  std::fprintf(stderr, "tinyserve: GLFW error %d: %s\n", code, description);
}

// "1600x1000" (separator 'x') or "800,500" (separator ',').
bool parse_pair(const std::string& text, char separator, int& a, int& b) {
  const size_t at = text.find(separator);
  if (at == std::string::npos) return false;
  return parse_number(std::string_view(text).substr(0, at), a) &&
         parse_number(std::string_view(text).substr(at + 1), b);
}

std::vector<KeyPress> g_keys;

void record_key(GLFWwindow*, int key, int, int action, int mods) {
  if (action == GLFW_PRESS || action == GLFW_REPEAT) {
    g_keys.push_back({key, (mods & GLFW_MOD_CONTROL) != 0, (mods & GLFW_MOD_SHIFT) != 0});
  }
}

// --sweep-open ROW or ROW,ROW: run one row of the sweep, or compare two.
std::string open_sweep_rows(Gui& gui, const std::string& rows) {
  int a = 0, b = 0;
  if (parse_pair(rows, ',', a, b) && a >= 0 && b >= 0) {
    return compare_sweep_rows(gui, static_cast<size_t>(a), static_cast<size_t>(b));
  }
  if (parse_number(rows, a) && a >= 0) return open_sweep_row(gui, static_cast<size_t>(a));
  return "--sweep-open " + rows + ": expected ROW or ROW,ROW (from 0, in sweep.csv's order)";
}

void draw_frame(Gui& gui) {
  draw_menu_bar(gui);
  const float menu_h = ImGui::GetFrameHeight();
  const float status_h = ImGui::GetFrameHeight() + 6;
  const Layout l = compute_layout(ImGui::GetIO().DisplaySize, menu_h, status_h);
  draw_controls(gui, l.controls);
  draw_queues(gui, l.queues);
  if (gui.view.compare_view && gui.session.comparing()) {
    draw_compare(gui, l.compare);
  } else {
    draw_pool_map(gui, l.pool_map);
    draw_timeseries(gui, l.timeseries);
  }
  draw_block_table(gui, l.block_table);
  draw_kernel(gui, l.kernel);
  draw_events(gui, l.events);
  draw_status_bar(gui, l.status);
  draw_sweep(gui, l.pool_map);  // over the pool map: the time series stay in view
  handle_shortcuts(gui, g_keys);
  g_keys.clear();
  gui.view.hover_valid = gui.view.hover_seen;
  gui.view.hover_seen = false;
}

void print_frame_report(const Gui& gui, int64_t frames, int64_t steps) {
  const std::vector<FrameTimer::Sample>& samples = gui.timer.all();
  if (samples.empty()) return;
  auto report = [&](const char* what, double FrameTimer::Sample::*field) {
    std::vector<double> t;
    for (const FrameTimer::Sample& s : samples) t.push_back(s.*field);
    std::sort(t.begin(), t.end());
    double sum = 0;
    for (double x : t) sum += x;
    auto q = [&](double p) {
      return t[std::min(t.size() - 1, static_cast<size_t>(p * static_cast<double>(t.size())))];
    };
    std::printf("  frame %s ms: mean %.2f, p50 %.2f, p95 %.2f, max %.2f\n", what,
                sum / static_cast<double>(t.size()), q(0.5), q(0.95), t.back());
  };
  const auto* renderer = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
  const auto* version = reinterpret_cast<const char*>(glGetString(GL_VERSION));
  std::printf("tinyserve gui: %lld frames, %lld steps, %dx%d, GL %s (%s)\n",
              static_cast<long long>(frames), static_cast<long long>(steps),
              static_cast<int>(ImGui::GetIO().DisplaySize.x),
              static_cast<int>(ImGui::GetIO().DisplaySize.y), version ? version : "?",
              renderer ? renderer : "?");
  report("CPU", &FrameTimer::Sample::cpu_ms);
  report("wall", &FrameTimer::Sample::wall_ms);
}

}  // namespace

int run_gui(const GuiOptions& o, const std::string& executable_dir) {
  int width = 0, height = 0;
  if (!parse_pair(o.size, 'x', width, height) || width < 320 || height < 240 || width > 16384 ||
      height > 16384) {
    std::fprintf(stderr, "tinyserve: --size %s: expected WIDTHxHEIGHT such as 1600x1000\n",
                 o.size.c_str());
    return kExitBadInput;
  }
  ImVec2 mouse(-FLT_MAX, -FLT_MAX);
  if (!o.mouse.empty()) {
    int mx = 0, my = 0;
    if (!parse_pair(o.mouse, ',', mx, my)) {
      std::fprintf(stderr, "tinyserve: --mouse %s: expected X,Y such as 800,300\n",
                   o.mouse.c_str());
      return kExitBadInput;
    }
    mouse = ImVec2(static_cast<float>(mx), static_cast<float>(my));
  }
  const bool scripted = o.frames > 0 || !o.screenshot.empty();
  const int64_t frames = o.frames > 0 ? o.frames : 60;

  // The app runs the real backend unless told otherwise (a base override, not listed as the
  // user's); --set overrides still win.
  Session session(executable_dir, make_backend, {"engine.backend=" + o.backend});
  if (std::string error = session.load(o.scenario, o.overrides); !error.empty()) {
    std::fprintf(stderr, "tinyserve: %s\n", error.c_str());
    return kExitBadInput;
  }
  if (!o.compare.empty()) {
    const CompareSetup* preset = find_compare_preset(o.compare);
    if (preset == nullptr) {
      std::string names;
      for (const CompareSetup& p : compare_presets())
        names += (names.empty() ? "" : ", ") + slug(p.name);
      std::fprintf(stderr, "tinyserve: --compare %s: expected one of %s\n", o.compare.c_str(),
                   names.c_str());
      return kExitBadInput;
    }
    if (std::string error = session.compare(*preset); !error.empty()) {
      std::fprintf(stderr, "tinyserve: %s\n", error.c_str());
      return kExitBadInput;
    }
  }

  const char* display = std::getenv("DISPLAY");
  const char* wayland = std::getenv("WAYLAND_DISPLAY");
  if ((display == nullptr || *display == 0) && (wayland == nullptr || *wayland == 0)) {
    std::fprintf(stderr,
                 "tinyserve: no display (DISPLAY and WAYLAND_DISPLAY are unset); "
                 "`tinyserve run %s` runs it headless\n",
                 o.scenario.c_str());
    return kExitBadInput;
  }
  glfwSetErrorCallback(remember_glfw_error);
  if (!glfwInit()) {
    std::fprintf(stderr, "tinyserve: cannot open a window: %s\n", g_glfw_error.c_str());
    return kExitBadInput;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, kGlMajor);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, kGlMinor);
  glfwWindowHint(GLFW_RESIZABLE, scripted ? GLFW_FALSE : GLFW_TRUE);
  GLFWwindow* window = glfwCreateWindow(width, height, "TinyServe", nullptr, nullptr);
  if (window == nullptr) {
    std::fprintf(stderr, "tinyserve: cannot open a window: %s\n", g_glfw_error.c_str());
    glfwTerminate();
    return kExitBadInput;
  }
  glfwSetErrorCallback(print_glfw_error);
  glfwMakeContextCurrent(window);
  glfwSwapInterval(scripted ? 0 : 1);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // the layout is fixed; nothing to remember
  float scale_x = 1, scale_y = 1;
  glfwGetWindowContentScale(window, &scale_x, &scale_y);
  theme::setup(std::clamp(scale_y, 1.0f, 3.0f));
  glfwSetKeyCallback(window, record_key);  // Dear ImGui's callback chains to it
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init(kGlslVersion);

  int exit_code = kExitOk;
  {
    Gui gui(std::move(session));
    gui.sweep_prefix = {"engine.backend=" + o.backend};
    if (!o.sweep.empty()) {
      std::string error = gui.sweep.open(o.sweep);
      if (error.empty() && !o.sweep_open.empty()) error = open_sweep_rows(gui, o.sweep_open);
      if (!error.empty()) {
        std::fprintf(stderr, "tinyserve: --sweep %s: %s\n", o.sweep.c_str(), error.c_str());
        exit_code = kExitBadInput;
        gui.quit_requested = true;
      }
    }
    gui.session.advance_exact(0);
    gui.view.compare_view = gui.session.comparing();
    gui.timer.keep_all(scripted);
    int64_t steps = 0;
    int quiet_frames = 0;    // frames since the last input or command
    int screenshot_in = -1;  // frames until a requested screenshot (menus closed first)
    auto last = std::chrono::steady_clock::now();
    for (int64_t frame = 0; !glfwWindowShouldClose(window); ++frame) {
      // Idle, wait for input; Dear ImGui settles a few frames after each event.
      if (!scripted && !gui.session.busy() && quiet_frames >= 3) {
        glfwWaitEventsTimeout(0.25);
        quiet_frames = 0;
      } else {
        glfwPollEvents();
        ++quiet_frames;
      }
      const auto now = std::chrono::steady_clock::now();
      const double dt = std::chrono::duration<double>(now - last).count();
      last = now;
      if (scripted) {
        gui.session.advance_exact(o.steps_per_frame);
      } else {
        const double budget =
            gui.session.mode() == PlayMode::kRunToEnd ? kRunToEndBudgetS : kPlayBudgetS;
        gui.session.advance(std::min(dt, 0.25), budget);
      }
      steps += gui.session.steps_taken();
      gui.engine_ms = gui.session.engine_ms();

      gui.timer.begin();
      ImGui_ImplOpenGL3_NewFrame();
      ImGui_ImplGlfw_NewFrame();
      if (scripted) io.MousePos = mouse;  // no stray hover in screenshots unless asked
      ImGui::NewFrame();
      draw_frame(gui);
      ImGui::Render();
      gui.timer.end();

      int fb_w = 0, fb_h = 0;
      glfwGetFramebufferSize(window, &fb_w, &fb_h);
      glViewport(0, 0, fb_w, fb_h);
      const ImVec4 bg = theme::vec(theme::kBackground);
      glClearColor(bg.x, bg.y, bg.z, 1.0f);
      glClear(GL_COLOR_BUFFER_BIT);
      ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());

      if (gui.screenshot_requested) {
        gui.screenshot_requested = false;
        screenshot_in = 2;
        quiet_frames = 0;
      }
      const bool last_frame = scripted && frame + 1 >= frames;
      if ((screenshot_in >= 0 && screenshot_in-- == 0) || (last_frame && !o.screenshot.empty())) {
        const Snapshot& snap = gui.session.run().snapshot();
        const std::string path =
            last_frame && !o.screenshot.empty()
                ? o.screenshot
                : cat("tinyserve-", path_component(snap.scenario), "-step", snap.step, ".png");
        const std::string error = save_screenshot(path, fb_w, fb_h);
        show_notice(gui, error.empty() ? "saved " + path : error);
        if (!error.empty()) {
          std::fprintf(stderr, "tinyserve: %s\n", error.c_str());
          if (last_frame) exit_code = kExitFailure;
        }
      }
      glfwSwapBuffers(window);
      if (gui.quit_requested || last_frame) break;
    }
    if (scripted) print_frame_report(gui, frames, steps);
  }

  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return exit_code;
}

}  // namespace tinyserve::app
