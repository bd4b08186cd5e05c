// tinyserve: the command line. Subcommands run scenarios headless and run benchmarks; with no
// subcommand the GUI opens on the default scenario. Exit codes: 0 success, 1 internal failure,
// 2 bad input.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>

#include "app/commands.h"
#include "app/gui/gui.h"
#include "app/run_command.h"
#include "app/vllm_flags.h"
#include "core/base/errors.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

std::string executable_dir(const char* argv0) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return self.parent_path().string();
  return std::filesystem::absolute(argv0, ec).parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"TinyServe: a simulator of the paged KV-cache memory manager of LLM serving"};
  cli.require_subcommand(0, 1);
  const std::string exe_dir = executable_dir(argv[0]);

  RunOptions run_options;
  VllmFlags run_flags;
  CLI::App* run = cli.add_subcommand(
      "run", "Run a scenario headless and write metrics.csv, requests.csv, summary.json, "
             "events.jsonl. Every scenario key is listed in docs/scenarios.md "
             "(`tinyserve scenarios --keys`)");
  run->add_option("scenario", run_options.scenario, "Scenario name (see `tinyserve scenarios`) or .toml path")->required();
  run->add_option("--steps", run_options.steps, "Stop after N steps (default: until every request is done)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  run->add_option("--set", run_options.overrides, "Override a scenario value, e.g. --set scheduler.max_num_seqs=64")
      ->allow_extra_args(false);
  run->add_option("--out", run_options.out_dir, "Output directory (default: out/<scenario>)");
  run->add_option("--backend", run_options.backend, "Backend: auto, cuda, cpu or accounting")
      ->check(CLI::IsMember({"auto", "cuda", "cpu", "accounting"}));
  run->add_option("--kernel", run_options.kernel, "Paged attention kernel version for the CUDA backend")
      ->check(CLI::IsMember({"v1", "v2", "v3", "v4", "v5", "v6"}));
  run->add_flag("!--no-progress", run_options.progress, "No progress output");
  add_vllm_flags(*run, run_flags);

  CLI::App* scenarios = cli.add_subcommand("scenarios", "List the scenarios with their descriptions");
  bool scenario_keys = false;
  scenarios->add_flag("--keys", scenario_keys,
                      "Print every scenario key with its type, default, range and meaning "
                      "(docs/scenarios.md)");

  CompareOptions compare_options;
  CLI::App* compare = cli.add_subcommand("compare", "Two runs' summaries side by side, with differences");
  compare->add_option("run_a", compare_options.run_a, "A run's output folder or its summary.json")->required();
  compare->add_option("run_b", compare_options.run_b, "Another run's output folder or summary.json")->required();

  ConcurrencyOptions conc;
  CLI::App* concurrency_cmd = cli.add_subcommand(
      "concurrency", "The seed's max-concurrency stress test: contiguous reservation vs paged");
  concurrency_cmd->add_option("--model", conc.model, "Model preset")->capture_default_str();
  concurrency_cmd->add_option("--kv-cache-dtype", conc.kv_dtype, "KV cache dtype: auto (the model's), fp16, bf16, fp8_e4m3, fp8_e5m2")
      ->check(CLI::IsMember({"auto", "fp16", "bf16", "fp8", "fp8_e4m3", "fp8_e5m2"}))->capture_default_str();
  concurrency_cmd->add_option("--budget-gb", conc.budget_gb, "KV-cache memory budget in GB (1e9 bytes)")
      ->check(CLI::Range(0.001, 1e6))->capture_default_str();
  concurrency_cmd->add_option("--block-size", conc.block_size, "Paged block size in tokens")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  concurrency_cmd->add_option("--lengths", conc.lengths, "seed-mix or uniform")
      ->check(CLI::IsMember({"seed-mix", "uniform"}))->capture_default_str();
  concurrency_cmd->add_option("--min-len", conc.min_len, "uniform: shortest sequence (default 64)")->check(CLI::Range(1, 10'000'000));
  concurrency_cmd->add_option("--max-len", conc.max_len, "uniform: longest sequence (default 4096)")->check(CLI::Range(1, 10'000'000));
  concurrency_cmd->add_option("--max-model-len", conc.max_model_len, "Reservation of the max-length baseline (default: the longest length drawn)")
      ->check(CLI::Range(0, 10'000'000));
  concurrency_cmd->add_option("--seed", conc.seed, "Seed of the length draw")->capture_default_str();

  CLI::App* demo = cli.add_subcommand("demo", "Walk through the memory manager, printing block maps");

  GuiOptions gui_options;
  VllmFlags gui_flags;
  CLI::App* gui = cli.add_subcommand("gui", "Open the desktop app on a scenario (what no subcommand does)");
  gui->add_option("scenario", gui_options.scenario, "Scenario name or .toml path")->capture_default_str();
  gui->add_option("--set", gui_options.overrides, "Override a scenario value, e.g. --set cache.block_size=32")
      ->allow_extra_args(false);
  gui->add_option("--compare", gui_options.compare,
                  "Open comparing two configurations: paged-vs-contiguous, lru-vs-lifo, recompute-vs-swap, "
                  "block-size-16-vs-64, prefix-caching-on-vs-off");
  gui->add_option("--frames", gui_options.frames, "Scripted: run this many frames, then exit")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  gui->add_option("--steps-per-frame", gui_options.steps_per_frame, "Scripted: engine steps per frame")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))->capture_default_str();
  gui->add_option("--screenshot", gui_options.screenshot, "Scripted: save the last frame as this PNG");
  gui->add_option("--backend", gui_options.backend, "Backend: auto, cuda, cpu or accounting")
      ->check(CLI::IsMember({"auto", "cuda", "cpu", "accounting"}))->capture_default_str();
  gui->add_option("--size", gui_options.size, "Window size, WIDTHxHEIGHT")->capture_default_str();
  gui->add_option("--mouse", gui_options.mouse, "Scripted: hold the mouse at X,Y (tooltips in screenshots)");
  add_vllm_flags(*gui, gui_flags);

  CLI::App* bench = cli.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  BenchAllocatorOptions alloc_options;
  CLI::App* bench_alloc =
      bench->add_subcommand("allocator", "Block allocate+free and manager operations per second");
  bench_alloc->add_option("--blocks", alloc_options.num_blocks, "Blocks in the pool")
      ->check(CLI::Range(2, 1 << 26));
  bench_alloc->add_option("--pairs", alloc_options.pairs, "Allocate+free pairs per run")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  bench_alloc->add_option("--ops", alloc_options.mix_ops, "Manager operations per run")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  bench_alloc->add_option("--repetitions", alloc_options.repetitions, "Runs per figure (median)")
      ->check(CLI::Range(1, 1000));
  bench_alloc->add_option("--policy", alloc_options.policies, "Only these free-list policies")
      ->check(CLI::IsMember({"lifo", "fifo", "lru", "best-fit", "random"}));
  KernelBenchCliOptions kernel_options;
  CLI::App* bench_kern = bench->add_subcommand(
      "kernels", "Paged attention kernels: latency, bandwidth vs the device copy, paged vs contiguous");
  bench_kern->add_option("--versions", kernel_options.versions, "Kernel versions (default: all)")
      ->check(CLI::IsMember({"v1", "v2", "v3", "v4", "v5", "v6"}));
  bench_kern->add_option("--configs", kernel_options.configs, "Reference configurations (default: A B C)")
      ->check(CLI::IsMember({"A", "B", "C"}));
  bench_kern->add_option("--repetitions", kernel_options.repetitions, "Timed runs per kernel (median)")
      ->check(CLI::Range(1, 100000));
  bench_kern->add_flag("--partition-sweep", kernel_options.partition_sweep, "Also sweep split-KV partition sizes");
  bench_kern->add_flag("!--no-block-size-sweep", kernel_options.block_size_sweep, "Skip the block-size sweep");
  SelectionBenchCliOptions selection_options;
  CLI::App* bench_sel = bench->add_subcommand(
      "selection",
      "Query-aware block selection: key bounds, scores, top-K and sparse attention against full v5 "
      "decode (GPU), or with --accuracy its accuracy against budget (CPU reference)");
  bench_sel->add_option("--contexts", selection_options.contexts, "Context lengths (default: 4096 16384 32768 131072)")
      ->check(CLI::Range(1, 1 << 20));
  bench_sel->add_option("--batches", selection_options.batches, "Batch sizes (default: 1 8 64)")
      ->check(CLI::Range(1, 4096));
  bench_sel->add_option("--budgets", selection_options.budgets, "Budgets in tokens (default: 512 1024 2048 4096)")
      ->check(CLI::Range(1, 1 << 20));
  bench_sel->add_option("--rule", selection_options.rule, "How a GQA group's heads combine: max or sum")
      ->check(CLI::IsMember({"max", "sum", "both"}))->capture_default_str();
  bench_sel->add_option("--repetitions", selection_options.repetitions, "Timed runs per figure (median)")
      ->check(CLI::Range(1, 100000));
  bench_sel->add_flag("--accuracy", selection_options.accuracy,
                      "Accuracy on the structured synthetic K/V with the CPU reference instead of GPU latency");
  bench_sel->add_option("--samples", selection_options.samples, "Accuracy: decode positions per context")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  BenchEngineOptions engine_options;
  CLI::App* bench_eng = bench->add_subcommand(
      "engine", "Replay the whole Azure conversation trace with the accounting backend, outputs included");
  bench_eng->add_option("--scenario", engine_options.scenario, "Scenario to replay")->capture_default_str();
  bench_eng->add_option("--out", engine_options.out_dir, "Output directory (default: a temporary one)");
  bench_eng->add_option("--repetitions", engine_options.repetitions, "Runs (median)")->check(CLI::Range(1, 100));

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "tinyserve: %s (see --help)\n", e.what());
    return kExitBadInput;
  }

  for (std::string& o : vllm_overrides(run_flags)) run_options.overrides.push_back(std::move(o));
  for (std::string& o : vllm_overrides(gui_flags)) gui_options.overrides.push_back(std::move(o));

  try {
    if (*run) return run_scenario(run_options, exe_dir).exit_code;
    if (*scenarios) return list_scenario_descriptions(exe_dir, scenario_keys);
    if (*compare) return compare_runs(compare_options);
    if (*concurrency_cmd) return concurrency(conc);
    if (*bench_alloc) return bench_allocator(alloc_options);
    if (*bench_eng) return bench_engine(engine_options, exe_dir);
    if (*bench_kern) return bench_kernels(kernel_options);
    if (*bench_sel) return bench_selection(selection_options);
    if (*demo) return block_map_demo();
    if (*gui || cli.get_subcommands().empty()) {
#ifdef TINYSERVE_HAVE_GUI
      return run_gui(gui_options, exe_dir);
#else
      std::fprintf(stderr, "tinyserve: built without the desktop app (GLFW, OpenGL or Dear ImGui not "
                           "found); `tinyserve run %s` runs it headless\n", gui_options.scenario.c_str());
      return kExitBadInput;
#endif
    }
  } catch (const InputError& e) {
    std::fprintf(stderr, "tinyserve: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyserve: internal error: %s\n", e.what());
    return kExitFailure;
  }
  return kExitOk;
}
