// `tinyserve fidelity DIR...`: replays records of the vLLM reference harness (workload.jsonl,
// config.json, decisions.jsonl) under vllm-v1 semantics and compares every step's decisions.
#include <cstdio>
#include <set>

#include "app/commands.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/engine/vllm_replay.h"

namespace tinyserve::app {

namespace {

int64_t count_ids(const std::vector<StepDecisions>& steps, std::vector<int64_t> StepDecisions::*f) {
  int64_t n = 0;
  for (const StepDecisions& d : steps) n += static_cast<int64_t>((d.*f).size());
  return n;
}

int64_t evictions(const std::vector<StepDecisions>& steps) {
  int64_t n = 0;
  for (const StepDecisions& d : steps) n += d.evicted_blocks;
  return n;
}

// Requests that finish in the same step in both records, of those vLLM finished.
std::pair<int64_t, int64_t> same_finish_steps(const VllmReplay& r) {
  std::set<std::pair<int64_t, int64_t>> vllm, ours;
  for (const StepDecisions& d : r.expected) {
    for (int64_t id : d.finished) vllm.emplace(id, d.step);
  }
  for (const StepDecisions& d : r.actual) {
    for (int64_t id : d.finished) ours.emplace(id, d.step);
  }
  int64_t same = 0;
  for (const auto& p : vllm) same += ours.contains(p);
  return {same, static_cast<int64_t>(vllm.size())};
}

}  // namespace

int fidelity(const FidelityOptions& o) {
  bool all_identical = true;
  std::printf("%-28s %17s %13s %15s %15s %9s %9s\n", "record", "identical steps", "preemptions",
              "evictions", "finish steps", "us/step", "cpu us");
  for (const std::string& dir : o.dirs) {
    const std::string name = dir.substr(dir.find_last_of('/', dir.size() - 2) + 1);
    VllmReplay r;
    try {
      r = replay_vllm_record(dir, o.overrides, o.context);
    } catch (const InputError& e) {  // this record cannot be replayed so: say why, go on
      std::printf("%-28s %s\n", name.c_str(), e.what());
      all_identical = false;
      continue;
    }
    const auto [same, finished] = same_finish_steps(r);
    std::printf("%-28s %8lld/%-8lld %6lld/%-6lld %7lld/%-7lld %7lld/%-7lld %9.2f %9.2f\n",
                name.c_str(), static_cast<long long>(r.comparison.identical_steps),
                static_cast<long long>(r.comparison.expected_steps),
                static_cast<long long>(count_ids(r.actual, &StepDecisions::preempted)),
                static_cast<long long>(count_ids(r.expected, &StepDecisions::preempted)),
                static_cast<long long>(evictions(r.actual)),
                static_cast<long long>(evictions(r.expected)), static_cast<long long>(same),
                static_cast<long long>(finished), r.loop_us_per_step, r.loop_cpu_us_per_step);
    if (!r.comparison.identical()) {
      all_identical = false;
      if (o.show_divergence) std::printf("%s", r.comparison.report.c_str());
    }
  }
  std::printf(
      "columns: TinyServe/vLLM (identical steps: of vLLM's recorded steps; finish steps: "
      "requests finishing in the same step, of vLLM's); TinyServe's wall and CPU time per engine "
      "step\n");
  return all_identical ? kExitOk : kExitFailure;
}

}  // namespace tinyserve::app
