// A request as a workload or a trace describes it, before the engine admits it. Prompt token ids
// are synthetic but content-addressed: a prompt is a list of segments, and the tokens of a segment
// depend only on (segment content id, offset), so requests that share a segment (a system prompt,
// a Mooncake hash id) share token ids, and the prefix cache sees the sharing whatever the block
// size. Tokens are materialised only when a request is admitted.
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/ids.h"
#include "core/base/rng.h"

namespace tinyserve {

inline constexpr int32_t kVocabSize = 128'000;

struct PromptSegment {
  uint64_t content = 0;  // content id: equal ids mean equal tokens
  int32_t length = 0;    // tokens
};

inline TokenId segment_token(uint64_t content, int32_t offset) {
  return static_cast<TokenId>(
      splitmix64(content ^ (static_cast<uint64_t>(offset) * 0xd1b54a32d192ed03ull)) % kVocabSize);
}

struct RequestSpec {
  int64_t id = 0;
  double arrival = 0.0;               // simulated seconds since the start of the run
  std::vector<PromptSegment> prompt;  // concatenated in order
  int32_t output_len = 1;             // tokens to generate per sample / beam
  int32_t n = 1;                      // parallel samples (forked after the prompt, sharing it)
  int32_t beam_width = 1;             // beam search width (1: no beam search)
  int32_t priority = 0;               // lower is more important (as vLLM)

  int32_t prompt_len() const {
    int32_t len = 0;
    for (const PromptSegment& s : prompt) len += s.length;
    return len;
  }
};

inline void append_prompt_tokens(const RequestSpec& request, std::vector<TokenId>& out) {
  for (const PromptSegment& s : request.prompt) {
    for (int32_t i = 0; i < s.length; ++i) out.push_back(segment_token(s.content, i));
  }
}

}  // namespace tinyserve
