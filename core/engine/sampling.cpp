#include "core/engine/sampling.h"

#include <algorithm>
#include <cmath>

#include "core/workload/request.h"

namespace tinyserve {

Sampler::Sampler(uint64_t seed, KvAllocator& allocator, std::vector<Event>& events,
                 Semantics semantics)
    : seed_(seed),
      semantics_(semantics),
      rng_(seed ^ 0xb5ad4eceda1ce2a9ull),
      allocator_(allocator),
      events_(events) {}

TokenId Sampler::sample(const SequenceGroup& g, const Sequence& s, uint64_t candidate) const {
  if (semantics_ == Semantics::kVllmV1) return output_token(g.request, g.generated(s));
  uint64_t h = hash_combine(seed_, static_cast<uint64_t>(g.request));
  h = hash_combine(h, static_cast<uint64_t>(s.id));
  h = hash_combine(h, s.tokens.size() * 8 + candidate);
  return static_cast<TokenId>(h % kVocabSize);
}

std::vector<BlockCopy> Sampler::take_copies() {
  std::vector<BlockCopy> out;
  out.swap(copies_);
  return out;
}

SeqId Sampler::fork(SequenceGroup& group, size_t parent) {
  Sequence child;
  child.id = new_seq_id();
  child.tokens = group.seqs[parent].tokens;
  child.num_computed = group.seqs[parent].num_computed;
  child.score = group.seqs[parent].score;
  child.block_hashes = group.seqs[parent].block_hashes;
  const std::vector<BlockCopy> copies = allocator_.fork(group.seqs[parent].id, child.id);
  copies_.insert(copies_.end(), copies.begin(), copies.end());
  events_.push_back(
      {step_, now_, EventKind::kFork, group.request, child.id, group.seqs[parent].id, 0});
  group.seqs.push_back(std::move(child));
  return group.seqs.back().id;
}

int64_t Sampler::first_tokens(SequenceGroup& g) {
  if (g.fanned_out || g.max_seqs() == 1) {
    Sequence& seq = g.seqs.front();
    seq.tokens.push_back(sample(g, seq));
    return 1;
  }
  g.fanned_out = true;
  const auto width = static_cast<size_t>(g.max_seqs());
  for (size_t i = 1; i < width; ++i) fork(g, 0);
  for (size_t i = 0; i < g.seqs.size(); ++i) {
    Sequence& seq = g.seqs[i];
    if (g.is_beam_search()) {
      seq.score = std::log(rng_.uniform01() * 0.5 + 0.5) - static_cast<double>(i);
    }
    seq.tokens.push_back(sample(g, seq, i));
  }
  return static_cast<int64_t>(g.seqs.size());
}

int64_t Sampler::next_tokens(SequenceGroup& g) {
  if (g.is_beam_search()) return beam_step(g);
  for (Sequence& seq : g.seqs) seq.tokens.push_back(sample(g, seq));
  return static_cast<int64_t>(g.seqs.size());
}

// A beam chosen k times is forked k - 1 times; a beam never chosen is freed.
int64_t Sampler::beam_step(SequenceGroup& g) {
  const auto width = static_cast<size_t>(g.beam_width);
  struct Candidate {
    double score;
    size_t beam;
    size_t index;
  };
  std::vector<Candidate> candidates;
  for (size_t b = 0; b < g.seqs.size(); ++b) {
    for (size_t c = 0; c < width; ++c) {
      const double u = rng_.uniform01();
      candidates.push_back({g.seqs[b].score + std::log1p(-u * 0.999), b, c});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& x, const Candidate& y) { return x.score > y.score; });
  candidates.resize(std::min(width, candidates.size()));
  std::vector<std::vector<const Candidate*>> chosen(g.seqs.size());
  for (const Candidate& c : candidates) chosen[c.beam].push_back(&c);

  // Free the beams nobody chose first (their regions serve the forks of contiguous allocators).
  std::vector<Sequence> kept;
  std::vector<std::vector<const Candidate*>> kept_choices;
  for (size_t b = 0; b < g.seqs.size(); ++b) {
    if (chosen[b].empty()) {
      events_.push_back({step_, now_, EventKind::kFree, g.request, g.seqs[b].id,
                         static_cast<int64_t>(allocator_.table(g.seqs[b].id).blocks.size()), 0});
      allocator_.free(g.seqs[b].id);
    } else {
      kept.push_back(std::move(g.seqs[b]));
      kept_choices.push_back(std::move(chosen[b]));
    }
  }
  g.seqs = std::move(kept);
  const size_t parents = g.seqs.size();
  for (size_t b = 0; b < parents; ++b) {
    const auto& picks = kept_choices[b];
    for (size_t k = 1; k < picks.size(); ++k) {
      fork(g, b);
      Sequence& child = g.seqs.back();
      child.score = picks[k]->score;
      child.tokens.push_back(sample(g, child, picks[k]->index));
    }
    Sequence& parent = g.seqs[b];
    parent.score = picks[0]->score;
    parent.tokens.push_back(sample(g, parent, picks[0]->index));
  }
  return static_cast<int64_t>(g.seqs.size());
}

}  // namespace tinyserve
