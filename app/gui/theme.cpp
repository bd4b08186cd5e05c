#include "app/gui/theme.h"

#include <array>
#include <filesystem>

namespace tinyserve::app::theme {

namespace {

Fonts g_fonts;

constexpr const char* kSansPaths[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                                      "/usr/share/fonts/TTF/DejaVuSans.ttf"};
constexpr const char* kMonoPaths[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
                                      "/usr/share/fonts/TTF/DejaVuSansMono.ttf"};
constexpr const char* kBoldPaths[] = {"/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                                      "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"};

template <size_t N>
ImFont* load_first(const char* const (&paths)[N], float size) {
  std::error_code ec;
  for (const char* p : paths) {
    if (std::filesystem::is_regular_file(p, ec)) {
      ImFontConfig config;
      config.OversampleH = 2;
      config.OversampleV = 1;
      static const ImWchar kRanges[] = {0x0020, 0x00FF, 0x2190, 0x21FF, 0x2022, 0x2026, 0x2212,
                                        0x2219, 0x00B7, 0x00B7, 0x25A0, 0x25FF, 0};
      return ImGui::GetIO().Fonts->AddFontFromFileTTF(p, size, &config, kRanges);
    }
  }
  return nullptr;
}

std::array<ImU32, kSeqPaletteSize> make_seq_palette() {
  std::array<ImU32, kSeqPaletteSize> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    const float hue = static_cast<float>(i) * 0.6180339887f + 0.58f;
    const float h = hue - static_cast<float>(static_cast<int>(hue));
    const float s = (i % 3 == 0) ? 0.48f : (i % 3 == 1 ? 0.58f : 0.40f);
    const float v = (i % 2 == 0) ? 0.84f : 0.72f;
    float r = 0, g = 0, b = 0;
    ImGui::ColorConvertHSVtoRGB(h, s, v, r, g, b);
    out[i] = ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1.0f));
  }
  return out;
}

void apply_style(float scale) {
  ImGuiStyle& st = ImGui::GetStyle();
  st = ImGuiStyle();
  st.WindowPadding = ImVec2(10, 8);
  st.FramePadding = ImVec2(7, 4);
  st.CellPadding = ImVec2(6, 2);
  st.ItemSpacing = ImVec2(8, 5);
  st.ItemInnerSpacing = ImVec2(5, 4);
  st.ScrollbarSize = 11;
  st.GrabMinSize = 9;
  st.WindowBorderSize = 1;
  st.ChildBorderSize = 1;
  st.PopupBorderSize = 1;
  st.FrameBorderSize = 0;
  st.WindowRounding = 0;
  st.ChildRounding = 3;
  st.FrameRounding = 3;
  st.PopupRounding = 3;
  st.ScrollbarRounding = 3;
  st.GrabRounding = 3;
  st.TabRounding = 3;
  st.WindowTitleAlign = ImVec2(0.0f, 0.5f);
  st.ScaleAllSizes(scale);

  ImVec4* c = st.Colors;
  auto rgb = [](int r, int g, int b, float a = 1.0f) {
    return ImVec4(static_cast<float>(r) / 255.0f, static_cast<float>(g) / 255.0f,
                  static_cast<float>(b) / 255.0f, a);
  };
  const ImVec4 accent = rgb(78, 161, 255);
  c[ImGuiCol_Text] = rgb(218, 222, 230);
  c[ImGuiCol_TextDisabled] = rgb(120, 127, 140);
  c[ImGuiCol_WindowBg] = rgb(24, 27, 33);
  c[ImGuiCol_ChildBg] = rgb(0, 0, 0, 0);
  c[ImGuiCol_PopupBg] = rgb(30, 33, 41, 0.98f);
  c[ImGuiCol_Border] = rgb(44, 49, 60);
  c[ImGuiCol_BorderShadow] = rgb(0, 0, 0, 0);
  c[ImGuiCol_FrameBg] = rgb(35, 39, 48);
  c[ImGuiCol_FrameBgHovered] = rgb(45, 51, 63);
  c[ImGuiCol_FrameBgActive] = rgb(52, 59, 74);
  c[ImGuiCol_TitleBg] = rgb(30, 34, 42);
  c[ImGuiCol_TitleBgActive] = rgb(30, 34, 42);
  c[ImGuiCol_TitleBgCollapsed] = rgb(30, 34, 42);
  c[ImGuiCol_MenuBarBg] = rgb(30, 34, 42);
  c[ImGuiCol_ScrollbarBg] = rgb(24, 27, 33);
  c[ImGuiCol_ScrollbarGrab] = rgb(55, 61, 75);
  c[ImGuiCol_ScrollbarGrabHovered] = rgb(70, 78, 95);
  c[ImGuiCol_ScrollbarGrabActive] = rgb(85, 94, 115);
  c[ImGuiCol_CheckMark] = accent;
  c[ImGuiCol_SliderGrab] = rgb(78, 161, 255, 0.8f);
  c[ImGuiCol_SliderGrabActive] = accent;
  c[ImGuiCol_Button] = rgb(42, 47, 58);
  c[ImGuiCol_ButtonHovered] = rgb(55, 63, 79);
  c[ImGuiCol_ButtonActive] = rgb(66, 76, 96);
  c[ImGuiCol_Header] = rgb(48, 56, 72);
  c[ImGuiCol_HeaderHovered] = rgb(56, 66, 86);
  c[ImGuiCol_HeaderActive] = rgb(64, 76, 100);
  c[ImGuiCol_Separator] = rgb(44, 49, 60);
  c[ImGuiCol_SeparatorHovered] = accent;
  c[ImGuiCol_SeparatorActive] = accent;
  c[ImGuiCol_ResizeGrip] = rgb(0, 0, 0, 0);
  c[ImGuiCol_ResizeGripHovered] = rgb(0, 0, 0, 0);
  c[ImGuiCol_ResizeGripActive] = rgb(0, 0, 0, 0);
  c[ImGuiCol_Tab] = rgb(32, 36, 45);
  c[ImGuiCol_TabHovered] = rgb(56, 66, 86);
  c[ImGuiCol_TabActive] = rgb(48, 56, 72);
  c[ImGuiCol_TabUnfocused] = rgb(32, 36, 45);
  c[ImGuiCol_TabUnfocusedActive] = rgb(48, 56, 72);
  c[ImGuiCol_PlotLines] = accent;
  c[ImGuiCol_PlotHistogram] = accent;
  c[ImGuiCol_TableHeaderBg] = rgb(32, 36, 45);
  c[ImGuiCol_TableBorderStrong] = rgb(44, 49, 60);
  c[ImGuiCol_TableBorderLight] = rgb(36, 40, 50);
  c[ImGuiCol_TableRowBg] = rgb(0, 0, 0, 0);
  c[ImGuiCol_TableRowBgAlt] = rgb(255, 255, 255, 0.025f);
  c[ImGuiCol_TextSelectedBg] = rgb(78, 161, 255, 0.35f);
  c[ImGuiCol_NavHighlight] = accent;
  c[ImGuiCol_ModalWindowDimBg] = rgb(0, 0, 0, 0.5f);
}

}  // namespace

const Fonts& fonts() {
  return g_fonts;
}

void setup(float scale) {
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  g_fonts.ui = load_first(kSansPaths, 15.0f * scale);
  if (g_fonts.ui != nullptr) {
    g_fonts.mono = load_first(kMonoPaths, 14.0f * scale);
    g_fonts.heading = load_first(kBoldPaths, 15.0f * scale);
  } else {
    ImFontConfig config;
    config.SizePixels = 13.0f * scale;
    g_fonts.ui = io.Fonts->AddFontDefault(&config);
  }
  if (g_fonts.mono == nullptr) g_fonts.mono = g_fonts.ui;
  if (g_fonts.heading == nullptr) g_fonts.heading = g_fonts.ui;
  io.FontDefault = g_fonts.ui;
  apply_style(scale);
}

ImU32 seq_color(SeqId seq) {
  static const std::array<ImU32, kSeqPaletteSize> kPalette = make_seq_palette();
  return kPalette[static_cast<uint32_t>(seq) % kSeqPaletteSize];
}

ImU32 metric_color(Metric metric) {
  switch (metric) {
    case Metric::kKvCacheUsage:
      return IM_COL32(78, 161, 255, 255);
    case Metric::kTokenUtilization:
      return IM_COL32(62, 207, 142, 255);
    case Metric::kInternalFragmentation:
      return IM_COL32(255, 169, 77, 255);
    case Metric::kExternalFragmentation:
      return IM_COL32(255, 107, 107, 255);
    case Metric::kReservedFraction:
      return IM_COL32(192, 132, 252, 255);
    case Metric::kFTotal:
      return IM_COL32(233, 236, 239, 255);
    case Metric::kFSpatial:
      return IM_COL32(116, 192, 252, 255);
    case Metric::kFTemporal:
      return IM_COL32(255, 212, 59, 255);
    case Metric::kFAccess:
      return IM_COL32(247, 131, 172, 255);
    case Metric::kRunning:
      return IM_COL32(62, 207, 142, 255);
    case Metric::kWaiting:
      return IM_COL32(255, 212, 59, 255);
    case Metric::kSwapped:
      return IM_COL32(177, 151, 252, 255);
    case Metric::kPreemptionsTotal:
      return IM_COL32(255, 107, 107, 255);
    case Metric::kPrefixHitRate:
      return IM_COL32(56, 217, 169, 255);
    case Metric::kThroughput:
      return IM_COL32(78, 161, 255, 255);
    case Metric::kThroughputWindow:
      return IM_COL32(78, 161, 255, 255);
    case Metric::kAttentionMs:
      return IM_COL32(78, 161, 255, 255);
    case Metric::kModelledAttentionMs:
      return IM_COL32(116, 192, 252, 255);
    case Metric::kContiguousAttentionMs:
      return IM_COL32(255, 169, 77, 255);
    case Metric::kPrefillAttentionMs:
    case Metric::kModelledPrefillAttentionMs:
      return IM_COL32(218, 119, 242, 255);
    case Metric::kDecodeAttentionMs:
    case Metric::kModelledDecodeAttentionMs:
      return IM_COL32(56, 217, 169, 255);
    default:
      return IM_COL32(173, 181, 189, 255);
  }
}

ImU32 event_color(EventKind kind) {
  switch (kind) {
    case EventKind::kArrive:
      return IM_COL32(165, 180, 200, 255);
    case EventKind::kAdmit:
      return IM_COL32(62, 207, 142, 255);
    case EventKind::kPrefixHit:
      return IM_COL32(56, 217, 169, 255);
    case EventKind::kFork:
      return IM_COL32(177, 151, 252, 255);
    case EventKind::kCopyOnWrite:
      return IM_COL32(255, 169, 77, 255);
    case EventKind::kEvict:
      return IM_COL32(255, 212, 59, 255);
    case EventKind::kPreemptRecompute:
      return IM_COL32(255, 107, 107, 255);
    case EventKind::kPreemptSwap:
      return IM_COL32(247, 131, 172, 255);
    case EventKind::kSwapIn:
      return IM_COL32(116, 192, 252, 255);
    case EventKind::kFree:
      return IM_COL32(134, 150, 175, 255);
    case EventKind::kFinish:
      return IM_COL32(105, 219, 124, 255);
    case EventKind::kReject:
      return IM_COL32(224, 49, 49, 255);
  }
  return IM_COL32(200, 200, 200, 255);
}

ImU32 mix(ImU32 a, ImU32 b, float t) {
  auto ch = [&](int shift) {
    const float x = static_cast<float>((a >> shift) & 0xFF);
    const float y = static_cast<float>((b >> shift) & 0xFF);
    return static_cast<ImU32>(x + (y - x) * t + 0.5f) << shift;
  };
  return ch(IM_COL32_R_SHIFT) | ch(IM_COL32_G_SHIFT) | ch(IM_COL32_B_SHIFT) | ch(IM_COL32_A_SHIFT);
}

ImVec4 vec(ImU32 c) {
  return ImGui::ColorConvertU32ToFloat4(c);
}

}  // namespace tinyserve::app::theme
