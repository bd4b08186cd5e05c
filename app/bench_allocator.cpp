// `tinyserve bench allocator`: block allocate+free pairs per second on the raw pool, and the cost
// of the KV-cache manager's operations in a mix of allocate/append/fork/free, per free-list policy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "app/commands.h"
#include "core/base/rng.h"
#include "core/memory/block_pool.h"
#include "core/memory/kv_cache_manager.h"

namespace tinyserve::app {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Steady state with half the pool live: each pair allocates a block and frees the one allocated
// `live` pairs earlier, so the free list is never trivially sorted.
double pairs_per_second(FreeListPolicy policy, int32_t num_blocks, int64_t pairs) {
  BlockPool pool(num_blocks, policy, 1);
  const int32_t live = num_blocks / 2;
  std::vector<BlockId> ring(static_cast<size_t>(live));
  for (BlockId& b : ring) b = pool.allocate();
  Rng rng(3);  // shuffle the live set so frees come back in a scattered order
  for (size_t i = ring.size(); i > 1; --i) std::swap(ring[i - 1], ring[rng.below(i)]);
  size_t k = 0;
  const auto start = Clock::now();
  for (int64_t i = 0; i < pairs; ++i) {
    const BlockId fresh = pool.allocate();
    pool.release(ring[k]);
    ring[k] = fresh;
    if (++k == ring.size()) k = 0;
  }
  const double elapsed = seconds_since(start);
  if (!pool.check().empty()) return -1;
  return static_cast<double>(pairs) / elapsed;
}

// A serving-like mix on the manager: prompts of 16..512 tokens with prefix caching, appends,
// forks and frees, ask-then-act, keeping the pool about two-thirds full.
double manager_ops_per_second(FreeListPolicy policy, int32_t num_blocks, int64_t ops) {
  KvCacheConfig c;
  c.block_size = 16;
  c.num_gpu_blocks = num_blocks;
  c.policy = policy;
  c.enable_prefix_caching = true;
  c.watermark = 0.01;
  c.check_invariants = false;
  KvCacheManager kv(c);
  Rng rng(7);
  std::vector<SeqId> live;
  std::vector<TokenId> prompt;
  SeqId next = 0;
  int64_t done = 0;
  const auto start = Clock::now();
  while (done < ops) {
    const uint64_t op = rng.below(100);
    const bool full = kv.gpu_pool().num_used() * 3 > num_blocks * 2;
    if (op < 4 && !full) {
      prompt.clear();
      const auto shared = static_cast<int32_t>(rng.below(4)) * 64;
      for (int32_t i = 0; i < shared; ++i) prompt.push_back(i);
      const auto own = static_cast<int32_t>(rng.uniform_int(16, 512));
      for (int32_t i = 0; i < own; ++i) prompt.push_back(100'000 + next * 512 + i);
      const AllocRequest req{prompt, static_cast<int32_t>(prompt.size()), 1};
      if (kv.can_allocate(req) == AllocStatus::kOk) {
        kv.allocate(next, req);
        kv.mark_computed(next, static_cast<int32_t>(prompt.size()));
        live.push_back(next++);
      }
    } else if (live.empty()) {
      continue;
    } else if (op < 94) {
      const SeqId id = live[rng.below(live.size())];
      if (kv.can_append(id)) kv.append_slot(id);
    } else if (op < 96 && !full) {
      kv.fork(live[rng.below(live.size())], next);
      live.push_back(next++);
    } else {
      const size_t i = rng.below(live.size());
      kv.free(live[i]);
      live[i] = live.back();
      live.pop_back();
    }
    ++done;
  }
  const double elapsed = seconds_since(start);
  if (!kv.check_invariants().empty()) return -1;
  return static_cast<double>(done) / elapsed;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int bench_allocator(const BenchAllocatorOptions& options) {
  std::printf(
      "tinyserve bench allocator: %d blocks, %lld pairs and %lld manager operations per "
      "run, median of %d runs, one thread\n\n",
      options.num_blocks, static_cast<long long>(options.pairs),
      static_cast<long long>(options.mix_ops), options.repetitions);
  std::printf("%-9s %16s %10s %18s %10s\n", "policy", "alloc+free /s", "ns/pair", "manager ops /s",
              "ns/op");
  for (const auto& [policy, policy_name] : kFreeListPolicyNames) {
    const std::string name(to_string(policy));
    if (!options.policies.empty() && std::find(options.policies.begin(), options.policies.end(),
                                               name) == options.policies.end()) {
      continue;
    }
    std::vector<double> pairs, mix;
    for (int32_t r = 0; r < options.repetitions; ++r) {
      pairs.push_back(pairs_per_second(policy, options.num_blocks, options.pairs));
      mix.push_back(manager_ops_per_second(policy, options.num_blocks, options.mix_ops));
      if (pairs.back() < 0 || mix.back() < 0) {
        std::fprintf(stderr, "tinyserve: internal error: invariants broken during the benchmark\n");
        return kExitFailure;
      }
    }
    const double p = median(pairs), m = median(mix);
    std::printf("%-9s %16.3e %10.1f %18.3e %10.1f\n", name.c_str(), p, 1e9 / p, m, 1e9 / m);
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace tinyserve::app
