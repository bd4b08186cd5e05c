// Fitting text into a width: eliding one string, and sharing a line among several pieces (the
// status bar). The caller measures text (ImGui::CalcTextSize in the app); no ImGui here.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tinyserve::app {

using MeasureText = std::function<float(std::string_view)>;

// text if it fits width, else its longest prefix (on a UTF-8 character boundary) followed by
// "..." that fits; "" when not even "..." fits.
std::string elide(std::string_view text, float width, const MeasureText& measure);

// A piece of a line: its natural width, the narrowest it may be elided to (0: it may be dropped
// whole), and its priority (higher keeps its width longer).
struct LinePiece {
  float natural = 0;
  float min = 0;
  int priority = 0;
};

// Widths for the pieces, separated by gap, that fit room: pieces shrink towards their minimum,
// lowest priority first, then are dropped (width 0, no gap), lowest priority first, and what a
// drop freed goes back to the pieces kept. The sum of the widths and of the gaps between the
// pieces kept never exceeds room.
std::vector<float> fit_line(std::span<const LinePiece> pieces, float room, float gap);

}  // namespace tinyserve::app
