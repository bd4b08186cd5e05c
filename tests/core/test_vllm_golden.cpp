// TinyServe under vllm-v1 semantics against vLLM 0.33 itself: every committed record of the
// reference harness (tests/data/vllm_golden/, tools/vllm_reference/) replays with identical
// decisions on every column of every step.
#include <doctest/doctest.h>

#include <string>

#include "core/engine/vllm_replay.h"

namespace tinyserve {
namespace {

void check_golden(const std::string& name) {
  const VllmReplay r = replay_vllm_record(TINYSERVE_SOURCE_DIR "/tests/data/vllm_golden/" + name);
  INFO(r.comparison.report);
  CHECK(r.expected.size() > 100);
  CHECK(r.comparison.identical());
  CHECK(r.comparison.identical_steps == static_cast<int64_t>(r.expected.size()));
}

}  // namespace

#define TINYSERVE_GOLDEN(name)                                            \
  TEST_CASE("vllm-v1 semantics replay vLLM 0.33's decisions on " #name) { \
    check_golden(#name);                                                  \
  }

TINYSERVE_GOLDEN(azure_burst_small_nopc)
TINYSERVE_GOLDEN(azure_burst_small_pc)
TINYSERVE_GOLDEN(azure_burst_small_pc_async)
TINYSERVE_GOLDEN(azure_staggered_small_pc)
TINYSERVE_GOLDEN(azure_trace_large_nopc)
TINYSERVE_GOLDEN(azure_trace_large_pc)
TINYSERVE_GOLDEN(mooncake_nopc)
TINYSERVE_GOLDEN(mooncake_pc)
TINYSERVE_GOLDEN(parallel_n4_nopc)
TINYSERVE_GOLDEN(parallel_n4_pc)
TINYSERVE_GOLDEN(shared_prompt_pc)
TINYSERVE_GOLDEN(shared_prompt_pc_async)
TINYSERVE_GOLDEN(staggered_tiny_pool_pc)

TEST_CASE("a divergence is reported with the step and the columns that differ") {
  const std::string dir = TINYSERVE_SOURCE_DIR "/tests/data/vllm_golden/staggered_tiny_pool_pc";
  const VllmReplay r = replay_vllm_record(dir, {"scheduler.max_num_seqs=4"});
  CHECK_FALSE(r.comparison.identical());
  CHECK(r.comparison.report.find("first divergence at record") != std::string::npos);
  CHECK(r.comparison.report.find(">> vllm") != std::string::npos);
}

}  // namespace tinyserve
