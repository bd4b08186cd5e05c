// Replays a record of the vLLM reference harness (tools/vllm_reference/: a folder holding
// workload.jsonl, config.json and decisions.jsonl) through TinyServe under vllm-v1 semantics on
// the step clock, and compares the decisions step by step (docs/fidelity.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/decisions.h"

namespace tinyserve {

// The scenario (TOML text) that reproduces the harness's config.json: its pool (plus vLLM's null
// block), block size, limits, prefix caching, asynchronous scheduling, and workload.jsonl as a
// requests workload on the step clock (model.max_model_len cut to what the pool holds, see
// replay_vllm_record). InputError for a config TinyServe cannot reproduce.
std::string vllm_replay_scenario(const std::string& dir);

struct VllmReplay {
  std::vector<StepDecisions> expected;  // decisions.jsonl
  std::vector<StepDecisions> actual;    // TinyServe's
  DecisionsComparison comparison;
  int64_t engine_steps = 0;
  double loop_us_per_step = 0;      // TinyServe's wall time per engine step (the whole loop)
  double loop_cpu_us_per_step = 0;  // the same in CPU time (this process)
};

// overrides: --set style changes to the scenario (e.g. "scheduler.semantics=vllm-v0").
VllmReplay replay_vllm_record(const std::string& dir,
                              const std::vector<std::string>& overrides = {}, int context = 3);

}  // namespace tinyserve
