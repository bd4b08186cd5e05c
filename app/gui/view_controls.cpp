// Controls: the scenario browser, the transport (step, step N, play at a speed, run to end,
// reset), the key parameters (applied by resetting the run) and the compare setup.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/gui/theme.h"
#include "app/gui/views.h"
#include "core/base/errors.h"

namespace tinyserve::app {

namespace {

constexpr std::array<const char*, 2> kAllocators = {"paged", "contiguous"};
constexpr std::array<const char*, 3> kReservations = {"max-length", "power-of-two", "exact"};
constexpr std::array<const char*, 5> kFreeLists = {"lifo", "fifo", "lru", "best-fit", "random"};
constexpr std::array<const char*, 2> kPreemptions = {"recompute", "swap"};

template <size_t N>
int index_of(const std::array<const char*, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (name == names[i]) return static_cast<int>(i);
  }
  return 0;
}

template <size_t N>
bool combo(const char* label, int* index, const std::array<const char*, N>& names) {
  return ImGui::Combo(label, index, names.data(), static_cast<int>(N));
}

void list_scenarios_once(Gui& gui) {
  if (gui.scenarios_listed) return;
  gui.scenarios_listed = true;
  for (const std::string& path : list_scenarios(gui.session.executable_dir())) {
    ScenarioEntry e;
    e.path = path;
    e.name = std::filesystem::path(path).stem().string();
    try {
      const Scenario sc = load_scenario(path);
      e.name = sc.name;
      e.description = sc.description;
    } catch (const std::exception& ex) {
      e.description = std::string("invalid: ") + ex.what();
    }
    gui.scenarios.push_back(std::move(e));
  }
}

void load_params(ParamEdits& p, const Run& run, const std::string& path, uint64_t generation) {
  const Scenario& sc = run.scenario();
  const EngineConfig& e = sc.engine;
  const PagedOptions paged = options_or_default<PagedOptions>(e);
  const ContiguousOptions contiguous = options_or_default<ContiguousOptions>(e);
  p.generation = generation;
  p.block_size = e.geometry.block_size;
  p.num_gpu_blocks = e.geometry.num_gpu_blocks;
  p.gpu_memory_utilization = static_cast<float>(sc.gpu_memory_utilization);
  p.allocator = e.paged() ? 0 : 1;
  p.reservation = index_of(kReservations, to_string(contiguous.reservation));
  p.free_list = index_of(kFreeLists, to_string(paged.free_list));
  p.preemption = index_of(kPreemptions, to_string(e.scheduler.preemption));
  p.prefix_caching = paged.prefix_caching;
  p.max_num_seqs = e.scheduler.max_num_seqs;
  p.max_num_batched_tokens = e.scheduler.max_num_batched_tokens;
  p.arrival_rate = static_cast<float>(sc.workload.arrival.rate);
  p.time_scale = static_cast<float>(sc.trace.time_scale);
  p.seed = static_cast<int>(sc.seed);
  std::snprintf(p.path, sizeof p.path, "%s", path.c_str());
}

std::string number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// The overrides that turn the run's scenario into the edited one.
std::vector<std::string> edited_overrides(const ParamEdits& p, const Run& run,
                                          std::vector<std::string> out) {
  const Scenario& sc = run.scenario();
  const EngineConfig& e = sc.engine;
  const PagedOptions paged = options_or_default<PagedOptions>(e);
  const ContiguousOptions contiguous = options_or_default<ContiguousOptions>(e);
  auto set = [&](const std::string& kv) { set_override(out, kv); };
  if (p.block_size != e.geometry.block_size)
    set("cache.block_size=" + std::to_string(p.block_size));
  if (p.num_gpu_blocks != e.geometry.num_gpu_blocks) {
    set("hardware.num_gpu_blocks=" + std::to_string(p.num_gpu_blocks));
  } else if (std::fabs(p.gpu_memory_utilization - sc.gpu_memory_utilization) > 1e-6) {
    set("hardware.num_gpu_blocks=0");
    set("hardware.gpu_memory_utilization=" + number(p.gpu_memory_utilization));
  }
  if (p.allocator != (e.paged() ? 0 : 1))
    set(std::string("cache.allocator=") + kAllocators[static_cast<size_t>(p.allocator)]);
  if (p.reservation != index_of(kReservations, to_string(contiguous.reservation))) {
    set(std::string("cache.reservation=") + kReservations[static_cast<size_t>(p.reservation)]);
  }
  if (p.free_list != index_of(kFreeLists, to_string(paged.free_list))) {
    set(std::string("cache.free_list=") + kFreeLists[static_cast<size_t>(p.free_list)]);
  }
  if (p.preemption != index_of(kPreemptions, to_string(e.scheduler.preemption))) {
    set(std::string("scheduler.preemption=") + kPreemptions[static_cast<size_t>(p.preemption)]);
  }
  if (p.prefix_caching != paged.prefix_caching) {
    set(std::string("cache.prefix_caching=") + (p.prefix_caching ? "true" : "false"));
  }
  if (p.max_num_seqs != e.scheduler.max_num_seqs)
    set("scheduler.max_num_seqs=" + std::to_string(p.max_num_seqs));
  if (p.max_num_batched_tokens != e.scheduler.max_num_batched_tokens) {
    set("scheduler.max_num_batched_tokens=" + std::to_string(p.max_num_batched_tokens));
  }
  if (sc.source == WorkloadSource::kSynthetic) {
    if (std::fabs(p.arrival_rate - sc.workload.arrival.rate) > 1e-6 * sc.workload.arrival.rate) {
      set("workload.arrival.rate=" + number(p.arrival_rate));
    }
  } else if (std::fabs(p.time_scale - sc.trace.time_scale) > 1e-6 * sc.trace.time_scale) {
    set("workload.time_scale=" + number(p.time_scale));
  }
  if (static_cast<uint64_t>(p.seed) != sc.seed) set("seed=" + std::to_string(p.seed));
  return out;
}

void overrides_section(Gui& gui);

void scenario_section(Gui& gui) {
  list_scenarios_once(gui);
  Session& session = gui.session;
  const Scenario& current = session.run().scenario();
  ImGui::SetNextItemWidth(-1);
  if (ImGui::BeginCombo("##scenario", current.name.c_str(), ImGuiComboFlags_HeightLarge)) {
    for (const ScenarioEntry& e : gui.scenarios) {
      if (ImGui::Selectable(e.name.c_str(), e.name == current.name)) {
        gui.params.error = session.load(e.path, {});
      }
      if (ImGui::IsItemHovered() && !e.description.empty())
        ImGui::SetTooltip("%s", e.description.c_str());
    }
    ImGui::EndCombo();
  }
  ImGui::PushStyleColor(ImGuiCol_Text, theme::kTextDim);
  ImGui::TextWrapped("%s", current.description.c_str());
  ImGui::PopStyleColor();
  ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x - 58);
  const bool enter =
      ImGui::InputTextWithHint("##path", "scenario name or .toml path", gui.params.path,
                               sizeof gui.params.path, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if (ImGui::Button("Open") || enter) gui.params.error = session.load(gui.params.path, {});
  overrides_section(gui);
}

void transport_section(Gui& gui) {
  Session& s = gui.session;
  const bool done = s.done();
  const float w = (ImGui::GetContentRegionAvail().x - 2 * ImGui::GetStyle().ItemSpacing.x) / 3;
  ImGui::BeginDisabled(done);
  const bool playing = s.mode() == PlayMode::kPlaying;
  if (playing)
    ImGui::PushStyleColor(ImGuiCol_Button, theme::mix(theme::kAccent, theme::kPanel, 0.45f));
  if (ImGui::Button(playing ? "Pause" : "Play", ImVec2(w, 0))) s.toggle_play();
  if (playing) ImGui::PopStyleColor();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Space");
  ImGui::SameLine();
  if (ImGui::Button("Step", ImVec2(w, 0))) s.step(1);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Right arrow or N");
  ImGui::SameLine();
  char label[32];
  std::snprintf(label, sizeof label, "Step %d", gui.view.step_n);
  if (ImGui::Button(label, ImVec2(w, 0))) s.step(gui.view.step_n);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Shift+Right (N is set below)");
  const bool running = s.mode() == PlayMode::kRunToEnd;
  if (running)
    ImGui::PushStyleColor(ImGuiCol_Button, theme::mix(theme::kAccent, theme::kPanel, 0.45f));
  if (ImGui::Button(running ? "Stop" : "Run to end",
                    ImVec2(w * 2 + ImGui::GetStyle().ItemSpacing.x, 0)))
    s.run_to_end();
  if (running) ImGui::PopStyleColor();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("E: steps as fast as the frame budget allows");
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Reset", ImVec2(w, 0))) gui.params.error = s.reset();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("R: restart the run with the same parameters");

  ImGui::SetNextItemWidth(w * 2 + ImGui::GetStyle().ItemSpacing.x);
  float speed = static_cast<float>(s.speed());
  if (ImGui::SliderFloat("##speed", &speed, 1.0f, 100000.0f, "%.0f steps/s",
                         ImGuiSliderFlags_Logarithmic)) {
    s.set_speed(speed);
  }
  ImGui::SameLine();
  ImGui::SetNextItemWidth(w);
  ImGui::InputInt("##n", &gui.view.step_n, 0, 0);
  gui.view.step_n = std::clamp(gui.view.step_n, 1, 1'000'000);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("N for Step N");

  Run& run = s.run();
  const Snapshot& snap = run.snapshot();
  char overlay[128];
  std::snprintf(overlay, sizeof overlay, "%lld/%lld requests  step %lld  %.1f s%s",
                static_cast<long long>(snap.requests_done),
                static_cast<long long>(snap.requests_total), static_cast<long long>(snap.step),
                snap.time_s, done ? "  done" : "");
  ImGui::PushStyleColor(ImGuiCol_PlotHistogram,
                        done ? theme::mix(theme::kGood, theme::kPanel, 0.4f)
                             : theme::mix(theme::kAccent, theme::kPanel, 0.4f));
  ImGui::ProgressBar(static_cast<float>(s.progress()), ImVec2(-1, 0), overlay);
  ImGui::PopStyleColor();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("requests done, engine steps, simulated time");
  for (size_t i = 0; i < s.num_runs(); ++i) {
    if (!s.run(i).error().empty())
      ImGui::TextColored(theme::vec(theme::kBad), "%s", s.run(i).error().c_str());
  }
}

void parameters_section(Gui& gui) {
  ParamEdits& p = gui.params;
  Run& run = gui.session.run();
  const Scenario& sc = run.scenario();
  // Two columns of label-above-field cells.
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(8, 1));
  ImGui::PushStyleVar(ImGuiStyleVar_CellPadding, ImVec2(4, 2));
  if (!ImGui::BeginTable("params", 2, ImGuiTableFlags_SizingStretchSame)) {
    ImGui::PopStyleVar(2);
    return;
  }
  auto cell = [](const char* label) {
    ImGui::TableNextColumn();
    ImGui::TextDisabled("%s", label);
    ImGui::SetNextItemWidth(-1);
  };
  cell("allocator");
  combo("##allocator", &p.allocator, kAllocators);
  cell("reservation");
  ImGui::BeginDisabled(p.allocator == 0);
  combo("##reservation", &p.reservation, kReservations);
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("What a contiguous allocator reserves per request");
  cell("block size (tokens)");
  ImGui::InputInt("##block", &p.block_size, 0, 0);
  cell("free list");
  combo("##freelist", &p.free_list, kFreeLists);
  cell("GPU blocks");
  ImGui::InputInt("##blocks", &p.num_gpu_blocks, 0, 0);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("The pool's size; edit this or the GPU memory share");
  cell("GPU memory share");
  ImGui::SliderFloat("##util", &p.gpu_memory_utilization, 0.05f, 1.0f, "%.2f");
  if (ImGui::IsItemHovered()) {
    ImGui::SetTooltip(
        "gpu_memory_utilization: the pool is what this share of the %s's memory leaves "
        "after the weights",
        sc.gpu.name.c_str());
  }
  cell("preemption");
  combo("##preemption", &p.preemption, kPreemptions);
  cell("prefix caching");
  ImGui::Checkbox("##prefix", &p.prefix_caching);
  cell("max sequences");
  ImGui::InputInt("##seqs", &p.max_num_seqs, 0, 0);
  cell("token budget");
  ImGui::InputInt("##tokens", &p.max_num_batched_tokens, 0, 0);
  if (sc.source == WorkloadSource::kSynthetic) {
    cell("arrival rate (req/s)");
    ImGui::BeginDisabled(sc.workload.arrival.kind == ArrivalKind::kAllAtOnce);
    ImGui::InputFloat("##rate", &p.arrival_rate, 0, 0, "%.3g");
    ImGui::EndDisabled();
  } else {
    cell("trace time scale");
    ImGui::InputFloat("##scale", &p.time_scale, 0, 0, "%.3g");
  }
  cell("seed");
  ImGui::InputInt("##seed", &p.seed, 0, 0);
  ImGui::EndTable();
  ImGui::PopStyleVar(2);

  const std::vector<std::string> wanted = edited_overrides(p, run, gui.session.overrides());
  const bool changed = wanted != gui.session.overrides();
  ImGui::BeginDisabled(!changed);
  if (ImGui::Button("Apply and reset", ImVec2(ImGui::GetContentRegionAvail().x * 0.6f, 0))) {
    p.error = gui.session.load(gui.session.path(), wanted);
  }
  ImGui::SameLine();
  if (ImGui::Button("Revert", ImVec2(-1, 0)))
    load_params(p, run, gui.session.path(), gui.session.generation());
  ImGui::EndDisabled();
  if (!p.error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, theme::kBad);
    ImGui::TextWrapped("%s", p.error.c_str());
    ImGui::PopStyleColor();
  }
}

// The run's overrides (--set and Apply), under the scenario they change, flowing over as many
// lines as they need; each removable.
void overrides_section(Gui& gui) {
  const std::vector<std::string>& active = gui.session.overrides();
  if (active.empty()) return;
  ImGui::TextDisabled("overrides");
  const float right = ImGui::GetWindowContentRegionMax().x;
  const ImGuiStyle& style = ImGui::GetStyle();
  ImGui::PushFont(theme::fonts().mono);
  for (size_t i = 0; i < active.size(); ++i) {
    ImGui::PushID(static_cast<int>(i));
    const float button_w = ImGui::CalcTextSize("x").x + style.FramePadding.x * 2;
    const float text_w = ImGui::CalcTextSize(active[i].c_str()).x;
    const float w = button_w + style.ItemInnerSpacing.x + text_w;
    ImGui::SameLine(0, 12);
    if (ImGui::GetCursorPosX() + w > right) ImGui::NewLine();
    if (ImGui::SmallButton("x")) {
      std::vector<std::string> rest = active;
      rest.erase(rest.begin() + static_cast<ptrdiff_t>(i));
      gui.params.error = gui.session.load(gui.session.path(), rest);
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Remove %s and reset", active[i].c_str());
    ImGui::SameLine(0, style.ItemInnerSpacing.x);
    text_elided(active[i], right - ImGui::GetCursorPosX(), theme::kText);
    ImGui::PopID();
  }
  ImGui::PopFont();
}

}  // namespace

void draw_controls(Gui& gui, const ImRect& r) {
  if (!begin_panel("Controls", r) || !gui.session.has_run()) {
    ImGui::End();
    return;
  }
  if (gui.params.generation != gui.session.generation()) {
    load_params(gui.params, gui.session.run(), gui.session.path(), gui.session.generation());
  }
  heading("Scenario");
  scenario_section(gui);
  ImGui::Spacing();
  heading("Run");
  transport_section(gui);
  ImGui::Spacing();
  if (ImGui::CollapsingHeader("Parameters", ImGuiTreeNodeFlags_DefaultOpen))
    parameters_section(gui);
  ImGui::End();
}

}  // namespace tinyserve::app
