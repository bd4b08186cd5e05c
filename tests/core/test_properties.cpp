// Property tests: long random sequences of operations against each allocator, with the invariant
// checker after every operation.
#include <doctest/doctest.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "core/base/rng.h"
#include "core/memory/contiguous_allocator.h"
#include "core/memory/kv_cache_manager.h"

using namespace tinyserve;

namespace {

constexpr int kOperations = 100'000;

struct Driver {
  KvAllocator& kv;
  Rng rng;
  int32_t block_size;
  std::unordered_map<SeqId, std::vector<TokenId>> tokens;
  std::unordered_map<SeqId, int32_t> computed;
  std::vector<SeqId> live;
  SeqId next_id = 0;
  int64_t ops_done = 0;

  SeqId pick() { return live[static_cast<size_t>(rng.below(live.size()))]; }

  std::vector<TokenId> prompt() {
    // A few shared prefixes so the prefix cache sees hits, then a unique tail.
    std::vector<TokenId> t;
    const auto prefix = static_cast<TokenId>(rng.below(4));
    const auto shared = static_cast<int32_t>(rng.below(3)) * block_size;
    for (int32_t i = 0; i < shared; ++i) t.push_back(prefix * 1000 + i);
    const auto own = static_cast<int32_t>(rng.uniform_int(1, 3 * block_size));
    for (int32_t i = 0; i < own; ++i) t.push_back(1'000'000 + next_id * 100 + i);
    return t;
  }

  void step() {
    const uint64_t op = rng.below(100);
    if (op < 20 || live.empty()) {
      std::vector<TokenId> t = prompt();
      const AllocRequest req{t,
                             static_cast<int32_t>(t.size()) + static_cast<int32_t>(rng.below(20)),
                             static_cast<int32_t>(rng.uniform_int(1, 3))};
      if (kv.can_allocate(req) == AllocStatus::kOk) {
        const SeqId id = next_id++;
        const int32_t cached = kv.allocate(id, req);
        REQUIRE(cached % block_size == 0);
        REQUIRE(cached < static_cast<int32_t>(t.size()));
        computed[id] = cached;
        tokens[id] = std::move(t);
        live.push_back(id);
        ++ops_done;
      }
    } else if (op < 30) {
      const SeqId id = pick();
      auto& t = tokens[id];
      const auto upto =
          static_cast<int32_t>(rng.uniform_int(computed[id], static_cast<int64_t>(t.size())));
      kv.mark_computed(id, upto);
      computed[id] = upto;
      ++ops_done;
    } else if (op < 70) {
      const SeqId id = pick();
      if (kv.tier(id) == Tier::kGpu && kv.can_append(id)) {
        const int32_t before = kv.table(id).num_tokens;
        const AppendResult r = kv.append_slot(id);
        REQUIRE(kv.table(id).num_tokens == before + 1);
        REQUIRE(r.slot == kv.table(id).slot(before, block_size));
        tokens[id].push_back(static_cast<TokenId>(rng.below(50'000)));
        ++ops_done;
      }
    } else if (op < 78) {
      const SeqId id = pick();
      if (kv.tier(id) == Tier::kGpu && kv.can_fork(id)) {
        const SeqId child = next_id++;
        kv.fork(id, child);
        REQUIRE(kv.table(child).num_tokens == kv.table(id).num_tokens);
        tokens[child] = tokens[id];
        computed[child] = computed[id];
        live.push_back(child);
        ++ops_done;
      }
    } else if (op < 92) {
      const SeqId id = pick();
      kv.free(id);
      live.erase(std::find(live.begin(), live.end(), id));
      tokens.erase(id);
      computed.erase(id);
      ++ops_done;
    } else if (KvSwapper* sw = kv.swapper()) {
      const SeqId id = pick();
      const std::vector<SeqId> group = {id};
      if (kv.tier(id) == Tier::kGpu && sw->can_swap_out(group)) {
        const int32_t n = sw->blocks_to_swap(group);
        REQUIRE(static_cast<int32_t>(sw->swap_out(group).size()) == n);
        ++ops_done;
      } else if (kv.tier(id) == Tier::kCpu && sw->can_swap_in(group)) {
        const int32_t n = sw->blocks_to_swap(group);
        REQUIRE(static_cast<int32_t>(sw->swap_in(group).size()) == n);
        ++ops_done;
      }
    }
  }

  void run(int operations) {
    for (int i = 0; i < operations; ++i) {
      step();
      const std::string error = kv.check_invariants();
      if (!error.empty()) FAIL("operation " << i << ": " << error);
    }
    for (SeqId id : live) kv.free(id);
    REQUIRE(kv.check_invariants().empty());
    const PoolStats s = kv.stats();
    CHECK(s.used_blocks == 0);
    CHECK(s.cpu_used_blocks == 0);
    CHECK(s.stored_tokens == 0);
    CHECK(ops_done > operations / 2);
  }
};

}  // namespace

TEST_CASE("random operations keep the paged manager's invariants under every policy") {
  for (const auto& [policy, policy_name] : kFreeListPolicyNames) {
    for (bool prefix : {false, true}) {
      CAPTURE(to_string(policy));
      CAPTURE(prefix);
      KvCacheConfig c;
      c.block_size = 4;
      c.num_gpu_blocks = 64;
      c.num_cpu_blocks = 32;
      c.policy = policy;
      c.enable_prefix_caching = prefix;
      c.watermark = 0.05;
      c.seed = 11;
      c.check_invariants = false;  // checked explicitly after each operation
      KvCacheManager kv(c);
      Driver driver{kv, Rng(static_cast<uint64_t>(policy) * 2 + prefix), 4, {}, {}, {}, 0, 0};
      driver.run(kOperations);
      if (prefix) CHECK(kv.prefix_hit_tokens() > 0);
    }
  }
}

TEST_CASE("random operations keep the contiguous allocators' invariants") {
  for (Reservation r : {Reservation::kMaxLength, Reservation::kPowerOfTwo, Reservation::kExact}) {
    CAPTURE(to_string(r));
    ContiguousConfig c;
    c.block_size = 4;
    c.num_blocks = 96;
    c.max_model_len = 48;
    c.reservation = r;
    ContiguousAllocator kv(c);
    Driver driver{kv, Rng(static_cast<uint64_t>(r) + 100), 4, {}, {}, {}, 0, 0};
    driver.run(kOperations);
  }
}
