// The per-step decision record that the vLLM reference harness writes (tools/vllm_reference/
// README.md defines every field), written by TinyServe for the same steps, read back, and
// compared column by column (docs/fidelity.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tinyserve {

struct StepDecisions {
  int64_t step = 0;               // the step clock (engine.clock = "steps"), else the step index
  int32_t decode_reqs = 0;        // 1 token, whole prompt computed before, samples
  int64_t prefill_tokens = 0;     // every other scheduled token
  int32_t running = 0;            // requests running right after scheduling
  int32_t waiting = 0;            // requests waiting right after scheduling
  uint64_t scheduled_digest = 0;  // scheduled_digest() of (request, tokens scheduled)
  std::vector<int64_t> admitted, preempted, finished;  // request ids, in order
  int32_t blocks_in_use = 0;                           // usable blocks held right after scheduling
  int32_t blocks_in_use_end = 0;  // the same once the step's outputs are applied
  int64_t prefix_queries = 0;     // tokens looked up by this step's admissions
  int64_t prefix_hits = 0;        // of which found in the prefix cache
  int64_t evicted_blocks = 0;     // cached blocks evicted to make room

  // Something was scheduled or finished: the harness writes only such steps.
  bool recorded() const { return decode_reqs > 0 || prefill_tokens > 0 || !finished.empty(); }
  bool operator==(const StepDecisions&) const = default;
};

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;

// FNV-1a 64 over the little-endian bytes of each (int64 request, int64 tokens) pair, pairs in
// ascending request order (sorts pairs in place).
uint64_t scheduled_digest(std::vector<std::pair<int64_t, int64_t>>& pairs);

// One line of decisions.jsonl (no newline), as the harness writes it.
std::string decisions_json(const StepDecisions& d);
// Reads decisions.jsonl; InputError naming the line on a malformed one.
std::vector<StepDecisions> read_decisions(const std::string& path);

// The names of the compared columns, in the order the record lists them.
std::span<const char* const> decision_columns();

struct DecisionsComparison {
  int64_t expected_steps = 0, actual_steps = 0;
  int64_t identical_steps = 0;    // steps (by step number) whose every column agrees
  int64_t first_divergence = -1;  // index into expected, -1: none
  std::string report;  // the first divergence with a few steps of context, "" when identical
  bool identical() const { return first_divergence < 0 && expected_steps == actual_steps; }
};

// Compares two records step by step (matched by position); context: steps shown either side.
DecisionsComparison compare_decisions(std::span<const StepDecisions> expected,
                                      std::span<const StepDecisions> actual, int context = 3);

}  // namespace tinyserve
