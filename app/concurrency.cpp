// `tinyserve concurrency`: the seed's max-concurrency stress test (core/config/concurrency.h) for a
// memory budget, a model, a KV dtype and a length distribution: the seed's batch ladder (memory and
// efficiency at each batch size) and each allocator's exact maximum.
#include "core/config/concurrency.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "app/commands.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/model.h"
#include "core/text/text_file.h"

namespace tinyserve::app {

int concurrency(const ConcurrencyOptions& o) {
  const ModelSpec model = find_model(o.model);
  DType kv_dtype = model.dtype;
  if (o.kv_dtype != "auto" && !parse_dtype(o.kv_dtype, kv_dtype)) {
    throw InputError("--kv-cache-dtype", 0, cat("unknown dtype ", quoted(o.kv_dtype)));
  }
  LengthDist lengths = seed_mix();
  if (o.lengths == "uniform") {
    lengths.kind = LengthKind::kUniform;
    lengths.min = o.min_len.value_or(64);
    lengths.max = o.max_len.value_or(4096);
    if (lengths.max < lengths.min) {
      throw InputError("--max-len", 0,
                       cat("expected at least --min-len (", lengths.min, "), found ", lengths.max));
    }
  } else if (o.min_len || o.max_len) {
    throw InputError(o.min_len ? "--min-len" : "--max-len", 0,
                     "applies to --lengths uniform; the seed's mix is fixed (90% of lengths in "
                     "[64, 512], 10% in [2048, 4096])");
  }
  const int64_t block_bytes = model.kv_bytes_per_token(kv_dtype) * o.block_size;
  const auto num_blocks =
      static_cast<int64_t>(o.budget_gb * 1e9 / static_cast<double>(block_bytes));
  const int32_t max_len = o.max_model_len > 0 ? o.max_model_len : longest_length(lengths);
  if (num_blocks < 1) {
    throw InputError("--budget-gb", 0,
                     cat(o.budget_gb, " GB holds no block of ", o.block_size, " tokens of ",
                         model.name, " (", block_bytes, " bytes)"));
  }
  // Progress on long draws: a line rewritten every 0.2 s on a terminal, a line every 5 s otherwise.
  const bool tty = isatty(fileno(stderr)) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  bool shown = false;
  const ConcurrencyResult r = max_concurrency(
      num_blocks, o.block_size, lengths, max_len, o.seed, [&](int64_t users, int64_t bound) {
        const auto now = std::chrono::steady_clock::now();
        if (now - last < std::chrono::milliseconds(tty ? 200 : 5000)) return;
        last = now;
        shown = true;
        std::fprintf(
            stderr,
            tty ? "\rdrawing users: %lld (at most %lld)  " : "drawing users: %lld (at most %lld)\n",
            static_cast<long long>(users), static_cast<long long>(bound));
      });
  if (tty && shown) std::fputc('\n', stderr);

  std::printf(
      "Max-concurrency stress test: %s, KV cache %s (%lld bytes/token), budget %.6g GB = "
      "%lld blocks of %d tokens, lengths %s (capped at %d), seed %llu\n\n",
      model.name.c_str(), std::string(dtype_name(kv_dtype)).c_str(),
      static_cast<long long>(model.kv_bytes_per_token(kv_dtype)), o.budget_gb,
      static_cast<long long>(num_blocks), o.block_size,
      o.lengths == "seed-mix" ? "90% uniform [64, 512] + 10% uniform [2048, 4096]"
                              : cat("uniform [", lengths.min, ", ", lengths.max, "]").c_str(),
      max_len, static_cast<unsigned long long>(o.seed));
  auto gb = [&](int64_t blocks) { return static_cast<double>(blocks * block_bytes) / 1e9; };
  auto efficiency = [&](const ConcurrencyRung& rung) {
    return rung.blocks > 0 ? 100.0 * static_cast<double>(rung.tokens) /
                                 (static_cast<double>(rung.blocks) * o.block_size)
                           : 0.0;
  };
  std::printf("%-9s", "batch");
  for (const ConcurrencyContender& c : r.contenders) std::printf(" | %-28s", c.name.c_str());
  std::printf("\n");
  for (size_t i = 0; i < r.ladder.size(); ++i) {
    bool any = false;
    std::string row;
    char cell[64];
    for (const ConcurrencyContender& c : r.contenders) {
      if (i < c.ladder.size()) {
        std::snprintf(cell, sizeof cell, " | %9.2f GB  eff %6.2f%%    ", gb(c.ladder[i].blocks),
                      efficiency(c.ladder[i]));
        any = true;
      } else if (i == c.ladder.size()) {
        std::snprintf(cell, sizeof cell, " | %-28s", "FAIL (out of memory)");
      } else {
        std::snprintf(cell, sizeof cell, " | %-28s", "");
      }
      row += cell;
    }
    std::printf("%-9lld%s\n", static_cast<long long>(r.ladder[i]), row.c_str());
    if (!any) break;  // every allocator has failed: the row says so, the ladder ends
  }
  std::printf("\n%-30s %10s %12s %12s\n", "allocator", "max users", "memory", "efficiency");
  for (const ConcurrencyContender& c : r.contenders) {
    std::printf("%-30s %10lld %9.2f GB %11.2f%%\n", c.name.c_str(),
                static_cast<long long>(c.at_max.users), gb(c.at_max.blocks), efficiency(c.at_max));
  }
  const int64_t paged = r.contenders.back().at_max.users;
  const int64_t baseline = r.contenders.front().at_max.users;
  if (paged == 0) {
    std::printf(
        "\nno allocator fits a single user: the first user needs more than the %lld blocks\n",
        static_cast<long long>(num_blocks));
  } else if (baseline == 0) {
    std::printf(
        "\npaged serves %lld concurrent users; contiguous max-length reservation (%d tokens "
        "a user) fits none\n",
        static_cast<long long>(paged), max_len);
  } else {
    std::printf(
        "\npaged serves %.1fx the concurrent users of contiguous max-length reservation "
        "(%lld vs %lld)\n",
        static_cast<double>(paged) / static_cast<double>(baseline), static_cast<long long>(paged),
        static_cast<long long>(baseline));
  }
  return kExitOk;
}

}  // namespace tinyserve::app
