// The physical pool map: every block of the GPU pool as a cell of one texture.
#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

const char* state_name(const BlockView& v) {
  switch (v.state) {
    case BlockState::kFree:
      return "free";
    case BlockState::kCached:
      return "cached (free, reusable by a prefix hit)";
    case BlockState::kUsed:
      return v.ref_count > 1 ? "used, shared" : "used";
  }
  return "?";
}

void block_tooltip(const Snapshot& snap, BlockId b) {
  const BlockView& v = snap.blocks[static_cast<size_t>(b)];
  ImGui::BeginTooltip();
  ImGui::PushFont(theme::fonts().heading);
  ImGui::Text("Block %d", b);
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::TextColored(theme::vec(theme::kTextDim), "%s", state_name(v));
  ImGui::PushFont(theme::fonts().mono);
  if (v.state == BlockState::kUsed) {
    ImGui::Text("ref count %d   filled %d / %d slots", v.ref_count, v.fill, snap.block_size);
    int shown = 0, total = 0;
    std::string owners;
    for (const SeqView& s : snap.seqs) {
      for (BlockId x : snap.table(s)) {
        if (x != b) continue;
        ++total;
        if (shown < 8) {
          char text[64];
          std::snprintf(text, sizeof text, "%sseq %d (req %" PRId64 ")", shown ? ", " : "", s.id,
                        s.request);
          owners += text;
          ++shown;
        }
        break;
      }
    }
    if (total > shown) owners += ", ... " + std::to_string(total - shown) + " more";
    if (total == 0 && v.owner != kNoSeq) owners = "seq " + std::to_string(v.owner);
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 28.0f);
    ImGui::Text("owners: %s", owners.c_str());
    ImGui::PopTextWrapPos();
  }
  if (v.hash != kNoHash) ImGui::Text("hash %016" PRIx64, static_cast<uint64_t>(v.hash));
  for (const BlockCopy& c : snap.last_copies) {
    if (c.dst == b)
      ImGui::TextColored(theme::vec(theme::kWarn), "copied from block %d this step", c.src);
    if (c.src == b)
      ImGui::TextColored(theme::vec(theme::kWarn), "copied to block %d this step", c.dst);
  }
  ImGui::PopFont();
  if (v.owner != kNoSeq) ImGui::TextDisabled("click: inspect seq %d", v.owner);
  ImGui::EndTooltip();
}

// A cell of an aggregated map: its blocks and how many are in use.
void usage_tooltip(const Snapshot& snap, const PoolLayout& l, int64_t cell) {
  const BlockId first = l.first_block(cell), end = l.end_block(cell);
  const auto n = static_cast<uint32_t>(count_used(snap.available_bits, first, end));
  ImGui::BeginTooltip();
  ImGui::PushFont(theme::fonts().heading);
  ImGui::Text("Blocks %d - %d", first, end - 1);
  ImGui::PopFont();
  ImGui::PushFont(theme::fonts().mono);
  ImGui::Text("%u of %d used (%.1f%%)", n, end - first,
              100.0 * n / std::max<int32_t>(end - first, 1));
  ImGui::PopFont();
  ImGui::TextDisabled("one pixel: %lld blocks (more than the map has pixels)",
                      static_cast<long long>(l.blocks_per_cell));
  ImGui::EndTooltip();
}

// One legend entry, on the current line when it fits, else on the next.
void legend_swatch(bool first, ImU32 colour, const char* label, bool corner = false,
                   bool hatch = false) {
  const float s = ImGui::GetTextLineHeight() - 4;
  const float w = s + 4 + ImGui::CalcTextSize(label).x;
  if (!first) {
    ImGui::SameLine(0, 14);
    if (ImGui::GetCursorPosX() + w > ImGui::GetWindowContentRegionMax().x) ImGui::NewLine();
  }
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const ImVec2 a(p.x, p.y + 2), b(p.x + s, p.y + 2 + s);
  dl->AddRectFilled(a, b, colour);
  if (hatch) {
    dl->PushClipRect(a, b, true);
    for (float x = a.x - s; x < b.x; x += 4) {
      dl->AddLine(ImVec2(x, b.y), ImVec2(x + s, a.y), IM_COL32(110, 145, 185, 255));
    }
    dl->PopClipRect();
  }
  if (corner) {
    dl->AddTriangleFilled(ImVec2(b.x - s * 0.45f, a.y), ImVec2(b.x, a.y),
                          ImVec2(b.x, a.y + s * 0.45f), IM_COL32_WHITE);
  }
  ImGui::Dummy(ImVec2(s, s));
  ImGui::SameLine(0, 4);
  ImGui::TextColored(theme::vec(theme::kTextDim), "%s", label);
}

}  // namespace

void pool_map_widget(Gui& gui, Run& run, PoolTexture& texture, ImVec2 size) {
  const Snapshot& snap = run.snapshot();
  const SeqId shown = shown_sequence(snap, gui.view);
  const PoolLayout l = layout_pool(snap.stats.num_blocks, size.x, size.y);
  if (l.columns == 0) {
    ImGui::TextDisabled("(no GPU blocks)");
    return;
  }
  texture.update(snap, run.version(), l, shown);

  const ImVec2 cursor = ImGui::GetCursorScreenPos();
  const ImVec2 p(cursor.x + std::floor((size.x - l.width) * 0.5f), cursor.y);
  ImGui::SetCursorScreenPos(p);
  ImGui::InvisibleButton("pool", ImVec2(l.width, l.height));
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddImage(texture.id(), p, ImVec2(p.x + l.width, p.y + l.height));

  // Copy-on-write copies of the last step: an arrow from source to destination.
  const float half = l.cell * 0.5f;
  int drawn = 0;
  for (const BlockCopy& c : snap.last_copies) {
    if (c.src < 0 || c.dst < 0 || c.src >= l.num_blocks || c.dst >= l.num_blocks || ++drawn > 64)
      continue;
    const int64_t a = l.cell_of(c.src), b = l.cell_of(c.dst);
    const ImVec2 pa(p.x + l.cell_x(a) + half, p.y + l.cell_y(a) + half);
    const ImVec2 pb(p.x + l.cell_x(b) + half, p.y + l.cell_y(b) + half);
    dl->AddLine(pa, pb, theme::kWarn, 1.5f);
    dl->AddCircleFilled(pb, std::max(2.0f, half * 0.6f), theme::kWarn);
  }

  if (ImGui::IsItemHovered()) {
    const ImVec2 m = ImGui::GetIO().MousePos;
    const int64_t c = l.cell_at(m.x - p.x, m.y - p.y);
    if (c >= 0) {
      const ImVec2 corner(p.x + l.cell_x(c), p.y + l.cell_y(c));
      const float s = std::max(l.cell, 3.0f);
      dl->AddRect(ImVec2(corner.x - 1, corner.y - 1), ImVec2(corner.x + s, corner.y + s),
                  IM_COL32_WHITE, 0, 0, 1.5f);
      if (l.aggregated() || !snap.has_block_views()) {
        usage_tooltip(snap, l, c);
      } else {
        const BlockId b = l.first_block(c);
        block_tooltip(snap, b);
        if (ImGui::IsItemClicked(ImGuiMouseButton_Left))
          gui.view.selected = snap.blocks[static_cast<size_t>(b)].owner;
      }
    }
  }
}

void draw_pool_map(Gui& gui, const ImRect& r) {
  if (begin_panel("Physical pool map", r) && gui.session.has_run()) {
    Run& run = gui.session.run();
    const Snapshot& snap = run.snapshot();
    const PoolStats& st = snap.stats;
    const int32_t free_blocks = st.num_blocks - st.used_blocks - st.cached_blocks;
    // First line: the counts (shorter when the panel is narrow; the whole on hover) and the
    // compare picker.
    std::string cpu;
    // The CPU pool matters once something is swapped out.
    if (st.cpu_num_blocks > 0 &&
        (st.cpu_used_blocks > 0 ||
         run.engine().config().scheduler.preemption == PreemptionMode::kSwap)) {
      cpu = cat("   CPU ", st.cpu_used_blocks, " / ", st.cpu_num_blocks);
    }
    const double used_pct = st.num_blocks ? 100.0 * st.used_blocks / st.num_blocks : 0.0;
    char used[32];
    std::snprintf(used, sizeof used, "%.1f%%", used_pct);
    const std::string counts[] = {
        cat(st.num_blocks, " blocks x ", st.block_size, " slots   used ", st.used_blocks, " (",
            used, ")   cached ", st.cached_blocks, "   free ", free_blocks, cpu),
        cat(st.num_blocks, " x ", st.block_size, "  used ", st.used_blocks, " (", used,
            ")  cached ", st.cached_blocks, "  free ", free_blocks, cpu),
        cat(st.num_blocks, " x ", st.block_size, "  used ", used, "  cached ", st.cached_blocks,
            "  free ", free_blocks, cpu),
        cat("used ", used, "  cached ", st.cached_blocks, cpu), cat("used ", used)};
    const float room = std::max(0.0f, ImGui::GetContentRegionAvail().x - compare_picker_width() -
                                          2 * ImGui::GetStyle().ItemSpacing.x);
    ImGui::AlignTextToFramePadding();
    ImGui::PushFont(theme::fonts().mono);
    size_t shown = 0;
    while (shown + 1 < std::size(counts) && ImGui::CalcTextSize(counts[shown].c_str()).x > room)
      ++shown;
    ImGui::TextUnformatted(elided(counts[shown], room).c_str());
    if (ImGui::IsItemHovered()) {
      ImGui::SetTooltip("%s\n%lld tokens stored in %d used blocks (shared blocks counted once)",
                        counts[0].c_str(), static_cast<long long>(st.stored_tokens),
                        st.used_blocks);
    }
    ImGui::PopFont();
    compare_picker(gui);
    // Second line (and more when narrow): the legend, of blocks or, when they outnumber the
    // map's pixels, of pixels shaded by the share of their blocks in use.
    const ImVec2 area = ImGui::GetContentRegionAvail();
    const PoolLayout probe =
        layout_pool(st.num_blocks, area.x, area.y - ImGui::GetFrameHeightWithSpacing());
    if (probe.aggregated() || !snap.has_block_views()) {
      legend_swatch(true, theme::kBlockFree, "free");
      legend_swatch(false, theme::mix(theme::kBlockFree, theme::kBlockUsed, 0.5f), "partly used");
      legend_swatch(false, theme::kBlockUsed, "used");
      const std::string per_pixel = cat("1 pixel = ", probe.blocks_per_cell, " blocks");
      ImGui::SameLine(0, 14);
      if (ImGui::GetCursorPosX() + ImGui::CalcTextSize(per_pixel.c_str()).x >
          ImGui::GetWindowContentRegionMax().x)
        ImGui::NewLine();
      ImGui::TextColored(theme::vec(theme::kTextDim), "%s", per_pixel.c_str());
    } else {
      legend_swatch(true, theme::seq_color(3), "sequence");
      legend_swatch(false, theme::mix(theme::seq_color(3), theme::kBlockFree, 0.72f),
                    "empty slots");
      legend_swatch(false, theme::seq_color(5), "shared", true);
      legend_swatch(false, theme::kBlockCached, "cached", false, true);
      legend_swatch(false, theme::kBlockFree, "free");
      legend_swatch(false, theme::kWarn, "CoW");
    }
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    pool_map_widget(gui, run, gui.pool_map, ImVec2(avail.x, avail.y - 2));
  }
  ImGui::End();
}

}  // namespace tinyserve::app
