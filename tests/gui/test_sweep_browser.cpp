#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "app/gui/sweep_browser.h"
#include "core/base/strings.h"

using namespace tinyserve;
using namespace tinyserve::app;
namespace fs = std::filesystem;

namespace {

const std::string kScenario = std::string(TINYSERVE_SOURCE_DIR) + "/scenarios/poisson_zipf.toml";

// A sweep folder written as `tinyserve sweep` would: its plan, and complete runs whose summaries
// hold a TTFT p99 and a throughput of our choosing (row 3 failed).
struct SweepFolder {
  fs::path dir = fs::temp_directory_path() / "tinyserve-test-sweep-browser";
  SweepPlan plan;
  SweepFolder() {
    fs::remove_all(dir);
    plan.dir = dir.string();
    plan.tinyserve = "/usr/bin/tinyserve";
    plan.scenario = kScenario;
    plan.sets = {"workload.num_requests=20"};
    plan.axes = {parse_grid("cache.block_size=16,32"), parse_grid("scheduler.max_num_seqs=8,64")};
    expand_runs(plan);
    write_plan(plan);
    const double ttft[] = {4.0, 1.5, 3.0, 0};
    for (size_t i = 0; i < plan.runs.size(); ++i) {
      prepare_run_dir(plan, plan.runs[i]);
      const fs::path run = plan.run_dir(plan.runs[i]);
      if (i == 3) {
        std::ofstream(run / "run.log") << "tinyserve: no\ntinyserve sweep: exit status 2\n";
        continue;
      }
      std::ofstream(run / "summary.json") << cat(R"({"throughput_tok_s": )", 100 * (i + 1),
                                                 R"(, "ttft_s": {"p99": )", ttft[i], "}}");
    }
  }
  ~SweepFolder() { fs::remove_all(dir); }
};

Session make_session() {
  return Session("", [](const Scenario&) { return std::make_unique<AccountingBackend>(); });
}

}  // namespace

TEST_CASE("the sweep browser lists every configuration with its grid values, status and metrics") {
  SweepFolder f;
  SweepBrowser b;
  CHECK(b.open((f.dir / "nowhere").string()).find("sweep.json") != std::string::npos);
  CHECK_FALSE(b.is_open());
  REQUIRE(b.open(f.dir.string()) == "");
  CHECK(b.visible);
  REQUIRE(b.num_columns() == 5);  // two keys, status, throughput, TTFT p99
  CHECK(b.header(0) == "block_size");
  CHECK(b.header(1) == "max_num_seqs");
  CHECK(b.header(2) == "status");
  CHECK(b.header(3) == "Throughput");
  CHECK(b.header(4) == "TTFT p99");
  CHECK(b.cell(1, 0) == "16");
  CHECK(b.cell(1, 1) == "64");
  CHECK(b.cell(1, 2) == "ok");
  CHECK(b.cell(1, 4) == "1.5");
  CHECK(b.cell(3, 2) == "failed");
  CHECK(b.cell(3, 4) == "");
  CHECK(b.row_name(2) == "block_size=32, max_num_seqs=8");
}

TEST_CASE("sorting by a metric orders the rows by value, empty cells last") {
  SweepFolder f;
  SweepBrowser b;
  REQUIRE(b.open(f.dir.string()) == "");
  b.sort(4, true);
  CHECK(b.order() == std::vector<size_t>{1, 2, 0, 3});
  b.sort(4, false);
  CHECK(b.order() == std::vector<size_t>{0, 2, 1, 3});
  b.sort(0, false);
  CHECK(b.order().front() >= 2);
}

TEST_CASE("a row's overrides, and two rows compared, rebuild their configurations in a session") {
  SweepFolder f;
  SweepBrowser b;
  REQUIRE(b.open(f.dir.string()) == "");
  CHECK(b.overrides(2) == std::vector<std::string>{"workload.num_requests=20",
                                                   "cache.block_size=32",
                                                   "scheduler.max_num_seqs=8"});
  // Rows 0 (16, 8) and 3 (32, 64) differ in both keys; rows 0 and 1 only in max_num_seqs.
  std::vector<std::string> base;
  CompareSetup both = b.compare_setup(0, 3, base);
  CHECK(base == std::vector<std::string>{"workload.num_requests=20"});
  CHECK(both.a == "cache.block_size=16\nscheduler.max_num_seqs=8");
  CHECK(both.b == "cache.block_size=32\nscheduler.max_num_seqs=64");
  Session s = make_session();
  REQUIRE(s.load(kScenario, base).empty());
  REQUIRE(s.compare(both).empty());
  s.advance(0.0, 1.0);
  REQUIRE(s.num_runs() == 2);
  CHECK(s.run(0).engine().config().geometry.block_size == 16);
  CHECK(s.run(0).engine().config().scheduler.max_num_seqs == 8);
  CHECK(s.run(1).engine().config().geometry.block_size == 32);
  CHECK(s.run(1).engine().config().scheduler.max_num_seqs == 64);

  CompareSetup one = b.compare_setup(0, 1, base);
  CHECK(base == std::vector<std::string>{"workload.num_requests=20", "cache.block_size=16"});
  CHECK(one.a == "scheduler.max_num_seqs=8");
  CHECK(one.b == "scheduler.max_num_seqs=64");
}
