#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "app/sweep_plan.h"
#include "core/base/errors.h"

using namespace tinyserve;
using namespace tinyserve::app;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

SweepPlan small_plan(const std::string& dir) {
  SweepPlan p;
  p.dir = dir;
  p.tinyserve = "/opt/tiny serve/tinyserve";
  p.scenario = "/s/base.toml";
  p.sets = {"workload.num_requests=5"};
  p.axes = {parse_grid("cache.block_size=8,16"),
            parse_grid("cache.free_list=lifo,\"lru\",'best-fit'")};
  p.outputs = {"summary"};
  expand_runs(p);
  return p;
}

}  // namespace

TEST_CASE("a grid splits its values at top-level commas and expands ranges") {
  GridAxis a = parse_grid("cache.block_size=8, 16,32");
  CHECK(a.key == "cache.block_size");
  CHECK(a.values == std::vector<std::string>{"8", "16", "32"});
  a = parse_grid("x.y=[1, 2],\"a,b\",{ k = 1, j = 2 }");
  CHECK(a.values == std::vector<std::string>{"[1, 2]", "\"a,b\"", "{ k = 1, j = 2 }"});
  a = parse_grid("scheduler.max_num_seqs=32:128:32");
  CHECK(a.values == std::vector<std::string>{"32", "64", "96", "128"});
  a = parse_grid("workload.rate_scale=0.5:1.4:0.1,2");
  CHECK(a.values.size() == 11);
  CHECK(a.values[0] == "0.5");
  CHECK(a.values[2] == "0.7");  // not 0.7000000000000001
  CHECK(a.values[9] == "1.4");
  CHECK(a.values[10] == "2");
}

TEST_CASE("a malformed grid is an input error naming it") {
  CHECK_THROWS_WITH_AS(parse_grid("cache.block_size"),
                       "--grid cache.block_size: expected key=v1,v2,...", InputError);
  CHECK_THROWS_WITH_AS(parse_grid("=1,2"), "--grid =1,2: expected key=v1,v2,...", InputError);
  CHECK_THROWS_WITH_AS(parse_grid("a..b=1"), doctest::Contains("dotted key"), InputError);
  CHECK_THROWS_WITH_AS(parse_grid("a.b=1,,2"),
                       doctest::Contains("a value between every pair of commas"), InputError);
  CHECK_THROWS_WITH_AS(parse_grid("a.b=1,1"), doctest::Contains("given twice"), InputError);
  CHECK_THROWS_WITH_AS(parse_grid("a.b=4:1:1"), doctest::Contains("stop >= start and step > 0"),
                       InputError);
  CHECK_THROWS_WITH_AS(parse_grid("a.b=0:1e9:1"), doctest::Contains("more than 100,000"),
                       InputError);
}

TEST_CASE("the runs are the cartesian product, first axis slowest, with safe unique names") {
  const SweepPlan p = small_plan("/tmp/x");
  REQUIRE(p.runs.size() == 6);
  CHECK(p.runs[0].values == std::vector<std::string>{"8", "lifo"});
  CHECK(p.runs[1].values == std::vector<std::string>{"8", "\"lru\""});
  CHECK(p.runs[3].values == std::vector<std::string>{"16", "lifo"});
  CHECK(p.runs[0].name == "block_size-8_free_list-lifo");
  CHECK(p.runs[1].name == "block_size-8_free_list-lru");
  CHECK(p.runs[2].name == "block_size-8_free_list-best-fit");
  std::set<std::string> names;
  for (const SweepRun& r : p.runs) names.insert(r.name);
  CHECK(names.size() == 6);
  // Values that sanitise alike still get distinct folders; same short keys use the whole key.
  SweepPlan q;
  q.axes = {parse_grid("a.x=a/b,a?b"), parse_grid("b.x=1")};
  expand_runs(q);
  CHECK(q.runs[0].name == "a.x-a_b_b.x-1");
  CHECK(q.runs[1].name == "a.x-a_b_b.x-1~2");
}

TEST_CASE("a run's command is `tinyserve run` with the base sets, then its grid values") {
  const SweepPlan p = small_plan("/tmp/x");
  const std::vector<std::string> argv = run_argv(p, p.runs[1]);
  CHECK(argv == std::vector<std::string>{"/opt/tiny serve/tinyserve", "run", "/s/base.toml",
                                         "--set", "workload.num_requests=5", "--set",
                                         "cache.block_size=8", "--set", "cache.free_list=\"lru\"",
                                         "--no-progress", "--outputs", "summary", "--out",
                                         "/tmp/x/runs/block_size-8_free_list-lru"});
  CHECK(run_identity(p, p.runs[1]) ==
        "run /s/base.toml --set workload.num_requests=5 --set cache.block_size=8 --set "
        "'cache.free_list=\"lru\"' --no-progress --outputs summary\n");
}

TEST_CASE("shell quoting survives sh") {
  for (const std::string s : {"plain", "two words", "it's", "$HOME", "a\"b", "back\\slash", ""}) {
    const std::string cmd = "printf '%s' " + shell_quote(s);
    std::FILE* f = popen(cmd.c_str(), "r");
    REQUIRE(f);
    std::string got;
    char buf[256];
    while (size_t n = std::fread(buf, 1, sizeof buf, f)) got.append(buf, n);
    pclose(f);
    CHECK(got == s);
  }
}

TEST_CASE("a run folder is complete only with summary.json and its own config.txt") {
  const fs::path dir = fs::temp_directory_path() / "tinyserve-test-sweep-plan";
  fs::remove_all(dir);
  const SweepPlan p = small_plan(dir.string());
  const SweepRun& run = p.runs[0];
  CHECK(run_status(p, run).state == RunState::kNotRun);
  prepare_run_dir(p, run);
  CHECK(run_status(p, run).state == RunState::kNotRun);
  write(fs::path(p.run_dir(run)) / "run.log", "progress\n");
  CHECK(run_status(p, run).state == RunState::kIncomplete);
  write(fs::path(p.run_dir(run)) / "run.log",
        "tinyserve: --set x: expected an integer\ntinyserve sweep: exit status 2\n");
  RunStatus st = run_status(p, run);
  CHECK(st.state == RunState::kFailed);
  CHECK(st.error == "--set x: expected an integer (exit status 2)");
  write(fs::path(p.run_dir(run)) / "run.log",
        "tinyserve sweep: killed by signal 11 (Segmentation fault)\n");
  CHECK(run_status(p, run).error == "killed by signal 11 (Segmentation fault)");
  write(fs::path(p.run_dir(run)) / "summary.json", "{\"steps\": 3}\n");
  CHECK(run_status(p, run).state == RunState::kComplete);
  // Another configuration's folder is stale.
  write(fs::path(p.run_dir(run)) / "config.txt", "run /s/other.toml\n");
  CHECK(run_status(p, run).state == RunState::kStale);
  fs::remove(fs::path(p.run_dir(run)) / "config.txt");
  CHECK(run_status(p, run).state == RunState::kStale);
  fs::remove_all(dir);
}

TEST_CASE("the plan round-trips through sweep.json and sweep.csv holds every summary field") {
  const fs::path dir = fs::temp_directory_path() / "tinyserve-test-sweep-csv";
  fs::remove_all(dir);
  const SweepPlan p = small_plan(dir.string());
  write_plan(p);
  const SweepPlan q = read_plan(dir.string());
  CHECK(q.dir == p.dir);
  CHECK(q.scenario == p.scenario);
  CHECK(q.sets == p.sets);
  REQUIRE(q.runs.size() == p.runs.size());
  CHECK(q.runs[5].name == p.runs[5].name);
  CHECK(q.runs[5].values == p.runs[5].values);
  prepare_run_dir(q, q.runs[0]);
  write(
      fs::path(q.run_dir(q.runs[0])) / "summary.json",
      R"({"scenario": {"name": "base", "description": "a, \"quoted\""}, "ttft_s": {"p99": 0.25}, "steps": 7})");
  const SweepTable t = read_sweep(q);
  CHECK(t.columns ==
        std::vector<std::string>{"scenario.name", "scenario.description", "ttft_s.p99", "steps"});
  write_sweep_csv(q, t, (dir / "sweep.csv").string());
  std::ifstream in(dir / "sweep.csv");
  std::string header, first, second;
  std::getline(in, header);
  std::getline(in, first);
  std::getline(in, second);
  CHECK(header ==
        "cache.block_size,cache.free_list,run,status,error,scenario.name,scenario.description,ttft_"
        "s.p99,steps");
  CHECK(first == "8,lifo,block_size-8_free_list-lifo,ok,,base,\"a, \"\"quoted\"\"\",0.25,7");
  CHECK(second == "8,lru,block_size-8_free_list-lru,not run,,,,,");
  CHECK_THROWS_WITH_AS(read_plan((dir / "nowhere").string()),
                       doctest::Contains("sweep.json: cannot open"), InputError);
  fs::remove_all(dir);
}
