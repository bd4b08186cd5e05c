#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>

#include "app/capacity_commands.h"
#include "app/search_plan.h"
#include "core/base/errors.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

// Runs a bisection against "passes while value <= threshold", k probes a round.
Bisection run(double lo, double hi, double precision, double threshold, int k,
              int* rounds = nullptr) {
  Bisection b(lo, hi, precision);
  int round = 0;
  for (; round < 100; ++round) {
    const std::vector<double> values = b.next(k);
    if (values.empty()) break;
    for (double v : values) b.record(v, v <= threshold);
  }
  if (rounds) *rounds = round;
  return b;
}

}  // namespace

TEST_CASE("SLOs are read with their units") {
  const std::vector<SloTarget> slo =
      parse_slo("ttft_p99=2s, tpot_p99=100ms,latency_max=1500us,e2e_mean=3");
  REQUIRE(slo.size() == 4);
  CHECK(slo[0].path == "ttft_s.p99");
  CHECK(slo[0].limit_s == 2);
  CHECK(slo[1].path == "tpot_s.p99");
  CHECK(slo[1].limit_s == doctest::Approx(0.1));
  CHECK(slo[2].path == "latency_s.max");
  CHECK(slo[2].limit_s == doctest::Approx(0.0015));
  CHECK(slo[3].path == "latency_s.mean");
  CHECK(slo[3].limit_s == 3);
  CHECK_THROWS_WITH_AS(parse_slo("ttft_p42=1s"),
                       doctest::Contains("ttft_p42: expected ttft, tpot or latency"), InputError);
  CHECK_THROWS_WITH_AS(parse_slo("ttft_p99=fast"), doctest::Contains("expected a time > 0"),
                       InputError);
  CHECK_THROWS_WITH_AS(parse_slo("ttft_p99=-1s"), doctest::Contains("expected a time > 0"),
                       InputError);
  CHECK_THROWS_WITH_AS(parse_slo("ttft_p99=1,ttft_p99=2"), doctest::Contains("given twice"),
                       InputError);
  CHECK_THROWS_WITH_AS(parse_slo(""), doctest::Contains("expected metric=limit"), InputError);
}

TEST_CASE("a run meets the SLOs when every target holds and every request finished") {
  const std::vector<SloTarget> slo = parse_slo("ttft_p99=2s,tpot_p99=100ms");
  const auto summary = [](const char* tpot, const char* unfinished, const char* count) {
    return std::map<std::string, std::string>{{"ttft_s.count", count},
                                              {"ttft_s.p99", "1.5"},
                                              {"tpot_s.count", "10"},
                                              {"tpot_s.p99", tpot},
                                              {"requests.unfinished", unfinished}};
  };
  CHECK(check_slo(slo, summary("0.1", "0", "10")).pass);
  const SloCheck c = check_slo(slo, summary("0.1000001", "0", "10"));
  CHECK(!c.pass);
  CHECK(c.why == "tpot_p99 100 ms > 100 ms");
  CHECK(!check_slo(slo, summary("0.05", "3", "10")).pass);
  CHECK(!check_slo(slo, summary("0.05", "0", "0")).pass);  // nothing finished: no TTFT to judge
}

TEST_CASE("bisection brackets a monotone threshold to its precision") {
  for (int k : {1, 2, 3, 7}) {
    for (double threshold : {0.137, 1.0, 3.3, 9.99}) {
      const Bisection b = run(0.1, 10, 0.01, threshold, k);
      CAPTURE(k);
      CAPTURE(threshold);
      CHECK(b.status() == Bisection::Status::kFound);
      CHECK(b.best() <= threshold);
      CHECK(b.upper() > threshold);
      CHECK(b.upper() <= b.best() * 1.01 * (1 + 1e-12));
    }
  }
  // Geometric steps: 2 + ceil(log2(ln 100 / ln 1.01)) = 2 + 9 probes with k = 1; k probes a
  // round (parallel runs) take fewer rounds: 1 + ceil(log4(463)) = 1 + 5 with k = 3.
  int rounds1 = 0, rounds3 = 0;
  CHECK(run(0.1, 10, 0.01, 1.0, 1, &rounds1).probes() == 11);
  CHECK(rounds1 == 10);
  run(0.1, 10, 0.01, 1.0, 3, &rounds3);
  CHECK(rounds3 == 6);
}

TEST_CASE("bisection says when the answer lies outside the range") {
  Bisection below = run(1, 10, 0.01, 0.5, 1);
  CHECK(below.status() == Bisection::Status::kBelowRange);
  CHECK(std::isnan(below.best()));
  CHECK(below.probes() == 2);
  Bisection above = run(1, 10, 0.01, 50, 1);
  CHECK(above.status() == Bisection::Status::kAboveRange);
  CHECK(above.best() == 10);
  CHECK(above.next(1).empty());
}

TEST_CASE("against a non-monotone outcome the lowest failure bounds the answer") {
  Bisection b(1, 100, 0.01);
  b.record(1, true);
  b.record(100, false);
  b.record(10, false);
  b.record(20, true);  // passes above a failure: ignored
  CHECK(b.best() == 1);
  CHECK(b.upper() == 10);
  const std::vector<double> next = b.next(1);
  REQUIRE(next.size() == 1);
  CHECK(next[0] == doctest::Approx(std::sqrt(10.0)));
  CHECK(scan_answer({{1, true}, {2, true}, {3, false}, {4, true}}) == 2);
  CHECK(std::isnan(scan_answer({{1, false}, {2, true}})));
}

TEST_CASE("maximum concurrency is vLLM's: blocks over the blocks of one request") {
  // Llama-3-8B on an A100-80GB at 0.9: 29,205 blocks of 16 tokens.
  CHECK(max_concurrency(29205, 16, 8192) == doctest::Approx(57.04).epsilon(1e-4));
  CHECK(max_concurrency(29205, 16, 8193) == doctest::Approx(29205.0 / 513));  // a partial block
  CHECK(max_concurrency(100, 16, 1) == 100);
}
