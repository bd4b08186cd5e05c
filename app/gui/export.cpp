// Export: the run's metrics as CSV (the columns of `tinyserve run`'s metrics.csv) and the
// window as a PNG read back from the framebuffer.
#include <GL/gl.h>
#include <stb_image_write.h>

#include <cstdio>
#include <vector>

#include "app/gui/views.h"

namespace tinyserve::app {

std::string export_metrics_csv(Run& run, const std::string& path) {
  const bool selection = run.engine().config().selection.enabled();
  std::string out = metrics_csv_header(selection) + "\n";
  for (const StepMetrics& m : run.engine().history()) append_metrics_csv_row(m, out, selection);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return "cannot write " + path;
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  if (std::fclose(f) != 0 || !ok) return "cannot write " + path;
  return "";
}

std::string save_screenshot(const std::string& path, int width, int height) {
  if (width <= 0 || height <= 0) return "empty framebuffer";
  std::vector<unsigned char> pixels(static_cast<size_t>(width) * static_cast<size_t>(height) * 3);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, pixels.data());
  stbi_flip_vertically_on_write(1);
  const int ok = stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3);
  stbi_flip_vertically_on_write(0);
  return ok ? "" : "cannot write " + path;
}

}  // namespace tinyserve::app
