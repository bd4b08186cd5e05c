// Soak: the whole Azure conversation trace (19,366 requests, 120,625 steps) with the invariant
// checker after every step, and memory that stays flat once the run has warmed up.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "core/config/scenario.h"
#include "core/engine/engine.h"

using namespace tinyserve;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace

TEST_CASE("the whole Azure conversation trace keeps every invariant, with flat memory") {
  Scenario s = load_scenario(std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/azure_conv.toml");
  s.engine.check_invariants = true;  // after every step (not every operation, even in debug builds)
  std::vector<RequestSpec> requests = load_requests(s);
  // Under AddressSanitizer (10x slower, and its quarantine holds freed memory) a fifth of it.
  if (kSanitized) requests.resize(requests.size() / 5);
  const size_t total = requests.size();
  Engine e(s.engine, std::move(requests), std::make_unique<AccountingBackend>());
  std::vector<int64_t> rss;
  size_t next_sample = total / 4;
  while (!e.done()) {
    e.step();
    if (static_cast<size_t>(e.num_done()) >= next_sample) {
      rss.push_back(resident_bytes());
      next_sample += total / 4;
    }
  }
  CHECK(e.check_invariants().empty());
  CHECK(e.num_done() == static_cast<int64_t>(total));
  CHECK(e.summary().finished == static_cast<int64_t>(total));
  REQUIRE(rss.size() >= 3);
  std::printf(
      "soak: %lld steps; resident memory at 1/4, 2/4, 3/4, 4/4 of the requests: %lld %lld %lld "
      "%lld KiB\n",
      static_cast<long long>(e.steps()), static_cast<long long>(rss[0] >> 10),
      static_cast<long long>(rss[1] >> 10), static_cast<long long>(rss[2] >> 10),
      static_cast<long long>(rss.back() >> 10));
  if (!kSanitized) CHECK(rss.back() - rss.front() < (int64_t{8} << 20));  // < 8 MiB after warm-up
}
