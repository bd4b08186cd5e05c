// The event log: the engine's recent decisions, filterable by kind and request.
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

constexpr uint32_t kNotable =
    (1u << static_cast<int>(EventKind::kPrefixHit)) | (1u << static_cast<int>(EventKind::kFork)) |
    (1u << static_cast<int>(EventKind::kCopyOnWrite)) |
    (1u << static_cast<int>(EventKind::kEvict)) |
    (1u << static_cast<int>(EventKind::kPreemptRecompute)) |
    (1u << static_cast<int>(EventKind::kPreemptSwap)) |
    (1u << static_cast<int>(EventKind::kSwapIn)) | (1u << static_cast<int>(EventKind::kReject));

void describe(const Event& e, char* out, size_t size) {
  const auto a = static_cast<long long>(e.a), b = static_cast<long long>(e.b);
  switch (e.kind) {
    case EventKind::kArrive:
      std::snprintf(out, size, "prompt %lld, output %lld", a, b);
      break;
    case EventKind::kAdmit:
      std::snprintf(out, size, "%lld blocks for %lld prompt tokens", a, b);
      break;
    case EventKind::kPrefixHit:
      std::snprintf(out, size, "%lld prompt tokens cached", a);
      break;
    case EventKind::kFork:
      std::snprintf(out, size, "from seq %lld", a);
      break;
    case EventKind::kCopyOnWrite:
      std::snprintf(out, size, "block %lld -> %lld", a, b);
      break;
    case EventKind::kEvict:
      std::snprintf(out, size, "%lld cached blocks (first %lld)", a, b);
      break;
    case EventKind::kPreemptRecompute:
      std::snprintf(out, size, "%lld tokens to recompute", a);
      break;
    case EventKind::kPreemptSwap:
      std::snprintf(out, size, "%lld blocks to CPU", a);
      break;
    case EventKind::kSwapIn:
      std::snprintf(out, size, "%lld blocks back to GPU", a);
      break;
    case EventKind::kFree:
      std::snprintf(out, size, "%lld blocks released", a);
      break;
    case EventKind::kFinish:
      std::snprintf(out, size, "%lld tokens generated", a);
      break;
    case EventKind::kReject:
      std::snprintf(out, size, "needs %lld tokens", a);
      break;
  }
}

bool kind_chip(EventKind kind, bool on, int64_t count) {
  const std::string_view name = to_string(kind);
  const ImU32 colour = theme::event_color(kind);
  char label[48];
  std::snprintf(label, sizeof label, "%.*s", static_cast<int>(name.size()), name.data());
  ImGui::PushStyleColor(ImGuiCol_Button,
                        on ? theme::mix(colour, theme::kPanel, 0.72f) : theme::kPanel);
  ImGui::PushStyleColor(ImGuiCol_ButtonHovered, theme::mix(colour, theme::kPanel, 0.55f));
  ImGui::PushStyleColor(ImGuiCol_ButtonActive, theme::mix(colour, theme::kPanel, 0.4f));
  ImGui::PushStyleColor(ImGuiCol_Text, on ? colour : theme::kTextDim);
  ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(5, 1));
  const bool clicked = ImGui::Button(label);
  ImGui::PopStyleVar();
  ImGui::PopStyleColor(4);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("%lld in the log; click to %s", static_cast<long long>(count),
                      on ? "hide" : "show");
  return clicked;
}

}  // namespace

void draw_events(Gui& gui, const ImRect& r) {
  if (!begin_panel("Event log", r) || !gui.session.has_run()) {
    ImGui::End();
    return;
  }
  ViewState& v = gui.view;
  const Snapshot& snap = gui.session.run().snapshot();
  const std::vector<Event>& events = snap.recent_events;

  int64_t counts[kNumEventKinds] = {};
  for (const Event& e : events) ++counts[static_cast<int>(e.kind)];

  // Filters.
  const float right = ImGui::GetWindowContentRegionMax().x;
  for (int k = 0; k < kNumEventKinds; ++k) {
    const auto kind = static_cast<EventKind>(k);
    const std::string_view name = to_string(kind);
    const float w = ImGui::CalcTextSize(name.data(), name.data() + name.size()).x + 10;
    if (k > 0) {
      ImGui::SameLine(0, 4);
      if (ImGui::GetCursorPosX() + w > right) ImGui::NewLine();
    }
    if (kind_chip(kind, (v.event_kinds >> k) & 1u, counts[k])) v.event_kinds ^= 1u << k;
  }
  if (ImGui::SmallButton("all")) v.event_kinds = (1u << kNumEventKinds) - 1;
  ImGui::SameLine();
  if (ImGui::SmallButton("notable")) v.event_kinds = kNotable;
  ImGui::SameLine();
  ImGui::SetNextItemWidth(110);
  char request[24] = "";
  if (v.event_request >= 0) std::snprintf(request, sizeof request, "%" PRId64, v.event_request);
  if (ImGui::InputTextWithHint("##request", "any request", request, sizeof request,
                               ImGuiInputTextFlags_CharsDecimal)) {
    int64_t parsed = -1;
    v.event_request = parse_number(std::string_view(request), parsed) ? parsed : -1;
  }
  ImGui::SameLine();
  if (const SeqView* s = snap.find(shown_sequence(snap, v));
      s != nullptr && ImGui::SmallButton("shown seq's")) {
    v.event_request = s->request;
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Only the request of the sequence the block table shows");
  ImGui::SameLine();
  if (ImGui::SmallButton("any")) v.event_request = -1;
  ImGui::SameLine();
  ImGui::Checkbox("follow", &v.event_follow);

  std::vector<uint32_t> rows;
  rows.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!((v.event_kinds >> static_cast<int>(e.kind)) & 1u)) continue;
    if (v.event_request >= 0 && e.request != v.event_request) continue;
    rows.push_back(static_cast<uint32_t>(i));
  }

  constexpr ImGuiTableFlags kFlags = ImGuiTableFlags_ScrollY | ImGuiTableFlags_RowBg |
                                     ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit;
  if (ImGui::BeginTable("events", 5, kFlags)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("step");
    ImGui::TableSetupColumn("kind");
    ImGui::TableSetupColumn("req");
    ImGui::TableSetupColumn("seq");
    ImGui::TableSetupColumn("detail", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGui::PushFont(theme::fonts().mono);
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(rows.size()));
    while (clipper.Step()) {
      for (int row = clipper.DisplayStart; row < clipper.DisplayEnd; ++row) {
        const Event& e = events[rows[static_cast<size_t>(row)]];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::Text("%" PRId64, e.step);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("t = %.3f s", e.time);
        ImGui::TableNextColumn();
        const std::string_view name = to_string(e.kind);
        ImGui::TextColored(theme::vec(theme::event_color(e.kind)), "%.*s",
                           static_cast<int>(name.size()), name.data());
        ImGui::TableNextColumn();
        if (e.request >= 0) {
          ImGui::Text("%" PRId64, e.request);
        } else {
          ImGui::TextDisabled("-");
        }
        ImGui::TableNextColumn();
        if (e.seq != kNoSeq) {
          char label[24];
          std::snprintf(label, sizeof label, "%d##%d", e.seq, row);
          ImGui::PushStyleColor(ImGuiCol_Text, theme::seq_color(e.seq));
          if (ImGui::Selectable(label, false)) v.selected = e.seq;
          ImGui::PopStyleColor();
        } else {
          ImGui::TextDisabled("-");
        }
        ImGui::TableNextColumn();
        char detail[96];
        describe(e, detail, sizeof detail);
        const bool cut = ImGui::CalcTextSize(detail).x > ImGui::GetContentRegionAvail().x;
        ImGui::TextUnformatted(detail);
        if (cut && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", detail);
      }
    }
    ImGui::PopFont();
    if (v.event_follow && !ImGui::IsWindowHovered()) ImGui::SetScrollHereY(1.0f);
    ImGui::EndTable();
  }
  ImGui::End();
}

}  // namespace tinyserve::app
