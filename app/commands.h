// The subcommands of the tinyserve executable. Each returns the process exit code:
// 0 success, 1 internal failure, 2 bad input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyserve::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

struct BenchAllocatorOptions {
  int32_t num_blocks = 65'536;
  int64_t pairs = 10'000'000;     // allocate+free pairs per policy and repetition
  int64_t mix_ops = 2'000'000;    // manager operations per policy and repetition
  int32_t repetitions = 3;
  std::vector<std::string> policies;  // empty: all
};
int bench_allocator(const BenchAllocatorOptions& options);

int block_map_demo();

}  // namespace tinyserve::app
