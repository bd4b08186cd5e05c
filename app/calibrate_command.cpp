// `tinyserve calibrate`: a GPU profile for the calibrated cost model (gpu/tools/calibrate.h).
// `tinyserve cost-report`: the roofline's and the calibrated model's error against measured step
// times over the scenarios' steps (docs/cost_model.md).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/backends.h"
#include "app/commands.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/scenario.h"
#include "core/engine/cost_report.h"
#include "core/engine/engine.h"
#include "core/execution/gpu_profile.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/cuda_check.h"
#include "gpu/device.h"
#include "gpu/tools/calibrate.h"
#endif

namespace tinyserve::app {

namespace fs = std::filesystem;

namespace {

#ifdef TINYSERVE_HAVE_CUDA
// Writes text to path through path.partial, renamed at the end.
void write_file(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary);
    if (!out) throw InputError(path, 0, "cannot write");
    out << text;
    if (!out.flush()) throw InputError(path, 0, "cannot write");
  }
  fs::rename(partial, path);
}

struct StepFeatures {
  int32_t decode_context_max = 0;
  int32_t prefill_context_max = 0;
  int32_t prefill_length_max = 0;
};

StepFeatures features(const StepPlan& p) {
  StepFeatures f;
  for (int32_t b = 0; b < p.batch(); ++b) {
    if (b < p.num_prefills) {
      f.prefill_context_max =
          std::max(f.prefill_context_max, p.context_lens[static_cast<size_t>(b)]);
      f.prefill_length_max = std::max(f.prefill_length_max, p.queries_of(b));
    } else {
      f.decode_context_max = std::max(f.decode_context_max, p.context_lens[static_cast<size_t>(b)]);
    }
  }
  return f;
}

const char* kStepsHeader =
    "scenario,step,kind,tokens,sampled,decodes,decode_context_sum,decode_context_max,chunks,"
    "prefill_tokens,prefill_pairs,prefill_context_max,prefill_length_max,copied_blocks,"
    "swapped_blocks,prefill_attention_ms,decode_attention_ms,copy_ms,swap_ms,gemm_ms,lm_head_ms,"
    "measured_ms,roofline_ms,calibrated_ms,calibrated_gemm_ms,calibrated_prefill_ms,"
    "calibrated_decode_ms\n";
#endif

}  // namespace

int calibrate(const CalibrateCliOptions& o) {
#ifdef TINYSERVE_HAVE_CUDA
  if (const gpu::DeviceInfo device = gpu::query_device(); !device.available) {
    std::fprintf(stderr, "tinyserve: calibrate needs a CUDA device (%s)\n", device.reason.c_str());
    return kExitBadInput;
  }
  gpu::CalibrateOptions options;
  options.gpu_name = o.gpu_name;
  options.models = o.models;
  options.repetitions = o.repetitions;
  options.quick = o.quick;
  options.command = o.command;
  for (const std::string& m : o.models) find_model(m);  // InputError for an unknown one
  try {
    const GpuProfile profile = gpu::calibrate(options, std::cout);
    write_file(o.out, gpu_profile_toml(profile));
  } catch (const gpu::CudaError& e) {
    std::fprintf(stderr, "tinyserve: calibrate: %s\n", e.what());
    return kExitFailure;
  }
  std::printf("profile      %s\n", o.out.c_str());
  return kExitOk;
#else
  (void)o;
  std::fprintf(stderr, "tinyserve: calibrate needs the CUDA backend (%s)\n", cuda_status().c_str());
  return kExitBadInput;
#endif
}

int cost_report(const CostReportOptions& o, const std::string& executable_dir) {
#ifdef TINYSERVE_HAVE_CUDA
  if (const gpu::DeviceInfo device = gpu::query_device(); !device.available) {
    std::fprintf(stderr, "tinyserve: cost-report needs a CUDA device (%s)\n",
                 device.reason.c_str());
    return kExitBadInput;
  }
  const std::string profile_path = fs::absolute(o.profile).lexically_normal().string();
  const GpuProfile profile = read_gpu_profile(profile_path);  // InputError when malformed
  std::vector<std::string> names = o.scenarios;
  if (names.empty()) {
    for (const std::string& path : list_scenarios(executable_dir)) {
      names.push_back(fs::path(path).stem().string());
    }
  }
  // steps.csv grows scenario by scenario (as steps.csv.partial until the report is complete).
  std::ofstream csv_file;
  std::string csv_path;
  if (!o.out_dir.empty()) {
    fs::create_directories(o.out_dir);
    csv_path = (fs::path(o.out_dir) / "steps.csv").string();
    csv_file.open(csv_path + ".partial", std::ios::binary);
    if (!csv_file) throw InputError(csv_path, 0, "cannot write");
    csv_file << kStepsHeader;
  }
  std::string csv;
  std::vector<StepSample> samples;
  std::string skipped;
  for (const std::string& name : names) {
    const std::string path = find_scenario(name, executable_dir);
    // The scenario's own pool, on the report's GPU, timed by the profile.
    const Scenario own = load_scenario(path);
    Scenario sc =
        load_scenario(path, {"hardware.gpu=" + o.gpu,
                             cat("hardware.num_gpu_blocks=", own.engine.geometry.num_gpu_blocks),
                             "cost.profile=\"" + profile_path + "\""});
    if (o.max_steps > 0) {
      sc.engine.max_steps =
          sc.engine.max_steps > 0 ? std::min(sc.engine.max_steps, o.max_steps) : o.max_steps;
    }
    if (const std::string why = kernel_support(sc); !why.empty()) {
      skipped += cat(sc.name, " (", why, "); ");
      std::printf("%-28s skipped: %s\n", sc.name.c_str(), why.c_str());
      continue;
    }
    CostModel roofline = sc.engine.cost;
    roofline.profile = nullptr;
    auto created =
        gpu::StepMeasurer::create(sc.engine.geometry, sc.engine.cost.shapes, o.repetitions);
    if (!created.ok()) {
      std::fprintf(stderr, "tinyserve: cost-report: %s: %s\n", sc.name.c_str(),
                   created.status.error.c_str());
      return kExitFailure;
    }
    gpu::StepMeasurer* measurer = created.value.get();
    const auto started = std::chrono::steady_clock::now();
    Engine engine(sc.engine, load_requests(sc), std::move(created.value));
    const KvGeometry& g = sc.engine.geometry;
    const double layers = g.model_layers;
    const size_t first = samples.size();
    while (!engine.done()) {
      const int64_t before = engine.steps();
      engine.step();
      if (engine.steps() == before) continue;  // nothing ran
      const StepWork& w = engine.last_work();
      const StepMetrics& m = engine.last();
      const StepFeatures f = features(engine.last_plan());
      // Stages with nothing to do read as the events' gap: zero.
      const double prefill_ms = w.prefill_chunks > 0 ? m.prefill_attention_ms : 0;
      const double decode_ms = w.decode_seqs > 0 ? m.decode_attention_ms : 0;
      const double copy_ms = w.copied_blocks > 0 ? m.copy_ms : 0;
      const double swap_ms = w.swapped_blocks > 0 ? m.swap_ms : 0;
      const double gemm_ms = measurer->gemm_ms(w.new_tokens);
      const double lm_ms = measurer->lm_head_ms(w.sampled_tokens);
      StepSample s;
      s.scenario = sc.name;
      s.kind = step_kind(w);
      s.measured_s =
          (layers * (prefill_ms + decode_ms + copy_ms + swap_ms) + gemm_ms + lm_ms) * 1e-3;
      s.roofline_s = estimate_step(roofline, g, w).total_s;
      const StepCost c = estimate_step(sc.engine.cost, g, w);
      s.calibrated_s = c.total_s;
      csv += cat(sc.name, ',', m.step, ',', step_kind_name(s.kind), ',', w.new_tokens, ',',
                 w.sampled_tokens, ',', w.decode_seqs, ',', w.decode_context_sum, ',',
                 f.decode_context_max, ',', w.prefill_chunks, ',', w.prefill_tokens, ',',
                 w.prefill_pairs, ',', f.prefill_context_max, ',', f.prefill_length_max, ',',
                 w.copied_blocks, ',', w.swapped_blocks, ',', prefill_ms, ',', decode_ms, ',',
                 copy_ms, ',', swap_ms, ',', gemm_ms, ',', lm_ms, ',', s.measured_s * 1e3, ',',
                 s.roofline_s * 1e3, ',', s.calibrated_s * 1e3, ',', c.gemm_s * 1e3, ',',
                 c.prefill_attention_s * 1e3, ',', c.decode_attention_s * 1e3, '\n');
      if (s.measured_s > 0) samples.push_back(std::move(s));
    }
    if (csv_file.is_open()) {
      csv_file << csv;
      csv_file.flush();
    }
    csv.clear();
    const std::span<const StepSample> mine(samples.data() + first, samples.size() - first);
    const ErrorSummary r = relative_error(mine, CostModelKind::kRoofline);
    const ErrorSummary c = relative_error(mine, CostModelKind::kCalibrated);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf(
        "%-28s %6lld steps  roofline median %5.1f%% p90 %5.1f%%  calibrated median %5.1f%% "
        "p90 %5.1f%%  (%.0f s)\n",
        sc.name.c_str(), static_cast<long long>(r.steps), 100 * r.median, 100 * r.p90,
        100 * c.median, 100 * c.p90, wall);
    std::fflush(stdout);
  }
  std::string report =
      cat("Cost model error on ", profile.device, " (profile ", profile_path, ", measured ",
          profile.date, "): |modelled - measured| / measured per step; the first ", o.max_steps,
          " steps of each scenario, run on hardware.gpu = ", o.gpu,
          " with the scenario's own pool; bias is the median signed error.\n\n");
  if (!skipped.empty()) report += "Skipped: " + skipped + "\n\n";
  report += cost_report_markdown(samples);
  std::printf("\n%s", report.c_str());
  if (csv_file.is_open()) {
    csv_file.close();
    fs::rename(csv_path + ".partial", csv_path);
    write_file((fs::path(o.out_dir) / "report.md").string(), report);
  }
  return kExitOk;
#else
  (void)o;
  (void)executable_dir;
  std::fprintf(stderr, "tinyserve: cost-report needs the CUDA backend (%s)\n",
               cuda_status().c_str());
  return kExitBadInput;
#endif
}

}  // namespace tinyserve::app
