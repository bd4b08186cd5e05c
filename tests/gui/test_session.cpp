#include <doctest/doctest.h>

#include <string>

#include "app/gui/session.h"

using namespace tinyserve;
using namespace tinyserve::app;

namespace {

Session make_session() {
  return Session("", [](const Scenario&) { return std::make_unique<AccountingBackend>(); });
}

const std::string kScenario = std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/poisson_zipf.toml";

}  // namespace

TEST_CASE("session commands take effect at the next advance") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=20"}).empty());
  CHECK_FALSE(s.has_run());
  s.advance(0.0, 1.0);
  REQUIRE(s.has_run());
  s.step(7);
  CHECK(s.run().engine().steps() == 0);
  s.advance(0.0, 1.0);
  CHECK(s.run().engine().steps() == 7);
  CHECK(s.run().snapshot().step == 7);
}

TEST_CASE("a bad override is reported and the current run stays") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=20"}).empty());
  s.advance(0.0, 1.0);
  s.step(3);
  s.advance(0.0, 1.0);
  const uint64_t generation = s.generation();
  const std::string error = s.load(kScenario, {"cache.block_size=0"});
  CHECK(error.find("block_size") != std::string::npos);
  s.advance(0.0, 1.0);
  CHECK(s.generation() == generation);
  CHECK(s.run().engine().steps() == 3);
  CHECK(s.overrides() == std::vector<std::string>{"workload.num_requests=20"});
}

TEST_CASE("comparing by steps steps two runs one override apart once per tick") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=20"}).empty());
  s.advance(0.0, 1.0);
  REQUIRE(s.compare(*find_compare_preset("paged-vs-contiguous")).empty());
  s.set_lockstep(Lockstep::kSteps);
  s.step(5);
  s.advance(0.0, 1.0);
  REQUIRE(s.num_runs() == 2);
  CHECK(s.run(0).engine().config().paged());
  CHECK_FALSE(s.run(1).engine().config().paged());
  CHECK(s.run(0).engine().steps() == 5);
  CHECK(s.run(1).engine().steps() == 5);
  s.end_compare();
  s.advance(0.0, 1.0);
  CHECK(s.num_runs() == 1);
  CHECK(s.run().engine().steps() == 5);
}

TEST_CASE("run to end finishes over bounded frames, then pauses") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=10"}).empty());
  s.advance(0.0, 1.0);
  s.run_to_end();
  int frames = 0;
  while (!s.done() && frames < 100000) {
    s.advance(0.016, 0.001);
    ++frames;
  }
  CHECK(s.done());
  CHECK(s.mode() == PlayMode::kPaused);
  CHECK(s.run().snapshot().requests_done == 10);
}

TEST_CASE("playing steps at the set speed") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=50"}).empty());
  s.advance(0.0, 1.0);
  s.set_speed(100);
  s.toggle_play();
  s.advance(0.1, 1.0);
  CHECK(s.run().engine().steps() == 10);
  s.advance(0.05, 1.0);
  CHECK(s.run().engine().steps() == 15);
}

TEST_CASE("overrides replace the value of the same key") {
  std::vector<std::string> o = {"cache.block_size=16", "seed=3"};
  set_override(o, "cache.block_size=32");
  set_override(o, "scheduler.max_num_seqs=8");
  CHECK(o == std::vector<std::string>{"cache.block_size=32", "seed=3", "scheduler.max_num_seqs=8"});
}

TEST_CASE("comparing by simulated time keeps both runs at the same moment") {
  Session s = make_session();
  REQUIRE(s.load(kScenario, {"workload.num_requests=100"}).empty());
  REQUIRE(s.compare(*find_compare_preset("paged-vs-contiguous")).empty());
  CHECK(s.lockstep() == Lockstep::kTime);  // the default
  s.advance_exact(0);
  int64_t checked = 0;
  for (int tick = 0; tick < 800 && !s.done(); ++tick) {
    s.advance_exact(1);
    Run& a = s.run(0);
    Run& b = s.run(1);
    if (a.done() || b.done()) break;
    // The run ahead started its last step no later than the other run's present.
    Run& ahead = a.now() >= b.now() ? a : b;
    Run& behind = &ahead == &a ? b : a;
    const std::vector<StepMetrics>& h = ahead.engine().history();
    REQUIRE(h.size() >= 1);
    const double started = h.size() >= 2 ? h[h.size() - 2].time_s : 0.0;
    CHECK(started <= behind.now());
    ++checked;
  }
  CHECK(checked > 100);
  // The configurations step at different rates: the step counts differ.
  CHECK(s.run(0).engine().steps() != s.run(1).engine().steps());
}

TEST_CASE("the app's base overrides apply to every run but are not listed as the user's") {
  Session s("", [](const Scenario&) { return std::make_unique<AccountingBackend>(); }, {"seed=7"});
  REQUIRE(s.load(kScenario, {"workload.num_requests=20"}).empty());
  s.advance(0.0, 1.0);
  CHECK(s.run().scenario().seed == 7);
  CHECK(s.overrides() == std::vector<std::string>{"workload.num_requests=20"});
  REQUIRE(s.compare(*find_compare_preset("lru-vs-lifo")).empty());
  s.advance(0.0, 1.0);
  CHECK(s.run(1).scenario().seed == 7);
  // The user's override of the same key wins.
  REQUIRE(s.load(kScenario, {"seed=3"}).empty());
  s.advance(0.0, 1.0);
  CHECK(s.run(0).scenario().seed == 3);
  CHECK(s.overrides() == std::vector<std::string>{"seed=3"});
}
