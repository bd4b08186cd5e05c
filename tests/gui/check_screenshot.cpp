// Checks a screenshot of the app: check_screenshot FILE.png WIDTH HEIGHT MIN_COLOURS.
// Exit 0 when the PNG has that size and at least MIN_COLOURS distinct colours (not blank).
#include <stb_image.h>

#include <cstdio>
#include <cstdlib>
#include <unordered_set>

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: check_screenshot FILE.png WIDTH HEIGHT MIN_COLOURS\n");
    return 2;
  }
  const int want_w = std::atoi(argv[2]), want_h = std::atoi(argv[3]);
  const size_t min_colours = std::strtoul(argv[4], nullptr, 10);
  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load(argv[1], &w, &h, &channels, 3);
  if (pixels == nullptr) {
    std::fprintf(stderr, "check_screenshot: cannot read %s: %s\n", argv[1], stbi_failure_reason());
    return 1;
  }
  std::unordered_set<unsigned> colours;
  const size_t n = static_cast<size_t>(w) * static_cast<size_t>(h);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char* p = pixels + 3 * i;
    colours.insert(static_cast<unsigned>(p[0]) << 16 | static_cast<unsigned>(p[1]) << 8 | p[2]);
  }
  stbi_image_free(pixels);
  std::printf("check_screenshot: %s is %dx%d with %zu distinct colours\n", argv[1], w, h,
              colours.size());
  if (w != want_w || h != want_h) {
    std::fprintf(stderr, "check_screenshot: expected %dx%d\n", want_w, want_h);
    return 1;
  }
  if (colours.size() < min_colours) {
    std::fprintf(stderr, "check_screenshot: expected at least %zu colours: a blank frame?\n",
                 min_colours);
    return 1;
  }
  return 0;
}
