// Kernel latency: attention time per step (measured when a GPU backend runs it, else the cost
// model's, labelled as modelled), paged against contiguous when measured, the distribution over
// the visible steps, and the effective bandwidth.
#include <algorithm>
#include <array>
#include <cstdio>

#include "app/gui/plot.h"
#include "app/gui/theme.h"
#include "app/gui/views.h"

namespace tinyserve::app {

namespace {

constexpr int kBins = 48;
constexpr size_t kMaxSamples = 8192;

struct Histogram {
  std::array<int64_t, kBins> counts{};
  double max = 0;  // upper edge of the last bin
  int64_t total = 0;
  double quantile(double q) const {
    const auto target = static_cast<int64_t>(q * static_cast<double>(total));
    int64_t seen = 0;
    for (int i = 0; i < kBins; ++i) {
      seen += counts[static_cast<size_t>(i)];
      if (seen > target) return max * (i + 0.5) / kBins;
    }
    return max;
  }
};

// Over long ranges every stride-th value: the cost stays bounded, the shape the same.
Histogram histogram(std::span<const float> values, double hi) {
  Histogram h;
  h.max = hi > 0 ? hi : 1;
  const size_t stride = std::max<size_t>(1, (values.size() + kMaxSamples - 1) / kMaxSamples);
  for (size_t i = 0; i < values.size(); i += stride) {
    const float v = values[i];
    if (v < 0) continue;
    const int bin = std::min(kBins - 1, static_cast<int>(v / h.max * kBins));
    ++h.counts[static_cast<size_t>(bin)];
    ++h.total;
  }
  return h;
}

void draw_histogram(const Histogram& h, const Histogram* other, ImVec2 size, ImU32 colour,
                    ImU32 other_colour) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float line = ImGui::GetTextLineHeight();
  const ImRect area(ImVec2(p.x + 4, p.y), ImVec2(p.x + size.x - 4, p.y + size.y - line - 2));
  ImGui::InvisibleButton("histogram", size);
  dl->AddRectFilled(area.Min, area.Max, theme::kPlotBackground);
  int64_t peak = 1;
  for (int64_t c : h.counts) peak = std::max(peak, c);
  if (other) {
    for (int64_t c : other->counts) peak = std::max(peak, c);
  }
  const float bw = area.GetWidth() / kBins;
  auto bar_top = [&](int64_t c) {
    return area.Max.y - area.GetHeight() * static_cast<float>(c) / static_cast<float>(peak);
  };
  for (int i = 0; i < kBins; ++i) {
    const float x = area.Min.x + static_cast<float>(i) * bw;
    const int64_t c = h.counts[static_cast<size_t>(i)];
    if (c > 0)
      dl->AddRectFilled(ImVec2(x + 0.5f, bar_top(c)), ImVec2(x + bw - 0.5f, area.Max.y), colour);
    if (other != nullptr && other->counts[static_cast<size_t>(i)] > 0) {
      dl->AddRect(ImVec2(x + 0.5f, bar_top(other->counts[static_cast<size_t>(i)])),
                  ImVec2(x + bw - 0.5f, area.Max.y), other_colour);
    }
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.3g ms", h.max);
  const float w = ImGui::CalcTextSize(text).x;
  dl->AddText(ImVec2(area.Min.x, area.Max.y + 1), theme::kAxisText, "0");
  dl->AddText(ImVec2(area.Max.x - w, area.Max.y + 1), theme::kAxisText, text);
  dl->AddText(ImVec2(area.Min.x + area.GetWidth() * 0.5f - 40, area.Max.y + 1), theme::kAxisText,
              "ms per step");
  if (ImGui::IsItemHovered()) {
    const int bin =
        std::clamp(static_cast<int>((ImGui::GetIO().MousePos.x - area.Min.x) / bw), 0, kBins - 1);
    ImGui::SetTooltip("%.4g - %.4g ms: %lld steps", h.max * bin / kBins, h.max * (bin + 1) / kBins,
                      static_cast<long long>(h.counts[static_cast<size_t>(bin)]));
  }
}

}  // namespace

void draw_kernel(Gui& gui, const ImRect& r) {
  if (!begin_panel("Kernel latency", r, ImGuiWindowFlags_NoScrollWithMouse) ||
      !gui.session.has_run()) {
    ImGui::End();
    return;
  }
  Run& run = gui.session.run();
  const Snapshot& snap = run.snapshot();
  const RunColumns& c = run.columns();
  ViewState& v = gui.view;
  const bool measured = c.measured();
  const bool contiguous = c.contiguous_measured();
  const Metric paged_metric = measured ? Metric::kAttentionMs : Metric::kModelledAttentionMs;

  if (measured) {
    ImGui::TextColored(theme::vec(theme::kGood), "measured");
    ImGui::SameLine();
    ImGui::TextDisabled("by the %s backend: %s", snap.backend.c_str(),
                        snap.backend_description.c_str());
  } else {
    ImGui::TextColored(theme::vec(theme::kWarn), "modelled");
    ImGui::SameLine();
    ImGui::TextDisabled("roofline cost model (no GPU backend ran)");
    help_marker(
        "The attention time of each step is the cost model's: the K/V bytes the batch reads "
        "over the GPU preset's bandwidth times its efficiency. With the CUDA backend the "
        "real paged kernel is timed instead, along with a contiguous-layout baseline.");
  }

  const std::vector<double>& xs = axis_of(c, v);
  std::vector<PlotSeries> series;
  PlotSeries paged;
  paged.label = "paged";
  paged.metric = paged_metric;
  paged.values = &c[paged_metric];
  paged.x = &xs;
  paged.color = theme::metric_color(Metric::kAttentionMs);
  paged.fill = true;
  series.push_back(paged);
  if (contiguous) {
    PlotSeries s = paged;
    s.label = "contiguous";
    s.metric = Metric::kContiguousAttentionMs;
    s.values = &c[Metric::kContiguousAttentionMs];
    s.color = theme::metric_color(Metric::kContiguousAttentionMs);
    s.fill = false;
    series.push_back(s);
  }
  PlotSpec spec;
  spec.title = "Attention per step";
  spec.unit = " ms";
  spec.decimals = 3;
  const float avail = ImGui::GetContentRegionAvail().y;
  spec.height = std::max(80.0f, avail * 0.48f);
  plot("attention", series, spec, v);

  // Distribution and bandwidth over the visible steps.
  const size_t n = std::min(xs.size(), c[paged_metric].size());
  const auto b = static_cast<size_t>(
      std::lower_bound(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(n), v.axis_min) -
      xs.begin());
  const auto e = static_cast<size_t>(
      std::upper_bound(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(n), v.axis_max) -
      xs.begin());
  const std::span<const float> visible = c[paged_metric].values().subspan(b, e > b ? e - b : 0);
  double hi = c[paged_metric].range(b, e).max;
  std::span<const float> visible_contiguous;
  if (contiguous) {
    visible_contiguous = c[Metric::kContiguousAttentionMs].values().subspan(b, e > b ? e - b : 0);
    hi = std::max(hi, static_cast<double>(c[Metric::kContiguousAttentionMs].range(b, e).max));
  }
  hi = nice_step(hi / 4) * 4;
  const Histogram h = histogram(visible, hi);
  Histogram hc;
  if (contiguous) hc = histogram(visible_contiguous, hi);

  const float stats_w = 205;
  const float hist_h = ImGui::GetContentRegionAvail().y;
  ImGui::BeginGroup();
  draw_histogram(h, contiguous ? &hc : nullptr,
                 ImVec2(ImGui::GetContentRegionAvail().x - stats_w, hist_h),
                 theme::mix(theme::metric_color(paged_metric), theme::kPanel, 0.2f),
                 theme::metric_color(Metric::kContiguousAttentionMs));
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::PushFont(theme::fonts().mono);
  const AttentionSums sums = c.attention_sums(b, e);
  ImGui::TextDisabled("%lld visible steps", static_cast<long long>(sums.steps));
  const double mean =
      measured ? (sums.measured_steps ? sums.measured_ms / static_cast<double>(sums.measured_steps)
                                      : 0.0)
               : (sums.steps ? sums.modelled_ms / static_cast<double>(sums.steps) : 0.0);
  if (sums.steps > 0) {
    ImGui::Text("mean %8.4f ms", mean);
    ImGui::Text("p50  %8.4f ms", h.quantile(0.5));
    ImGui::Text("p99  %8.4f ms", h.quantile(0.99));
    if (contiguous && sums.contiguous_steps > 0) {
      ImGui::TextColored(theme::vec(theme::metric_color(Metric::kContiguousAttentionMs)),
                         "contig %6.4f ms",
                         sums.contiguous_ms / static_cast<double>(sums.contiguous_steps));
    }
  }
  // K/V bytes read by attention, recovered from the modelled time (bytes / bandwidth).
  const CostModel& cm = run.engine().config().cost;
  const double bandwidth = cm.mem_bandwidth * cm.mem_efficiency;
  const EngineConfig& ec = run.engine().config();
  const double layer_share = static_cast<double>(ec.geometry.num_layers) /
                             static_cast<double>(std::max(ec.geometry.model_layers, 1));
  double bytes = sums.modelled_ms * 1e-3 * bandwidth;
  double seconds = sums.modelled_ms * 1e-3;
  if (measured) {
    bytes = sums.modelled_ms_of_measured * 1e-3 * bandwidth * layer_share;
    seconds = sums.measured_ms * 1e-3;
  }
  if (seconds > 0) {
    ImGui::Text("%6.0f GB/s effective", bytes / seconds / 1e9);
  } else {
    ImGui::Text("     - GB/s effective");
  }
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip(
        "K/V bytes read by attention over the visible steps / their %s attention time.\n"
        "Peak of the %s: %.0f GB/s.%s",
        measured ? "measured" : "modelled", run.scenario().gpu.name.c_str(), cm.mem_bandwidth / 1e9,
        measured ? "" : "\nModelled, it is the cost model's bandwidth x efficiency by definition.");
  }
  ImGui::TextDisabled("peak %.0f GB/s", cm.mem_bandwidth / 1e9);
  ImGui::PopFont();
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace tinyserve::app
