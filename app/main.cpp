// tinyserve: the command line. Subcommands run scenarios headless and run benchmarks; with no
// subcommand the GUI opens on the default scenario.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "app/commands.h"

using namespace tinyserve::app;

int main(int argc, char** argv) {
  CLI::App cli{"TinyServe: a simulator of the paged KV-cache memory manager of LLM serving"};
  cli.require_subcommand(0, 1);

  CLI::App* demo = cli.add_subcommand("demo", "Walk through the memory manager, printing block maps");

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

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kExitBadInput;
  }

  try {
    if (*bench_alloc) return bench_allocator(alloc_options);
    if (*demo || cli.get_subcommands().empty()) return block_map_demo();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tinyserve: internal error: %s\n", e.what());
    return kExitFailure;
  }
  return kExitOk;
}
