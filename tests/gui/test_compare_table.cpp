#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "app/gui/compare_table.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

Session make_session() {
  return Session("", [](const Scenario&) { return std::make_unique<AccountingBackend>(); });
}

std::string scenario(const char* name) {
  return std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/" + name + ".toml";
}

Session comparing(const char* name, const char* preset, Lockstep lockstep, int64_t ticks,
                  std::vector<std::string> overrides = {}) {
  Session s = make_session();
  REQUIRE(s.load(scenario(name), std::move(overrides)).empty());
  REQUIRE(s.compare(*find_compare_preset(preset)).empty());
  s.set_lockstep(lockstep);
  s.advance_exact(ticks);
  REQUIRE(s.num_runs() == 2);
  return s;
}

const CompareRow& row(const CompareTable& t, const std::string& name) {
  const auto it = std::find_if(t.rows.begin(), t.rows.end(),
                               [&](const CompareRow& r) { return r.name == name; });
  REQUIRE(it != t.rows.end());
  return *it;
}

// The index of a run's last step ending at or before t.
size_t index_at(const Run& run, double t) {
  const std::vector<StepMetrics>& h = run.engine().history();
  size_t i = 0;
  while (i < h.size() && h[i].time_s <= t) ++i;
  REQUIRE(i > 0);
  return i - 1;
}

}  // namespace

TEST_CASE("the compare table reads both runs at the same simulated time") {
  // Stepping in lockstep by steps, contiguous reservations run fewer requests in shorter steps:
  // the runs drift apart in time.
  Session s = comparing("poisson_zipf", "paged-vs-contiguous", Lockstep::kSteps, 600);
  Run& a = s.run(0);
  Run& b = s.run(1);
  REQUIRE(a.engine().steps() == b.engine().steps());
  REQUIRE(std::fabs(a.now() - b.now()) > 1.0);
  Run& ahead = a.now() > b.now() ? a : b;
  const CompareTable t = compare_at_equal_time(a, b);
  CHECK(t.time_s == std::min(a.now(), b.now()));
  const size_t i = index_at(ahead, t.time_s);
  const StepMetrics& then = ahead.engine().history()[i];
  const bool a_ahead = &ahead == &a;
  CHECK((a_ahead ? t.steps_a : t.steps_b) == static_cast<int64_t>(i) + 1);
  const CompareRow& finished = row(t, "finished requests");
  CHECK((a_ahead ? finished.a : finished.b) == static_cast<double>(then.finished_total));
  // What the old table compared: the run ahead as it is now, not as it was then.
  CHECK(ahead.engine().last().finished_total > then.finished_total);
  const CompareRow& usage = row(t, "KV cache usage");
  CHECK((a_ahead ? usage.a : usage.b) == doctest::Approx(then.pool.kv_cache_usage * 100));
}

TEST_CASE("the compare table shows the runs as they are after the latest tick") {
  Session s = comparing("poisson_zipf", "paged-vs-contiguous", Lockstep::kTime, 0,
                        {"workload.num_requests=80"});
  for (int frame = 0; frame < 60 && !s.done(); ++frame) {
    s.step(7);
    s.advance(0.0, 1.0);
    Run& a = s.run(0);
    Run& b = s.run(1);
    const CompareTable t = compare_at_equal_time(a, b);
    // The run at the common time is read at its latest step, whatever the wall time since the
    // last frame.
    Run& at = a.now() <= b.now() ? a : b;
    if (at.done()) break;
    const bool is_a = &at == &a;
    CHECK((is_a ? t.steps_a : t.steps_b) == at.engine().steps());
    const CompareRow& finished = row(t, "finished requests");
    CHECK((is_a ? finished.a : finished.b) ==
          static_cast<double>(at.engine().last().finished_total));
    const CompareRow& ttft = row(t, "mean TTFT (s)");
    CHECK((is_a ? ttft.a : ttft.b) == doctest::Approx(at.engine().summary().ttft_s.mean));
  }
}

TEST_CASE("each compared metric is coloured by its own direction") {
  CompareRow r;
  r.format = "%.1f";
  r.a = 5;
  r.b = 3;
  r.better = Better::kLower;
  CHECK(verdict(r) == Verdict::kBetter);
  r.better = Better::kHigher;
  CHECK(verdict(r) == Verdict::kWorse);
  r.better = Better::kNeither;
  CHECK(verdict(r) == Verdict::kNotColoured);
  CHECK(difference(r) == "-40%");
  r.b = 4.9;
  CHECK(difference(r) == "-2.0%");
  r.b = 3;
  r.b = 5.04;  // equal as shown
  r.better = Better::kHigher;
  CHECK(verdict(r) == Verdict::kEqual);
  CHECK(difference(r) == "=");
  r.percent = true;
  r.b = 7.25;
  CHECK(difference(r) == "+2.2 pt");
}

TEST_CASE("prefix caching off is not shown better on KV cache usage") {
  Session s = comparing("shared_prefix", "prefix-caching-on-vs-off", Lockstep::kTime, 300);
  const CompareTable t = compare_at_equal_time(s.run(0), s.run(1));
  const CompareRow& usage = row(t, "KV cache usage");
  REQUIRE(usage.b > usage.a);  // caching off holds more blocks for the same requests
  CHECK(verdict(usage) == Verdict::kNotColoured);
  CHECK(verdict(row(t, "prefix hit rate")) == Verdict::kWorse);
}

TEST_CASE("contiguous reservations are not shown better on external fragmentation or F_total") {
  Session s = comparing("poisson_zipf", "paged-vs-contiguous", Lockstep::kTime, 600);
  const CompareTable t = compare_at_equal_time(s.run(0), s.run(1));
  for (const char* name : {"external frag.", "F_total"}) {
    const CompareRow& r = row(t, name);
    CAPTURE(name);
    REQUIRE(format_value(r, r.a) != format_value(r, r.b));
    CHECK(verdict(r) == Verdict::kNotColoured);
  }
  // Where a direction holds, contiguous reservations lose: they reserve slots no one uses.
  CHECK(verdict(row(t, "reserved for later")) == Verdict::kWorse);
  for (const CompareRow& r : t.rows) {
    CAPTURE(r.name);
    CHECK(std::string(r.help).find(r.better == Better::kNeither ? "Not coloured" : "is better") !=
          std::string::npos);
  }
}
