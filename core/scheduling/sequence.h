// Runtime state of a request (a sequence group) and its sequences (samples or beams).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/base/ids.h"

namespace tinyserve {

enum class GroupStatus : uint8_t { kPending, kWaiting, kRunning, kSwapped, kFinished, kRejected };

struct Sequence {
  SeqId id = kNoSeq;
  std::vector<TokenId> tokens;          // prompt, then generated tokens
  int32_t num_computed = 0;             // leading tokens whose K/V is in the cache
  double score = 0.0;                   // beam search: cumulative log-probability
  std::vector<BlockHash> block_hashes;  // hash chain of full blocks of tokens (prefix caching)
};

struct SequenceGroup {
  int64_t request = 0;
  double arrival = 0.0;
  int32_t prompt_len = 0;
  int32_t output_len = 1;
  int32_t n = 1;
  int32_t beam_width = 1;
  int32_t priority = 0;

  GroupStatus status = GroupStatus::kPending;
  std::vector<Sequence> seqs;
  bool in_prefill = true;   // computing its tokens before sampling the next one
  bool fanned_out = false;  // samples / beams forked from the first sequence
  int64_t admitted = -1;    // admission order (higher: more recent)
  int32_t preemptions = 0;
  int32_t cached_tokens = -1;  // prompt tokens found in the prefix cache at first admission
  // vllm-v1 under asynchronous scheduling (vLLM's Request fields of the same names).
  int32_t placeholders = 0;  // num_output_placeholders: tokens sampled by steps still in flight
  int32_t in_flight = 0;     // num_in_flight_tokens: tokens scheduled by steps still in flight
  int32_t stale = 0;         // num_stale_output_tokens: in-flight tokens from before a preemption
  double first_token_time = -1.0;
  double finish_time = -1.0;

  int32_t max_seqs() const { return std::max(n, beam_width); }
  int32_t final_len() const { return prompt_len + output_len; }
  int32_t generated(const Sequence& s) const {
    return static_cast<int32_t>(s.tokens.size()) - prompt_len;
  }
  bool is_beam_search() const { return beam_width > 1; }
};

}  // namespace tinyserve
