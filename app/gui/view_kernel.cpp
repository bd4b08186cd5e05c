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
  // Axis labels: 0 and the top of the range at the ends, the unit between them where it fits.
  char text[32];
  std::snprintf(text, sizeof text, "%.3g ms", h.max);
  const float w = ImGui::CalcTextSize(text).x;
  const float zero_w = ImGui::CalcTextSize("0").x;
  dl->AddText(ImVec2(area.Min.x, area.Max.y + 1), theme::kAxisText, "0");
  if (w + zero_w + 8 <= area.GetWidth())
    dl->AddText(ImVec2(area.Max.x - w, area.Max.y + 1), theme::kAxisText, text);
  const char* unit = "ms per step";
  const float unit_w = ImGui::CalcTextSize(unit).x;
  if (unit_w + 2 * std::max(w, zero_w) + 24 <= area.GetWidth()) {
    dl->AddText(ImVec2(area.GetCenter().x - unit_w * 0.5f, area.Max.y + 1), theme::kAxisText, unit);
  }
  if (ImGui::IsItemHovered()) {
    const int bin =
        std::clamp(static_cast<int>((ImGui::GetIO().MousePos.x - area.Min.x) / bw), 0, kBins - 1);
    ImGui::SetTooltip("%.4g - %.4g ms: %lld steps", h.max * bin / kBins, h.max * (bin + 1) / kBins,
                      static_cast<long long>(h.counts[static_cast<size_t>(bin)]));
  }
}

// The attention time of each step, named after the run's allocator; its two parts, the prefill
// chunks' attention and the decodes', as lines; and the contiguous-layout baseline when a GPU
// backend measured one.
std::vector<PlotSeries> attention_series(const Run& run, const std::vector<double>& xs) {
  const RunColumns& c = run.columns();
  const Metric metric = c.measured() ? Metric::kAttentionMs : Metric::kModelledAttentionMs;
  std::vector<PlotSeries> series;
  PlotSeries main;
  main.label = run.engine().config().paged() ? "paged" : "contiguous regions";
  main.metric = metric;
  main.values = &c[metric];
  main.x = &xs;
  main.color = theme::metric_color(Metric::kAttentionMs);
  main.fill = true;
  series.push_back(main);
  const bool measured = c.measured();
  for (const auto& [label, part] :
       {std::pair{"prefill",
                  measured ? Metric::kPrefillAttentionMs : Metric::kModelledPrefillAttentionMs},
        std::pair{"decode",
                  measured ? Metric::kDecodeAttentionMs : Metric::kModelledDecodeAttentionMs}}) {
    PlotSeries s = main;
    s.label = label;
    s.metric = part;
    s.values = &c[part];
    s.color = theme::metric_color(part);
    s.fill = false;
    series.push_back(s);
  }
  if (c.contiguous_measured()) {
    PlotSeries s = main;
    s.label = "contiguous baseline";
    s.metric = Metric::kContiguousAttentionMs;
    s.values = &c[Metric::kContiguousAttentionMs];
    s.color = theme::metric_color(Metric::kContiguousAttentionMs);
    s.fill = false;
    series.push_back(s);
  }
  return series;
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
    const CostModel& model = run.engine().config().cost;
    if (model.calibrated()) {
      ImGui::TextDisabled("calibrated cost model, %s profile (no GPU backend ran)",
                          model.profile->gpu.c_str());
    } else {
      ImGui::TextDisabled("roofline cost model (no GPU backend ran)");
    }
    help_marker(
        "The attention time of each step is the cost model's, its prefill chunks' and its "
        "decodes' apart: the K/V bytes (and, for prefill, the FLOPs) over the GPU preset's "
        "rates times their efficiencies, or a measured GPU profile's kernel times "
        "(cost.profile). With the CUDA backend the real paged kernels are timed instead, "
        "along with a contiguous-layout baseline.");
  }

  const std::vector<double>& xs = axis_of(c, v);
  const std::vector<PlotSeries> series = attention_series(run, xs);
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

  const AttentionSums sums = c.attention_sums(b, e);
  ImGui::PushFont(theme::fonts().mono);
  const float stats_w = ImGui::CalcTextSize("12345 visible steps").x + 12;
  const float line_h = ImGui::GetTextLineHeightWithSpacing();
  ImGui::PopFont();
  const float hist_h = ImGui::GetContentRegionAvail().y;
  // Short panels keep the figures and leave the step count and the peak to tooltips.
  const int lines = 4 + (contiguous ? 1 : 0);
  const bool roomy = hist_h >= static_cast<float>(lines + 2) * line_h;
  ImGui::BeginGroup();
  draw_histogram(h, contiguous ? &hc : nullptr,
                 ImVec2(std::max(ImGui::GetContentRegionAvail().x - stats_w, 40.0f), hist_h),
                 theme::mix(theme::metric_color(paged_metric), theme::kPanel, 0.2f),
                 theme::metric_color(Metric::kContiguousAttentionMs));
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  ImGui::PushFont(theme::fonts().mono);
  if (roomy) ImGui::TextDisabled("%lld visible steps", static_cast<long long>(sums.steps));
  const double mean =
      measured ? (sums.measured_steps ? sums.measured_ms / static_cast<double>(sums.measured_steps)
                                      : 0.0)
               : (sums.steps ? sums.modelled_ms / static_cast<double>(sums.steps) : 0.0);
  if (sums.steps > 0) {
    ImGui::Text("mean %8.4f ms", mean);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("over the %lld visible steps", static_cast<long long>(sums.steps));
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
  if (cm.calibrated()) {
    // The calibrated model times kernels, not bytes: no byte count to recover from its times.
    ImGui::TextDisabled("     - GB/s eff.");
  } else if (seconds > 0) {
    ImGui::Text("%6.0f GB/s eff.", bytes / seconds / 1e9);
  } else {
    ImGui::Text("     - GB/s eff.");
  }
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip(
        "Effective bandwidth: K/V bytes read by attention over the visible steps / their %s\n"
        "attention time.\n"
        "Peak of the %s: %.0f GB/s.%s",
        measured ? "measured" : "modelled", run.scenario().gpu.name.c_str(), cm.mem_bandwidth / 1e9,
        measured ? "" : "\nModelled, it is the cost model's bandwidth x efficiency by definition.");
  }
  if (roomy) ImGui::TextDisabled("peak %.0f GB/s", cm.mem_bandwidth / 1e9);
  if (ec.selection.enabled() && e > b) {
    // Query-aware selection: the decodes' reads against full attention's over the visible steps.
    double read = 0, full = 0;
    for (size_t i = b; i < e; ++i) {
      read += c[Metric::kDecodeBytesRead][i];
      full += c[Metric::kDecodeBytesFull][i];
    }
    if (full > 0) {
      ImGui::TextColored(theme::vec(theme::kGood), "sparse %5.1f%%", 100 * read / full);
      if (ImGui::IsItemHovered()) {
        ImGui::SetTooltip(
            "Query-aware selection is on (attention.selection): the decodes of the visible steps\n"
            "read %.4g GB (their selected blocks and every block's key bounds) where full\n"
            "attention reads %.4g GB. Prefill chunks attend in full.",
            read / 1e3, full / 1e3);
      }
    }
  }
  ImGui::PopFont();
  ImGui::EndGroup();
  ImGui::End();
}

}  // namespace tinyserve::app
