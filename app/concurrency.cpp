// `tinyserve concurrency`: the seed's max-concurrency stress test. For a memory budget, a model
// and a length distribution, users (one sequence each, of a length drawn from the distribution)
// are admitted one after another until the allocator refuses one; the same draw of lengths feeds
// every allocator. Prints the seed's batch ladder (memory and efficiency at each batch size) and
// each allocator's exact maximum.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "core/memory/contiguous_allocator.h"
#include "core/base/errors.h"
#include "core/memory/kv_cache_manager.h"
#include "core/config/model.h"
#include "core/workload/workload.h"

namespace tinyserve::app {

namespace {

struct Contender {
  std::string name;
  std::unique_ptr<KvAllocator> allocator;
  int64_t max_users = 0;
  double bytes_at_max = 0, efficiency_at_max = 0;
  std::vector<std::pair<double, double>> ladder;  // (bytes, efficiency) per ladder batch
};

std::vector<int64_t> seed_ladder(int64_t limit) {
  std::vector<int64_t> ladder = {100, 200, 300, 400, 500, 1000};
  for (int64_t b = 2000; b <= limit; b += 100) ladder.push_back(b);
  return ladder;
}

}  // namespace

int concurrency(const ConcurrencyOptions& o) {
  const ModelSpec model = find_model(o.model);
  const LengthDist lengths_dist = o.lengths == "seed-mix" ? seed_mix() : [&] {
    LengthDist d;
    d.kind = LengthKind::kUniform;
    d.min = o.min_len;
    d.max = o.max_len;
    return d;
  }();
  const int64_t block_bytes = model.bytes_per_token() * o.block_size;
  const double budget = o.budget_gb * 1e9;
  const auto num_blocks = static_cast<int32_t>(budget / static_cast<double>(block_bytes));
  if (num_blocks < 1) throw InputError("--budget-gb", 0, "the budget holds no block of this model");
  const int32_t max_len = o.max_model_len > 0 ? o.max_model_len : std::max(lengths_dist.max, lengths_dist.long_max);
  // Enough users for the paged allocator to run out of memory.
  const auto limit = static_cast<int64_t>(num_blocks) * o.block_size / std::max(lengths_dist.min, 1) + 1;
  const std::vector<int32_t> lengths = sample_lengths(lengths_dist, limit, o.seed);

  std::vector<Contender> contenders;
  for (Reservation r : {Reservation::kMaxLength, Reservation::kPowerOfTwo, Reservation::kExact}) {
    ContiguousConfig c;
    c.block_size = o.block_size;
    c.num_blocks = num_blocks;
    c.max_model_len = max_len;
    c.reservation = r;
    contenders.push_back({"contiguous " + std::string(to_string(r)), std::make_unique<ContiguousAllocator>(c), 0, 0, 0, {}});
  }
  KvCacheConfig p;
  p.block_size = o.block_size;
  p.num_gpu_blocks = num_blocks;
  p.watermark = 0;
  p.check_invariants = false;
  contenders.push_back({"paged (block " + std::to_string(o.block_size) + ")", std::make_unique<KvCacheManager>(p), 0, 0, 0, {}});

  const std::vector<int64_t> ladder = seed_ladder(limit);
  const std::vector<TokenId> tokens(static_cast<size_t>(max_len) + 1, 0);
  for (Contender& c : contenders) {
    size_t rung = 0;
    for (int64_t user = 0; user < static_cast<int64_t>(lengths.size()); ++user) {
      const int32_t len = std::min(lengths[static_cast<size_t>(user)], max_len);
      const AllocRequest req{std::span<const TokenId>(tokens).first(static_cast<size_t>(len)), len, 1};
      if (c.allocator->can_allocate(req) != AllocStatus::kOk) break;
      c.allocator->allocate(static_cast<SeqId>(user), req);
      c.max_users = user + 1;
      const PoolStats s = c.allocator->stats();
      c.bytes_at_max = static_cast<double>(s.used_blocks) * static_cast<double>(block_bytes);
      c.efficiency_at_max = static_cast<double>(s.stored_tokens) / (static_cast<double>(s.used_blocks) * o.block_size);
      if (rung < ladder.size() && c.max_users == ladder[rung]) {
        c.ladder.emplace_back(c.bytes_at_max, c.efficiency_at_max);
        ++rung;
      }
    }
  }

  std::printf("Max-concurrency stress test: %s (%lld bytes/token), budget %.2f GB = %d blocks of %d "
              "tokens, lengths %s (max %d), seed %llu\n\n",
              model.name.c_str(), static_cast<long long>(model.bytes_per_token()), o.budget_gb,
              num_blocks, o.block_size,
              o.lengths == "seed-mix" ? "90% uniform [64, 512] + 10% uniform [2048, 4096]" : "uniform",
              max_len, static_cast<unsigned long long>(o.seed));
  std::printf("%-8s", "batch");
  for (const Contender& c : contenders) std::printf(" | %-28s", c.name.c_str());
  std::printf("\n");
  for (size_t i = 0; i < ladder.size(); ++i) {
    bool any = false;
    std::string row;
    char cell[64];
    for (const Contender& c : contenders) {
      if (i < c.ladder.size()) {
        std::snprintf(cell, sizeof cell, " | %7.2f GB  eff %6.2f%%      ", c.ladder[i].first / 1e9, 100 * c.ladder[i].second);
        any = true;
      } else if (i == c.ladder.size()) {
        std::snprintf(cell, sizeof cell, " | %-28s", "FAIL (out of memory)");
      } else {
        std::snprintf(cell, sizeof cell, " | %-28s", "");
      }
      row += cell;
    }
    std::printf("%-8lld%s\n", static_cast<long long>(ladder[i]), row.c_str());
    if (!any) break;
  }
  std::printf("\n%-30s %10s %12s %12s\n", "allocator", "max users", "memory", "efficiency");
  for (const Contender& c : contenders) {
    std::printf("%-30s %10lld %9.2f GB %11.2f%%\n", c.name.c_str(), static_cast<long long>(c.max_users),
                c.bytes_at_max / 1e9, 100 * c.efficiency_at_max);
  }
  const Contender& paged = contenders.back();
  const Contender& baseline = contenders.front();
  std::printf("\npaged serves %.1fx the concurrent users of contiguous max-length reservation (%lld vs %lld)\n",
              static_cast<double>(paged.max_users) / static_cast<double>(std::max<int64_t>(baseline.max_users, 1)),
              static_cast<long long>(paged.max_users), static_cast<long long>(baseline.max_users));
  return kExitOk;
}

}  // namespace tinyserve::app
