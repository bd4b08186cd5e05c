// Queues: the waiting, running and swapped sequences with their lengths and ages.
#include <cinttypes>
#include <cstdio>

#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

void queue_table(Gui& gui, const Snapshot& snap, QueueKind queue) {
  // The snapshot lists running, then waiting, then swapped sequences.
  size_t begin = 0;
  while (begin < snap.seqs.size() && snap.seqs[begin].queue != queue) ++begin;
  size_t end = begin;
  while (end < snap.seqs.size() && snap.seqs[end].queue == queue) ++end;
  if (begin == end) {
    ImGui::TextDisabled("(empty)");
    return;
  }
  // Narrow panels scroll sideways rather than hide the last columns.
  constexpr ImGuiTableFlags kFlags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_ScrollX |
                                     ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                                     ImGuiTableFlags_SizingFixedFit;
  ImGui::PushStyleVar(ImGuiStyleVar_CellPadding, ImVec2(4, 1));
  const bool open = ImGui::BeginTable("queue", 6, kFlags);
  ImGui::PopStyleVar();
  if (!open) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("seq");
  ImGui::TableSetupColumn("req");
  ImGui::TableSetupColumn("tokens");
  ImGui::TableSetupColumn("out");
  ImGui::TableSetupColumn("blocks");
  ImGui::TableSetupColumn("age");
  ImGui::TableNextRow(ImGuiTableRowFlags_Headers);
  for (int column = 0; column < 6; ++column) {
    ImGui::TableSetColumnIndex(column);
    ImGui::TableHeader(ImGui::TableGetColumnName(column));
    if (column == 5 && ImGui::IsItemHovered()) {
      ImGui::SetTooltip(
          "Seconds since the request arrived; \"prefill\": its prompt is still being computed;\n"
          "\u21ba N: preempted N times (recomputed or swapped out).");
    }
  }
  ImGui::PushFont(theme::fonts().mono);
  const SeqId shown = shown_sequence(snap, gui.view);
  ImGuiListClipper clipper;
  clipper.Begin(static_cast<int>(end - begin));
  while (clipper.Step()) {
    for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
      const SeqView& s = snap.seqs[begin + static_cast<size_t>(row)];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      char label[32];
      std::snprintf(label, sizeof label, "%d", s.id);
      ImGui::PushStyleColor(ImGuiCol_Text, theme::seq_color(s.id));
      if (ImGui::Selectable(label, s.id == shown, ImGuiSelectableFlags_SpanAllColumns))
        gui.view.selected = s.id;
      ImGui::PopStyleColor();
      ImGui::TableNextColumn();
      ImGui::Text("%" PRId64, s.request);
      ImGui::TableNextColumn();
      ImGui::Text("%d", s.tokens);
      ImGui::TableNextColumn();
      ImGui::Text("%d/%d", std::max(s.tokens - s.prompt_len, 0), s.output_len);
      ImGui::TableNextColumn();
      ImGui::Text("%d", s.table_size);
      ImGui::TableNextColumn();
      char preempted[16] = "";
      if (s.preemptions > 0) std::snprintf(preempted, sizeof preempted, " \u21ba%d", s.preemptions);
      ImGui::Text("%.1fs%s%s", snap.time_s - s.arrival, s.in_prefill ? " prefill" : "", preempted);
      if (ImGui::IsItemHovered()) {
        ImGui::SetTooltip(
            "seq %d of request %" PRId64 ": %.2f s since arrival%s, preempted %d time%s", s.id,
            s.request, snap.time_s - s.arrival, s.in_prefill ? ", prompt still being computed" : "",
            s.preemptions, s.preemptions == 1 ? "" : "s");
      }
    }
  }
  ImGui::PopFont();
  ImGui::EndTable();
}

}  // namespace

void draw_queues(Gui& gui, const ImRect& r) {
  if (begin_panel("Queues", r) && gui.session.has_run()) {
    const Snapshot& snap = gui.session.run().snapshot();
    ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(6, 4));
    const bool tabs_open = ImGui::BeginTabBar("queues");
    ImGui::PopStyleVar();
    if (tabs_open) {
      const struct {
        const char* name;
        QueueKind queue;
        int32_t count;
      } tabs[] = {{"Running", QueueKind::kRunning, snap.num_running},
                  {"Waiting", QueueKind::kWaiting, snap.num_waiting},
                  {"Swapped", QueueKind::kSwapped, snap.num_swapped}};
      for (const auto& t : tabs) {
        char label[48];
        std::snprintf(label, sizeof label, "%s %d###%s", t.name, t.count, t.name);
        if (ImGui::BeginTabItem(label)) {
          queue_table(gui, snap, t.queue);
          ImGui::EndTabItem();
        }
      }
      ImGui::EndTabBar();
    }
  }
  ImGui::End();
}

}  // namespace tinyserve::app
