// Standalone driver of the kernel benchmark (the app's `tinyserve bench kernels` calls the same
// run_kernel_bench). Usage:
//   kernel_bench [--versions v1,...,v6] [--configs A,B,C] [--reps N] [--seed N]
//                [--partition-sweep] [--v6-sweep] [--no-fp8] [--no-block-size-sweep]
//                [--no-reshape] [--no-copies]
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "core/base/strings.h"
#include "gpu/tools/kernel_bench.h"

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

int usage(const std::string& problem) {
  std::fprintf(stderr, "kernel_bench: %s\n", problem.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tinyserve;
  gpu::KernelBenchOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--versions") {
      options.versions.clear();
      for (const std::string& name : split(value())) {
        KernelVersion v{};
        if (!parse_kernel_version(name, v)) return usage("unknown kernel version " + name);
        options.versions.push_back(v);
      }
    } else if (arg == "--configs") {
      options.configs = split(value());
    } else if (arg == "--reps") {
      if (!parse_number(value(), options.repetitions) || options.repetitions < 1) {
        return usage("--reps needs a positive integer");
      }
    } else if (arg == "--seed") {
      if (!parse_number(value(), options.seed)) return usage("--seed needs an integer");
    } else if (arg == "--partition-sweep") {
      options.partition_sweep = true;
    } else if (arg == "--v6-sweep") {
      options.v6_sweep = true;
    } else if (arg == "--no-fp8") {
      options.fp8 = false;
    } else if (arg == "--no-block-size-sweep") {
      options.block_size_sweep = false;
    } else if (arg == "--no-reshape") {
      options.reshape = false;
    } else if (arg == "--no-copies") {
      options.copies = false;
    } else {
      return usage("unknown argument " + arg);
    }
  }
  return gpu::run_kernel_bench(options, std::cout);
}
