// `tinyserve gui`: the desktop app. Interactive by default; with --frames or --screenshot it runs
// a fixed number of frames, saves the last one and exits (the scripted mode for tests and docs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyserve::app {

struct GuiOptions {
  std::string scenario = "poisson_zipf";  // name or path
  std::vector<std::string> overrides;     // --set key=value
  std::string backend = "auto";           // the GPU when it can run the scenario (app/backends.h)
  std::string compare;                    // a compare preset to open with ("" none)
  int64_t frames = 0;                     // > 0: scripted mode
  int64_t steps_per_frame = 1;            // scripted mode
  std::string screenshot;                 // scripted mode: PNG of the last frame
  std::string size = "1600x1000";         // window size, WIDTHxHEIGHT
  std::string mouse;                      // scripted mode: the mouse held at "X,Y" ("" away)
  std::string sweep;                      // a sweep folder to browse (app/gui/sweep_browser.h)
  std::string sweep_open;                 // with sweep: run row "N", or compare rows "N,M"
};

// Returns the exit code: 0, 1 internal failure, 2 bad input or no display.
int run_gui(const GuiOptions& options, const std::string& executable_dir);

}  // namespace tinyserve::app
