// The tokens a step produces: synthetic sampling (deterministic per request, sequence and
// position), parallel sampling (n samples forked from the prompt) and beam search (every beam
// proposes beam_width continuations, the best beam_width survive), through the allocator's forks
// and frees. Fork copies that a contiguous allocator reports are executed by the next step.
// Under vllm-v1 semantics the j-th token of a request is output_token(request, j), as the vLLM
// reference harness samples (core/workload/request.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/base/rng.h"
#include "core/base/semantics.h"
#include "core/memory/kv_allocator.h"
#include "core/scheduling/events.h"
#include "core/scheduling/sequence.h"

namespace tinyserve {

class Sampler {
 public:
  Sampler(uint64_t seed, KvAllocator& allocator, std::vector<Event>& events,
          Semantics semantics = Semantics::kVllmV0);

  // Events carry the step and time they happen at.
  void set_clock(int64_t step, double now) {
    step_ = step;
    now_ = now;
  }
  SeqId new_seq_id() { return next_seq_++; }

  // The first sampling after the prompt: one token, or n samples / the first beam_width beams
  // forked from the first sequence (sharing its blocks). Returns the tokens generated.
  int64_t first_tokens(SequenceGroup& g);
  // One decode step of a group whose sequences each computed their last token. Returns the
  // tokens generated.
  int64_t next_tokens(SequenceGroup& g);

  // Fork copies made since the last call (to execute in the next step's plan).
  std::vector<BlockCopy> take_copies();
  bool has_copies() const { return !copies_.empty(); }
  int64_t num_pending_copies() const { return static_cast<int64_t>(copies_.size()); }
  const std::vector<BlockCopy>& pending_copies() const { return copies_; }

 private:
  TokenId sample(const SequenceGroup& g, const Sequence& s, uint64_t candidate = 0) const;
  SeqId fork(SequenceGroup& group, size_t parent);
  int64_t beam_step(SequenceGroup& g);

  uint64_t seed_;
  Semantics semantics_;
  Rng rng_;
  KvAllocator& allocator_;
  std::vector<Event>& events_;
  std::vector<BlockCopy> copies_;
  SeqId next_seq_ = 0;
  int64_t step_ = 0;
  double now_ = 0.0;
};

}  // namespace tinyserve
