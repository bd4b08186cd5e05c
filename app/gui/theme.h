// The app's look: palette, style, fonts, and the colours that carry meaning (one per sequence,
// metric and event kind). The code is the source of truth for all of them.
#pragma once

#include <imgui.h>

#include <cstdint>

#include "app/gui/run_columns.h"
#include "core/base/ids.h"
#include "core/scheduling/events.h"

namespace tinyserve::app::theme {

inline constexpr ImU32 kBackground = IM_COL32(17, 19, 24, 255);
inline constexpr ImU32 kPanel = IM_COL32(24, 27, 33, 255);
inline constexpr ImU32 kPlotBackground = IM_COL32(20, 22, 28, 255);
inline constexpr ImU32 kGrid = IM_COL32(255, 255, 255, 18);
inline constexpr ImU32 kAxisText = IM_COL32(140, 147, 160, 255);
inline constexpr ImU32 kText = IM_COL32(218, 222, 230, 255);
inline constexpr ImU32 kTextDim = IM_COL32(132, 139, 152, 255);
inline constexpr ImU32 kAccent = IM_COL32(78, 161, 255, 255);
inline constexpr ImU32 kGood = IM_COL32(62, 207, 142, 255);
inline constexpr ImU32 kWarn = IM_COL32(255, 169, 77, 255);
inline constexpr ImU32 kBad = IM_COL32(255, 107, 107, 255);
inline constexpr ImU32 kCursor = IM_COL32(255, 255, 255, 110);

// The pool map.
inline constexpr ImU32 kBlockFree = IM_COL32(38, 42, 51, 255);
inline constexpr ImU32 kBlockCached = IM_COL32(72, 98, 128, 255);
inline constexpr ImU32 kBlockUsed = IM_COL32(98, 196, 168, 255);  // aggregated maps: all used
inline constexpr ImU32 kBlockGap = IM_COL32(17, 19, 24, 255);
inline constexpr ImU32 kSelected = IM_COL32(255, 255, 255, 255);

// Compare: run A and run B.
inline constexpr ImU32 kRunA = IM_COL32(78, 161, 255, 255);
inline constexpr ImU32 kRunB = IM_COL32(255, 169, 77, 255);

struct Fonts {
  ImFont* ui = nullptr;
  ImFont* mono = nullptr;
  ImFont* heading = nullptr;
};
const Fonts& fonts();

// Loads DejaVu Sans (and Mono) from the system when installed, else scales ImGui's own font;
// applies the style and palette.
void setup(float scale = 1.0f);

// A stable colour per sequence (RGBA in memory order, as IM_COL32), from a palette of
// kSeqPaletteSize colours that neighbouring ids never share.
inline constexpr size_t kSeqPaletteSize = 256;
ImU32 seq_color(SeqId seq);
ImU32 metric_color(Metric metric);
ImU32 event_color(EventKind kind);

// Blends a towards b by t in [0, 1].
ImU32 mix(ImU32 a, ImU32 b, float t);
ImVec4 vec(ImU32 c);

}  // namespace tinyserve::app::theme
