// tinyserve: the command line. Subcommands run scenarios headless and run benchmarks; with no
// subcommand the GUI opens on the default scenario. Exit codes (kExitHelp below): 0 success,
// 1 a failure of the environment or an internal error, 2 bad input, 130 and 143 stopped by SIGINT
// or SIGTERM.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>

#include "app/capacity_commands.h"
#include "app/commands.h"
#include "app/gui/gui.h"
#include "app/outputs.h"
#include "app/run_command.h"
#include "app/vllm_flags.h"
#include "core/base/errors.h"
#include "core/base/strings.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

std::string executable_dir(const char* argv0) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return self.parent_path().string();
  return std::filesystem::absolute(argv0, ec).parent_path().string();
}

constexpr const char* kExitHelp =
    "Exit codes: 0 success; 1 the environment failed (a full disk, an unwritable standard output, "
    "a GPU error) or an internal error, said on one line; 2 bad input, one line naming the file "
    "(or the --set override), the line and what was expected; 130 and 143 stopped by SIGINT and "
    "SIGTERM, the complete rows kept in metrics.csv.partial and events.jsonl.partial.";

constexpr const char* kSetHelp =
    "--set KEY=VALUE: KEY is a dotted key of the scenario file (at most 16 parts and 256 "
    "characters). VALUE is one TOML value as the file would hold it (64, 0.5, true, \"text\", "
    "[1, 2]; 0x10 and +16 are TOML for 16) and nothing else: a comment or a line break is refused. "
    "A word that is not TOML is text (--set cache.allocator=contiguous) unless it begins as TOML "
    "does (a digit, a sign or dot before a digit, a quote, [ or {): then it must be valid TOML.";

// Validators whose messages say what was expected and what was found.
CLI::Validator whole_number(int64_t lo, int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        int64_t value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        const bool parsed = ec == std::errc() && end == text.data() + text.size();
        if (parsed && value >= lo && value <= hi) return "";
        if (hi >= int64_t{1} << 40)
          return cat("expected a whole number >= ", lo, ", found ", quoted(text));
        return cat("expected a whole number in [", lo, ", ", hi, "], found ", quoted(text));
      },
      "");
}

CLI::Validator decimal(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        double value = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        const bool parsed = ec == std::errc() && end == text.data() + text.size();
        if (parsed && value >= lo && value <= hi) return "";
        return cat("expected a number in [", lo, ", ", hi, "], found ", quoted(text));
      },
      "");
}

CLI::Validator one_of(std::vector<std::string> allowed) {
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return CLI::Validator(
      [allowed, list](std::string& text) -> std::string {
        if (std::find(allowed.begin(), allowed.end(), text) != allowed.end()) return "";
        return cat("expected one of ", list, ", found ", quoted(text));
      },
      "{" + list + "}");
}

// "tinyserve run" for the deepest command given on the line.
std::string command_name(const CLI::App& cli) {
  std::string name = "tinyserve";
  for (const CLI::App* app = &cli; !app->get_subcommands().empty();) {
    app = app->get_subcommands().front();
    name += " " + app->get_name();
  }
  return name;
}

// A CLI11 parse error in TinyServe's words, on one line.
std::string parse_error_message(const CLI::App& cli, const CLI::ParseError& e) {
  const std::string command = command_name(cli);
  if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    const CLI::App* app = &cli;
    while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
    const std::vector<std::string> extras = app->remaining();
    const std::string first = extras.empty() ? std::string() : extras.front();
    if (app == &cli && !first.empty() && first.front() != '-') {
      std::string commands;
      for (const CLI::App* sub : cli.get_subcommands({})) {
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
      }
      return cat("tinyserve: unknown command ", quoted(first), "; the commands are ", commands,
                 " (see tinyserve --help)");
    }
    const char* what =
        !first.empty() && first.front() == '-' ? "unknown option " : "unexpected argument ";
    return cat(command, ": ", what, quoted(first),
               extras.size() > 1 ? cat(" (and ", extras.size() - 1, " more)") : std::string(),
               " (see ", command, " --help)");
  }
  const CLI::App* app = &cli;
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  // "Could not convert: --seed = x": the option's type says what was expected.
  const std::string what = e.what();
  const std::string_view prefix = "Could not convert: ";
  if (dynamic_cast<const CLI::ConversionError*>(&e) != nullptr && what.starts_with(prefix) &&
      what.find(" = ") != std::string::npos) {
    const size_t eq = what.find(" = ");
    const std::string name = what.substr(prefix.size(), eq - prefix.size());
    const CLI::Option* option = app->get_option_no_throw(name);
    const std::string type = option != nullptr ? option->get_type_name() : "";
    const char* expected = type == "INT" || type == "UINT" ? "a whole number"
                           : type == "FLOAT"               ? "a number"
                                                           : "a value of its type";
    return cat(command, ": ", name, ": expected ", expected, ", found ",
               quoted(what.substr(eq + 3)), " (see ", command, " --help)");
  }
  if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr &&
      app->get_require_subcommand_min() > 0 && app->get_subcommands().empty()) {
    std::string commands;
    for (const CLI::App* sub : app->get_subcommands({})) {
      commands += (commands.empty() ? "" : ", ") + sub->get_name();
    }
    return cat(command, ": expected a command: ", commands, " (see ", command, " --help)");
  }
  return cat(command, ": ", e.what(), " (see ", command, " --help)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"TinyServe: a simulator of the paged KV-cache memory manager of LLM serving"};
  cli.require_subcommand(0, 1);
  cli.footer(kExitHelp);
  const std::string exe_dir = executable_dir(argv[0]);

  RunOptions run_options;
  VllmFlags run_flags;
  CLI::App* run = cli.add_subcommand(
      "run",
      "Run a scenario headless and write metrics.csv, requests.csv, summary.json, "
      "events.jsonl. Every scenario key is listed in docs/scenarios.md "
      "(`tinyserve scenarios --keys`)");
  run->add_option("scenario", run_options.scenario,
                  "Scenario name (see `tinyserve scenarios`) or .toml path")
      ->required();
  run->add_option("--steps", run_options.steps,
                  "Stop after N steps (default: until every request is done)")
      ->check(whole_number(1, int64_t{1} << 50));
  run->add_option("--set", run_options.overrides,
                  "Override a scenario value, e.g. --set scheduler.max_num_seqs=64 (rule below)")
      ->allow_extra_args(false);
  run->add_option("--out", run_options.out_dir, "Output directory (default: out/<scenario>)");
  run->add_option("--backend", run_options.backend, "Backend: auto, cuda, cpu or accounting")
      ->check(one_of({"auto", "cuda", "cpu", "accounting"}));
  run->add_option("--kernel", run_options.kernel,
                  "Paged attention kernel version for the CUDA backend")
      ->check(one_of({"v1", "v2", "v3", "v4", "v5", "v6"}));
  bool no_progress = false;
  run->add_flag("--no-progress", no_progress, "No progress output");
  add_vllm_flags(*run, run_flags);
  run->add_option(
         "--outputs", run_options.outputs,
         "Files to write besides summary.json: metrics,events,requests,report (default: all)")
      ->delimiter(',')
      ->check(one_of({"summary", "metrics", "events", "requests", "report"}));
  run->footer(std::string(kSetHelp) + "\n\n" + kExitHelp);
  run->add_option("--decisions", run_options.decisions,
                  "Also write every step's decisions as the vLLM reference harness records them "
                  "(JSONL, tools/vllm_reference/README.md)");

  FidelityOptions fidelity_options;
  CLI::App* fidelity_cmd = cli.add_subcommand(
      "fidelity",
      "Replay vLLM reference harness records (tests/data/vllm_golden/*) and compare "
      "every step's decisions");
  fidelity_cmd->add_option("dirs", fidelity_options.dirs, "Record folders")->required();
  fidelity_cmd->add_option("--set", fidelity_options.overrides, "Override a replay scenario value");
  fidelity_cmd->add_option("--context", fidelity_options.context, "Steps shown around a divergence")
      ->check(CLI::Range(0, 1000));
  fidelity_cmd->add_flag("!--quiet", fidelity_options.show_divergence, "Only the table");

  CLI::App* scenarios =
      cli.add_subcommand("scenarios", "List the scenarios with their descriptions");
  bool scenario_keys = false;
  scenarios->add_flag("--keys", scenario_keys,
                      "Print every scenario key with its type, default, range and meaning "
                      "(docs/scenarios.md)");

  CompareOptions compare_options;
  CLI::App* compare =
      cli.add_subcommand("compare", "Two runs' summaries side by side, with differences");
  compare->add_option("run_a", compare_options.run_a, "A run's output folder or its summary.json")
      ->required();
  compare->add_option("run_b", compare_options.run_b, "Another run's output folder or summary.json")
      ->required();

  ConcurrencyOptions conc;
  CLI::App* concurrency_cmd = cli.add_subcommand(
      "concurrency", "The seed's max-concurrency stress test: contiguous reservation vs paged");
  concurrency_cmd->add_option("--model", conc.model, "Model preset")->capture_default_str();
  concurrency_cmd
      ->add_option("--kv-cache-dtype", conc.kv_dtype,
                   "KV cache dtype: auto (the model's), fp16, bf16, fp8_e4m3, fp8_e5m2")
      ->check(one_of({"auto", "fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2"}))
      ->capture_default_str();
  concurrency_cmd
      ->add_option("--budget-gb", conc.budget_gb, "KV-cache memory budget in GB (1e9 bytes)")
      ->check(decimal(0.001, 1e6))
      ->capture_default_str();
  concurrency_cmd->add_option("--block-size", conc.block_size, "Paged block size in tokens")
      ->check(whole_number(1, 4096))
      ->capture_default_str();
  concurrency_cmd->add_option("--lengths", conc.lengths, "seed-mix or uniform")
      ->check(one_of({"seed-mix", "uniform"}))
      ->capture_default_str();
  concurrency_cmd->add_option("--min-len", conc.min_len, "uniform: shortest sequence (default 64)")
      ->check(whole_number(1, 10'000'000));
  concurrency_cmd->add_option("--max-len", conc.max_len, "uniform: longest sequence (default 4096)")
      ->check(whole_number(1, 10'000'000));
  concurrency_cmd
      ->add_option("--max-model-len", conc.max_model_len,
                   "Reservation of the max-length baseline (default: the longest length drawn)")
      ->check(whole_number(0, 10'000'000));
  concurrency_cmd->add_option("--seed", conc.seed, "Seed of the length draw")
      ->check(whole_number(0, INT64_MAX))
      ->capture_default_str();

  CLI::App* demo =
      cli.add_subcommand("demo", "Walk through the memory manager, printing block maps");

  GuiOptions gui_options;
  VllmFlags gui_flags;
  CLI::App* gui =
      cli.add_subcommand("gui", "Open the desktop app on a scenario (what no subcommand does)");
  gui->add_option("scenario", gui_options.scenario, "Scenario name or .toml path")
      ->capture_default_str();
  gui->add_option("--set", gui_options.overrides,
                  "Override a scenario value, e.g. --set cache.block_size=32 (rule below)")
      ->allow_extra_args(false);
  gui->footer(std::string(kSetHelp) + "\n\n" + kExitHelp);
  gui->add_option(
      "--compare", gui_options.compare,
      "Open comparing two configurations: paged-vs-contiguous, lru-vs-lifo, recompute-vs-swap, "
      "block-size-16-vs-64, prefix-caching-on-vs-off, kv-fp16-vs-fp8");
  gui->add_option("--frames", gui_options.frames, "Scripted: run this many frames, then exit")
      ->check(whole_number(1, int64_t{1} << 40));
  gui->add_option("--steps-per-frame", gui_options.steps_per_frame,
                  "Scripted: engine steps per frame")
      ->check(whole_number(0, int64_t{1} << 40))
      ->capture_default_str();
  gui->add_option("--screenshot", gui_options.screenshot,
                  "Scripted: save the last frame as this PNG");
  gui->add_option("--backend", gui_options.backend, "Backend: auto, cuda, cpu or accounting")
      ->check(one_of({"auto", "cuda", "cpu", "accounting"}))
      ->capture_default_str();
  gui->add_option("--size", gui_options.size, "Window size, WIDTHxHEIGHT")->capture_default_str();
  gui->add_option("--mouse", gui_options.mouse,
                  "Scripted: hold the mouse at X,Y (tooltips in screenshots)");
  gui->add_option("--sweep", gui_options.sweep, "Browse a finished sweep folder (tinyserve sweep)");
  gui->add_option("--sweep-open", gui_options.sweep_open,
                  "With --sweep: run row N, or compare rows N,M (from 0, in sweep.csv's order)");
  add_vllm_flags(*gui, gui_flags);

  // Capacity planning (app/capacity_commands.h, docs/capacity.md).
  SweepOptions sweep_options;
  CLI::App* sweep_cmd = cli.add_subcommand(
      "sweep",
      "Run every configuration of a grid in parallel processes; sweep.csv and report.html");
  sweep_cmd->add_option("scenario", sweep_options.scenario, "Scenario name or .toml path");
  sweep_cmd
      ->add_option("--grid", sweep_options.grid,
                   "key=v1,v2,... or key=start:stop:step (repeatable)")
      ->allow_extra_args(false);
  sweep_cmd->add_option("--set", sweep_options.sets, "Override a scenario value in every run")
      ->allow_extra_args(false);
  sweep_cmd->add_option("--jobs,-j", sweep_options.jobs, "Parallel runs (default: every core)")
      ->check(CLI::Range(1, 4096));
  sweep_cmd->add_option("--out", sweep_options.out_dir,
                        "Sweep folder (default: out/sweep-<scenario>)");
  sweep_cmd
      ->add_option(
          "--outputs", sweep_options.outputs,
          "Each run's files besides summary.json: metrics,events,requests,report (default: report)")
      ->delimiter(',')
      ->check(CLI::IsMember({"summary", "metrics", "events", "requests", "report"}));
  sweep_cmd->add_option("--backend", sweep_options.backend, "Backend of every run")
      ->check(CLI::IsMember({"auto", "cuda", "cpu", "accounting"}));
  sweep_cmd->add_option(
      "--emit-jobs", sweep_options.emit_jobs,
      "Write one shell command per configuration to this file instead of running");
  sweep_cmd->add_option("--collect", sweep_options.collect,
                        "Merge the finished run folders of this sweep folder into sweep.csv");
  sweep_cmd->add_flag("!--no-progress", sweep_options.progress, "No progress output");
  VllmFlags sweep_flags;
  add_vllm_flags(*sweep_cmd, sweep_flags);

  SearchOptions search_options;
  CLI::App* search_cmd = cli.add_subcommand(
      "search", "The largest load meeting SLOs for each configuration of a grid (bisection)");
  search_cmd->add_option("scenario", search_options.scenario, "Scenario name or .toml path")
      ->required();
  search_cmd->add_option("--slo", search_options.slo, "SLOs, e.g. ttft_p99=2s,tpot_p99=100ms")
      ->required();
  search_cmd->add_option("--over", search_options.over, "The load knob (more is more load)")
      ->capture_default_str();
  search_cmd->add_option("--grid", search_options.grid, "key=v1,v2,... (repeatable)")
      ->allow_extra_args(false);
  search_cmd->add_option("--set", search_options.sets, "Override a scenario value in every run")
      ->allow_extra_args(false);
  search_cmd->add_option("--range", search_options.range, "LO,HI of the knob (default 0.1,10)")
      ->delimiter(',')
      ->expected(2);
  search_cmd
      ->add_option("--precision", search_options.precision,
                   "Stop when the failing value is within this fraction of the passing one")
      ->capture_default_str();
  search_cmd
      ->add_option("--scan", search_options.scan_step,
                   "A linear scan in steps of this size instead of bisection")
      ->check(CLI::PositiveNumber);
  search_cmd->add_option("--jobs,-j", search_options.jobs, "Parallel runs (default: every core)")
      ->check(CLI::Range(1, 4096));
  search_cmd->add_option("--out", search_options.out_dir,
                         "Search folder (default: out/search-<scenario>)");
  search_cmd->add_option("--backend", search_options.backend, "Backend of every run")
      ->check(CLI::IsMember({"auto", "cuda", "cpu", "accounting"}));
  search_cmd->add_flag("!--no-progress", search_options.progress, "No progress output");
  VllmFlags search_flags;
  add_vllm_flags(*search_cmd, search_flags);

  CapacityOptions capacity_options;
  CLI::App* capacity_cmd = cli.add_subcommand(
      "capacity",
      "vLLM's maximum-concurrency line for a model and GPU, and what a workload achieves");
  capacity_cmd->add_option("scenario", capacity_options.scenario, "Scenario name or .toml path")
      ->capture_default_str();
  capacity_cmd->add_option("--model", capacity_options.model, "Model preset");
  capacity_cmd->add_option("--gpu", capacity_options.gpu, "GPU preset");
  capacity_cmd->add_option("--gpus", capacity_options.num_gpus, "GPUs (tensor parallel)")
      ->check(CLI::Range(1, 64));
  VllmFlags capacity_flags;
  add_vllm_flags(*capacity_cmd, capacity_flags);
  capacity_cmd
      ->add_option("--tokens", capacity_options.tokens,
                   "Also the concurrency for these request lengths")
      ->check(CLI::Range(1, 10'000'000));
  capacity_cmd->add_option("--set", capacity_options.sets, "Override a scenario value")
      ->allow_extra_args(false);
  capacity_cmd->add_flag("!--no-run", capacity_options.run, "Skip replaying the workload");

  CLI::App* bench = cli.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  BenchAllocatorOptions alloc_options;
  CLI::App* bench_alloc =
      bench->add_subcommand("allocator", "Block allocate+free and manager operations per second");
  bench_alloc->add_option("--blocks", alloc_options.num_blocks, "Blocks in the pool")
      ->check(whole_number(2, 1 << 26));
  bench_alloc->add_option("--pairs", alloc_options.pairs, "Allocate+free pairs per run")
      ->check(whole_number(1, int64_t{1} << 40));
  bench_alloc->add_option("--ops", alloc_options.mix_ops, "Manager operations per run")
      ->check(whole_number(1, int64_t{1} << 40));
  bench_alloc->add_option("--repetitions", alloc_options.repetitions, "Runs per figure (median)")
      ->check(whole_number(1, 1000));
  bench_alloc->add_option("--policy", alloc_options.policies, "Only these free-list policies")
      ->check(one_of({"lifo", "fifo", "lru", "best-fit", "random"}));
  KernelBenchCliOptions kernel_options;
  CLI::App* bench_kern = bench->add_subcommand(
      "kernels",
      "Paged attention kernels: latency, bandwidth vs the device copy, paged vs contiguous");
  bench_kern->add_option("--versions", kernel_options.versions, "Kernel versions (default: all)")
      ->check(one_of({"v1", "v2", "v3", "v4", "v5", "v6"}));
  bench_kern
      ->add_option("--configs", kernel_options.configs, "Reference configurations (default: A B C)")
      ->check(one_of({"A", "B", "C"}));
  bench_kern
      ->add_option("--repetitions", kernel_options.repetitions, "Timed runs per kernel (median)")
      ->check(whole_number(1, 100000));
  bench_kern->add_flag("--partition-sweep", kernel_options.partition_sweep,
                       "Also sweep split-KV partition sizes");
  bool no_block_size_sweep = false;
  bench_kern->add_flag("--no-block-size-sweep", no_block_size_sweep, "Skip the block-size sweep");
  PrefillBenchCliOptions prefill_options;
  CLI::App* bench_pre = bench->add_subcommand("prefill",
                                              "Paged prefill attention: TFLOP/s vs a cuBLAS GEMM, "
                                              "a mixed step, FlashInfer when built with it");
  bench_pre
      ->add_option("--configs", prefill_options.configs,
                   "Reference configurations (default: P1 P2 P3 P4 P1-fp8)")
      ->check(one_of({"P1", "P2", "P3", "P4", "P1-fp8"}));
  bench_pre
      ->add_option("--kernels", prefill_options.kernels, "Prefill kernels (default: wgmma mma)")
      ->check(one_of({"simt", "mma", "wgmma"}));
  bench_pre
      ->add_option("--repetitions", prefill_options.repetitions, "Timed runs per figure (median)")
      ->check(CLI::Range(1, 100000));
  bool no_flashinfer = false;
  bench_pre->add_flag("--no-flashinfer", no_flashinfer, "Skip the FlashInfer anchor");
  SelectionBenchCliOptions selection_options;
  CLI::App* bench_sel = bench->add_subcommand(
      "selection",
      "Query-aware block selection: key bounds, scores, top-K and sparse attention against full v5 "
      "decode (GPU), or with --accuracy its accuracy against budget (CPU reference)");
  bench_sel
      ->add_option("--contexts", selection_options.contexts,
                   "Context lengths (default: 4096 16384 32768 131072)")
      ->check(whole_number(1, 1 << 20));
  bench_sel->add_option("--batches", selection_options.batches, "Batch sizes (default: 1 8 64)")
      ->check(whole_number(1, 4096));
  bench_sel
      ->add_option("--budgets", selection_options.budgets,
                   "Budgets in tokens (default: 512 1024 2048 4096)")
      ->check(whole_number(1, 1 << 20));
  bench_sel
      ->add_option("--rule", selection_options.rule, "How a GQA group's heads combine: max or sum")
      ->check(one_of({"max", "sum", "both"}))
      ->capture_default_str();
  bench_sel
      ->add_option("--repetitions", selection_options.repetitions, "Timed runs per figure (median)")
      ->check(whole_number(1, 100000));
  bench_sel->add_flag(
      "--accuracy", selection_options.accuracy,
      "Accuracy on the structured synthetic K/V with the CPU reference instead of GPU latency");
  bench_sel
      ->add_option("--samples", selection_options.samples, "Accuracy: decode positions per context")
      ->check(whole_number(1, 1000))
      ->capture_default_str();
  BenchEngineOptions engine_options;
  CLI::App* bench_eng = bench->add_subcommand(
      "engine",
      "Replay the whole Azure conversation trace with the accounting backend, outputs included");
  bench_eng->add_option("--scenario", engine_options.scenario, "Scenario to replay")
      ->capture_default_str();
  bench_eng->add_option("--out", engine_options.out_dir,
                        "Output directory (default: a temporary one)");
  bench_eng->add_option("--repetitions", engine_options.repetitions, "Runs (median)")
      ->check(whole_number(1, 100));

  CalibrateCliOptions calibrate_options;
  CLI::App* calibrate_cmd = cli.add_subcommand(
      "calibrate",
      "Time a step's parts on the GPU and write a GPU profile for the calibrated cost "
      "model (docs/cost_model.md)");
  calibrate_cmd->add_option("--gpu-name", calibrate_options.gpu_name,
                            "GPU preset the profile stands for (default: from the device's name)");
  calibrate_cmd
      ->add_option("--models", calibrate_options.models,
                   "Model presets, comma-separated (default: every one with standard attention)")
      ->delimiter(',');
  calibrate_cmd->add_option("--out", calibrate_options.out, "Profile to write")
      ->capture_default_str();
  calibrate_cmd
      ->add_option("--repetitions", calibrate_options.repetitions,
                   "Timed runs per grid point (median)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  calibrate_cmd->add_flag("--quick", calibrate_options.quick, "A coarse grid (a first look)");

  CostReportOptions report_options;
  CLI::App* report_cmd = cli.add_subcommand(
      "cost-report",
      "The cost models' error against measured step times over the scenarios' steps, on the GPU");
  report_cmd->add_option("--profile", report_options.profile, "GPU profile of the calibrated model")
      ->required();
  report_cmd
      ->add_option("--scenarios", report_options.scenarios,
                   "Scenarios, comma-separated (default: all)")
      ->delimiter(',');
  report_cmd->add_option("--gpu", report_options.gpu, "hardware.gpu the steps run under")
      ->capture_default_str();
  report_cmd->add_option("--max-steps", report_options.max_steps, "Steps per scenario (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  report_cmd
      ->add_option("--repetitions", report_options.repetitions,
                   "Runs of each step's attention (median)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  report_cmd->add_option("--out", report_options.out_dir, "Folder for steps.csv and report.md");

  // --help, checked like every command's output.
  const auto help = [&](const CLI::Error& e) {
    const int code = cli.exit(e);
    try {
      flush_stdout();
    } catch (const OutputError& error) {
      std::fprintf(stderr, "tinyserve: %s\n", error.what());
      return kExitFailure;
    }
    return code;
  };
  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return help(e);
  } catch (const CLI::CallForAllHelp& e) {
    return help(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s\n", parse_error_message(cli, e).c_str());
    return kExitBadInput;
  }
  run_options.progress = !no_progress;
  kernel_options.block_size_sweep = !no_block_size_sweep;
  // Past a file size limit (ulimit -f) a write fails with EFBIG and is reported, not a signal.
  std::signal(SIGXFSZ, SIG_IGN);

  for (std::string& o : vllm_overrides(run_flags)) run_options.overrides.push_back(std::move(o));
  for (std::string& o : vllm_overrides(gui_flags)) gui_options.overrides.push_back(std::move(o));
  for (std::string& o : vllm_overrides(sweep_flags)) sweep_options.sets.push_back(std::move(o));
  for (std::string& o : vllm_overrides(search_flags)) search_options.sets.push_back(std::move(o));
  for (std::string& o : vllm_overrides(capacity_flags))
    capacity_options.sets.push_back(std::move(o));

  const auto run_command = [&]() -> int {
    if (*run) return run_scenario(run_options, exe_dir).exit_code;
    if (*scenarios) return list_scenario_descriptions(exe_dir, scenario_keys);
    if (*compare) return compare_runs(compare_options);
    if (*fidelity_cmd) return fidelity(fidelity_options);
    if (*sweep_cmd) return sweep(sweep_options, exe_dir);
    if (*search_cmd) return search(search_options, exe_dir);
    if (*capacity_cmd) return capacity(capacity_options, exe_dir);
    if (*concurrency_cmd) return concurrency(conc);
    if (*bench_alloc) return bench_allocator(alloc_options);
    if (*bench_eng) return bench_engine(engine_options, exe_dir);
    if (*bench_kern) return bench_kernels(kernel_options);
    if (*bench_sel) return bench_selection(selection_options);
    if (*bench_pre) {
      prefill_options.flashinfer = !no_flashinfer;
      return bench_prefill(prefill_options);
    }
    if (*calibrate_cmd) {
      calibrate_options.command = "tinyserve";
      for (int i = 1; i < argc; ++i) calibrate_options.command += cat(" ", argv[i]);
      return calibrate(calibrate_options);
    }
    if (*report_cmd) return cost_report(report_options, exe_dir);
    if (*demo) return block_map_demo();
#ifdef TINYSERVE_HAVE_GUI
    return run_gui(gui_options, exe_dir);
#else
    std::fprintf(stderr,
                 "tinyserve: built without the desktop app (GLFW, OpenGL or Dear ImGui not "
                 "found); `tinyserve run %s` runs it headless\n",
                 gui_options.scenario.c_str());
    return kExitBadInput;
#endif
  };
  try {
    const int code = run_command();
    flush_stdout();
    return code;
  } catch (const InputError& e) {
    std::fprintf(stderr, "tinyserve: %s\n", e.what());
    return kExitBadInput;
  } catch (const OutputError& e) {
    std::fprintf(stderr, "tinyserve: %s\n", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyserve: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
