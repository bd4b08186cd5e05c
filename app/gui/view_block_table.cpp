// The block table inspector: the shown sequence's logical blocks and the physical blocks they map
// to, with sharing, the last block's fill and copy-on-write copies as they happen.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

const char* queue_name(QueueKind q) {
  switch (q) {
    case QueueKind::kRunning:
      return "running";
    case QueueKind::kWaiting:
      return "waiting";
    case QueueKind::kSwapped:
      return "swapped";
  }
  return "?";
}

void chip(const char* text, ImU32 colour) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 size = ImGui::CalcTextSize(text);
  const ImVec2 p = ImGui::GetCursorScreenPos();
  dl->AddRectFilled(p, ImVec2(p.x + size.x + 12, p.y + size.y + 2),
                    theme::mix(colour, theme::kPanel, 0.7f), 8.0f);
  dl->AddText(ImVec2(p.x + 6, p.y + 1), colour, text);
  ImGui::Dummy(ImVec2(size.x + 12, size.y + 2));
}

}  // namespace

void draw_block_table(Gui& gui, const ImRect& r) {
  if (!begin_panel("Block table", r) || !gui.session.has_run()) {
    ImGui::End();
    return;
  }
  Run& run = gui.session.run();
  const Snapshot& snap = run.snapshot();
  const SeqId id = shown_sequence(snap, gui.view);
  const SeqView* s = id == kNoSeq ? nullptr : snap.find(id);
  if (s == nullptr) {
    if (id != kNoSeq) {
      ImGui::TextDisabled("Sequence %d has finished or left the queues.", id);
      if (ImGui::Button("Follow the oldest running sequence")) gui.view.selected = kNoSeq;
    } else {
      ImGui::TextDisabled("No running sequence. Click a block in the pool map or a row in Queues.");
    }
    ImGui::End();
    return;
  }

  // Header.
  ImGui::PushFont(theme::fonts().heading);
  ImGui::TextColored(theme::vec(theme::seq_color(s->id)), "seq %d", s->id);
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::TextColored(theme::vec(theme::kTextDim), "request %" PRId64, s->request);
  ImGui::SameLine();
  chip(queue_name(s->queue), s->queue == QueueKind::kRunning ? theme::kGood
                             : s->queue == QueueKind::kWaiting
                                 ? theme::metric_color(Metric::kWaiting)
                                 : theme::metric_color(Metric::kSwapped));
  if (s->in_prefill) {
    ImGui::SameLine();
    chip("prefill", theme::kAccent);
  }
  if (s->tier == Tier::kCpu) {
    ImGui::SameLine();
    chip("on CPU", theme::metric_color(Metric::kSwapped));
  }
  if (gui.view.selected == kNoSeq) {
    ImGui::SameLine();
    ImGui::TextDisabled("(following)");
    help_marker(
        "No sequence is selected, so this follows the oldest running one. Click a block "
        "in the pool map or a row in Queues to pick one.");
  } else {
    ImGui::SameLine();
    if (ImGui::SmallButton("follow oldest")) gui.view.selected = kNoSeq;
  }

  const int32_t bs = std::max(snap.block_size, 1);
  const int32_t n = s->table_size;
  const int32_t generated = s->tokens - s->prompt_len;
  const int32_t last_fill = n > 0 ? s->table_tokens - (n - 1) * bs : 0;
  ImGui::PushFont(theme::fonts().mono);
  ImGui::Text("%d tokens = %d prompt + %d of %d generated", s->tokens, s->prompt_len,
              std::max(generated, 0), s->output_len);
  ImGui::Text("%d blocks   last block %d/%d   age %.2f s   preempted %dx", n, last_fill, bs,
              snap.time_s - s->arrival, s->preemptions);
  ImGui::PopFont();

  // Copy-on-write: this step's copies into this table, and the sequence's recent ones.
  std::span<const BlockId> table = snap.table(*s);
  int copies_now = 0;
  for (const BlockCopy& c : snap.last_copies) {
    if (std::find(table.begin(), table.end(), c.dst) != table.end()) {
      ImGui::TextColored(theme::vec(theme::kWarn), "copy-on-write this step: block %d -> %d", c.src,
                         c.dst);
      ++copies_now;
    }
  }
  if (copies_now == 0) {
    int64_t last_step = -1;
    int64_t src = 0, dst = 0, count = 0;
    for (const Event& e : snap.recent_events) {
      if (e.kind == EventKind::kCopyOnWrite && e.seq == s->id) {
        last_step = e.step;
        src = e.a;
        dst = e.b;
        ++count;
      }
    }
    if (last_step >= 0) {
      ImGui::TextColored(theme::vec(theme::kTextDim),
                         "%" PRId64 " copy-on-write (last: step %" PRId64 ", block %" PRId64
                         " -> %" PRId64 ")",
                         count, last_step, src, dst);
    }
  }

  // The table: logical index above, physical block below, one cell per block.
  ImGui::BeginChild("table", ImVec2(0, 0), false);
  const float cell_w = 62, cell_h = 36, gap = 4;
  const int per_row =
      std::max(1, static_cast<int>((ImGui::GetContentRegionAvail().x + gap) / (cell_w + gap)));
  const int rows = (n + per_row - 1) / per_row;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const bool gpu = s->tier == Tier::kGpu;
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(0, 0));
  ImGuiListClipper clipper;
  clipper.Begin(rows, cell_h + gap);
  ImGui::PushFont(theme::fonts().mono);
  while (clipper.Step()) {
    for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
      const ImVec2 origin = ImGui::GetCursorScreenPos();
      for (int k = 0; k < per_row; ++k) {
        const int i = row * per_row + k;
        if (i >= n) break;
        const BlockId b = table[static_cast<size_t>(i)];
        const ImVec2 a(origin.x + static_cast<float>(k) * (cell_w + gap), origin.y);
        const ImVec2 z(a.x + cell_w, a.y + cell_h);
        const BlockView* v = gpu && b >= 0 && static_cast<size_t>(b) < snap.blocks.size()
                                 ? &snap.blocks[static_cast<size_t>(b)]
                                 : nullptr;
        const bool shared = v != nullptr && v->ref_count > 1;
        const int32_t fill = i == n - 1 ? last_fill : bs;
        const ImU32 colour =
            theme::seq_color(v != nullptr && v->owner != kNoSeq ? v->owner : s->id);
        dl->AddRectFilled(a, z, theme::mix(colour, theme::kPanel, 0.78f), 3.0f);
        const float fw = cell_w * static_cast<float>(fill) / static_cast<float>(bs);
        dl->AddRectFilled(ImVec2(a.x, z.y - 4), ImVec2(a.x + fw, z.y), colour, 2.0f);
        bool copied = false;
        for (const BlockCopy& c : snap.last_copies) copied = copied || c.dst == b;
        if (copied) {
          dl->AddRect(a, z, theme::kWarn, 3.0f, 0, 2.0f);
        } else if (shared) {
          dl->AddRect(a, z, IM_COL32(255, 255, 255, 150), 3.0f, 0, 1.0f);
        }
        char text[32];
        std::snprintf(text, sizeof text, "L%d", i);
        dl->AddText(ImVec2(a.x + 4, a.y + 2), theme::kTextDim, text);
        if (shared) {
          std::snprintf(text, sizeof text, "x%d", v->ref_count);
          const float w = ImGui::CalcTextSize(text).x;
          dl->AddText(ImVec2(z.x - w - 4, a.y + 2), IM_COL32_WHITE, text);
        }
        std::snprintf(text, sizeof text, "%s%d", gpu ? "" : "c", b);
        dl->AddText(ImVec2(a.x + 4, a.y + 16), theme::kText, text);
        if (ImGui::IsMouseHoveringRect(a, z) && ImGui::IsWindowHovered()) {
          ImGui::BeginTooltip();
          ImGui::Text("logical block %d -> %s block %d", i, gpu ? "GPU" : "CPU", b);
          ImGui::Text("tokens %d..%d (%d/%d slots)", i * bs, i * bs + fill - 1, fill, bs);
          if (v != nullptr) ImGui::Text("ref count %d%s", v->ref_count, shared ? " (shared)" : "");
          if (copied) ImGui::TextColored(theme::vec(theme::kWarn), "copied on write this step");
          ImGui::EndTooltip();
        }
      }
      ImGui::Dummy(ImVec2(1, cell_h + gap));
    }
  }
  ImGui::PopFont();
  ImGui::PopStyleVar();
  ImGui::EndChild();
  ImGui::End();
}

}  // namespace tinyserve::app
