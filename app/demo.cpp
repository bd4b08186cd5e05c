// `tinyserve demo`: a short walk through the paged KV-cache manager, printing the block map after
// each operation (allocation, fork, copy-on-write, prefix hit, free, swap).
#include <cstdio>
#include <vector>

#include "app/commands.h"
#include "core/memory/block_map.h"
#include "core/memory/kv_cache_manager.h"

namespace tinyserve::app {

namespace {
std::vector<TokenId> range(TokenId first, int32_t n) {
  std::vector<TokenId> t;
  for (int32_t i = 0; i < n; ++i) t.push_back(first + i);
  return t;
}
}  // namespace

int block_map_demo() {
  KvCacheConfig c;
  c.block_size = 4;
  c.num_gpu_blocks = 24;
  c.num_cpu_blocks = 8;
  c.enable_prefix_caching = true;
  c.watermark = 0;
  KvCacheManager kv(c);
  // Each sequence keeps its letter from frame to frame: A is seq 0, B seq 1, C seq 2.
  const std::vector<SeqId> named = {0, 1, 2};
  auto show = [&](const char* what) {
    std::printf("== %s\n%s\n", what, dump_block_map(kv, 24, named).c_str());
  };

  const std::vector<TokenId> system = range(1, 8);
  std::vector<TokenId> a = system, b = system;
  for (TokenId t : range(100, 5)) a.push_back(t);
  for (TokenId t : range(200, 6)) b.push_back(t);

  kv.allocate(0, AllocRequest{a, 20, 1});
  kv.mark_computed(0, static_cast<int32_t>(a.size()));
  show("seq 0: a 13-token prompt (8 of them a shared system prompt) takes 4 blocks of 4 slots");
  const int32_t hit = kv.allocate(1, AllocRequest{b, 20, 1});
  std::printf("seq 1 found %d prompt tokens in the prefix cache\n", hit);
  show("seq 1: a 14-token prompt with the same system prompt shares its 2 full blocks");
  kv.fork(0, 2);
  show("seq 2: a parallel sample forked from seq 0 shares all of its blocks");
  const AppendResult r = kv.append_slot(2);
  std::printf("copy-on-write: block %d copied to block %d before seq 2 writes slot %lld\n",
              r.cow.src, r.cow.dst, static_cast<long long>(r.slot));
  show("seq 2 appends a token: its shared last block is copied first");
  const std::vector<SeqId> group = {1};
  kv.swap_out(group);
  show("seq 1 is preempted by swapping: its blocks move to the CPU pool");
  kv.free(0);
  kv.free(2);
  show("seqs 0 and 2 finish: full prompt blocks stay cached (c) for later hits");
  if (!kv.can_swap_in(group)) return kExitFailure;
  kv.swap_in(group);
  show("seq 1 is swapped back in: its blocks return to the GPU pool");
  kv.free(1);
  show("seq 1 finishes: only cached prompt blocks remain");
  const bool empty = kv.live_seqs().empty() && kv.stats().cpu_used_blocks == 0;
  return kv.check_invariants().empty() && empty ? kExitOk : kExitFailure;
}

}  // namespace tinyserve::app
