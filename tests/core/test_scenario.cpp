#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/engine/snapshot.h"
#include "core/execution/gpu_profile.h"

using namespace tinyserve;
namespace fs = std::filesystem;

namespace {

const std::string kScenarios = std::string(TINYSERVE_SOURCE_DIR) + "/scenarios";

// A scenario file in a folder of this process's own (ctest runs test cases in parallel).
struct TempScenario {
  fs::path path;
  explicit TempScenario(const std::string& text, const std::string& name = "scenario.toml") {
    const fs::path dir =
        fs::temp_directory_path() / ("tinyserve-test-scenarios-" + std::to_string(getpid()));
    fs::create_directories(dir);
    path = dir / name;
    std::ofstream(path) << text;
  }
  ~TempScenario() {
    fs::remove(path);
    std::error_code ec;
    fs::remove(path.parent_path(), ec);  // when empty
  }
};

const char* kMinimal = R"(name = "t"
description = "a test"
[hardware]
num_gpu_blocks = 512
[workload]
num_requests = 5
)";

// The error's message for a scenario text, or "" when it loads.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  TempScenario t(text);
  try {
    load_scenario(t.path.string(), overrides);
  } catch (const InputError& e) {
    const std::string what = e.what();
    const std::string prefix = t.path.string();
    return what.starts_with(prefix) ? "FILE" + what.substr(prefix.size()) : what;
  }
  return "";
}

}  // namespace

TEST_CASE("a minimal scenario takes every default") {
  TempScenario t(kMinimal);
  const Scenario s = load_scenario(t.path.string());
  CHECK(s.name == "t");
  CHECK(s.engine.geometry.num_gpu_blocks == 512);
  CHECK(s.engine.paged());
  CHECK(s.engine.geometry.block_size == 16);
  CHECK(s.engine.scheduler.max_num_seqs == 256);
  CHECK(s.model.name == "Llama-3-8B");
  CHECK(load_requests(s).size() == 5);
}

TEST_CASE("scenario errors name the file, the line and what was expected") {
  CHECK(error_of(std::string(kMinimal) + "[scheduler]\nmax_num_seq = 4\n") ==
        "FILE:8: scheduler.max_num_seq: unknown key (known here: async_scheduling, "
        "chunked_prefill, max_num_batched_tokens, max_num_seqs, preemption, semantics, victim)");
  CHECK(error_of(std::string(kMinimal) + "[scheduler]\nmax_num_seqs = \"many\"\n") ==
        "FILE:8: scheduler.max_num_seqs: expected an integer, found a string");
  CHECK(error_of(std::string(kMinimal) + "[scheduler]\nmax_num_seqs = 0\n") ==
        "FILE:8: scheduler.max_num_seqs: expected an integer in [1, 1000000], found 0");
  CHECK(error_of(std::string(kMinimal) + "[cache]\nfree_list = \"fastest\"\n") ==
        "FILE:8: cache.free_list: expected one of lifo, fifo, lru, best-fit, random, found "
        "\"fastest\"");
  CHECK(error_of(std::string(kMinimal) + "[cache]\nblock_size = -16\n") ==
        "FILE:8: cache.block_size: expected an integer in [1, 1024], found -16");
  CHECK(error_of("name = \"t\"\n") == "FILE: description: expected a one-line description");
  CHECK(error_of("name = \"t\"\ndescription = \"d\"\n[model]\npreset = \"gpt-5\"\n")
            .starts_with("FILE:4: model.preset: "));
  CHECK(error_of("name = \"t\"\ndescription = \"d\"\nseed = [1\n")
            .starts_with("FILE:3: malformed TOML"));
  CHECK(error_of(std::string(kMinimal) +
                 "[workload.prompt]\ndistribution = \"uniform\"\nmin = 100\nmax = 10\n")
            .find("max: expected max >= min (100), found 10") != std::string::npos);
  CHECK(error_of(std::string(kMinimal) +
                 "[workload.prompt]\ndistribution = \"zipf\"\nmin = 1\nmax = 9000000\n") ==
        "FILE: workload.prompt.max: a Zipf range holds at most 4194304 values, found [1, 9000000]");
  CHECK(error_of(std::string(kMinimal) +
                 "[scheduler]\nmax_num_seqs = 512\nmax_num_batched_tokens = 256\n")
            .find("max_num_batched_tokens: expected >= max_num_seqs (512)") != std::string::npos);
  CHECK(error_of(std::string(kMinimal) + "[workload]\n") ==
        "FILE:7: malformed TOML: Error while parsing table header: cannot redefine existing table "
        "'workload'");
}

TEST_CASE("overrides replace file values and their errors name the override") {
  TempScenario t(kMinimal);
  const Scenario s =
      load_scenario(t.path.string(), {"scheduler.max_num_seqs=64", "cache.free_list=fifo",
                                      "cache.prefix_caching=true", "workload.arrival.rate=2.5"});
  CHECK(s.engine.scheduler.max_num_seqs == 64);
  CHECK(std::get<PagedOptions>(s.engine.allocator).free_list == FreeListPolicy::kFifo);
  CHECK(s.engine.prefix_caching());
  CHECK(s.workload.arrival.rate == 2.5);
  CHECK(error_of(kMinimal, {"scheduler.max_num_seqs=abc"}) ==
        "--set scheduler.max_num_seqs=abc: expected an integer, found a string");
  CHECK(error_of(kMinimal, {"scheduler.max_num_seqs"}) ==
        "--set scheduler.max_num_seqs: expected key=value");
  CHECK(error_of(kMinimal, {"name.x=1"}) == "--set name.x=1: name is not a table");
  CHECK(error_of(kMinimal, {"bogus=1"}).starts_with("--set bogus=1: unknown key"));
}

TEST_CASE("an override's non-ASCII bare word is a string, never TOML syntax") {
  // U+0356 after "v = " reached undefined behaviour in Debian's toml++ 3.3 (found by fuzz_scenario
  // in a --set line); such values are bare words.
  TempScenario t(kMinimal);
  CHECK(load_scenario(t.path.string(), {"name=caf\xc3\xa9"}).name == "caf\xc3\xa9");
  CHECK(load_scenario(t.path.string(), {"description=\xcd\x96 x"}).description == "\xcd\x96 x");
  CHECK(load_scenario(t.path.string(), {"name=\"quoted \xcd\x96\""}).name == "quoted \xcd\x96");
  CHECK(error_of(kMinimal, {"scheduler.max_num_seqs=\xcd\x96"}) ==
        "--set scheduler.max_num_seqs=\xcd\x96: expected an integer, found a string");
}

TEST_CASE("missing files and directories are reported as such") {
  CHECK_THROWS_WITH_AS(load_scenario("/nonexistent/x.toml"),
                       "/nonexistent/x.toml: cannot open: No such file or directory", InputError);
  CHECK_THROWS_WITH_AS(load_scenario(fs::temp_directory_path().string()),
                       doctest::Contains("is a directory"), InputError);
  CHECK_THROWS_WITH_AS(find_scenario("no_such_scenario"), doctest::Contains("no such scenario"),
                       InputError);
}

TEST_CASE("every scenario in scenarios/ loads and names itself after its file") {
  const std::vector<std::string> files = list_scenarios();
  REQUIRE(files.size() >= 11);
  for (const std::string& f : files) {
    CAPTURE(f);
    const Scenario s = load_scenario(f);
    CHECK(fs::path(f).stem().string() == s.name);
    CHECK_FALSE(s.description.empty());
  }
}

TEST_CASE("every scenario keeps every invariant after every step (shortened)") {
  for (const std::string& f : list_scenarios()) {
    CAPTURE(f);
    Scenario s = load_scenario(f);
    s.engine.check_invariants = true;
    s.engine.max_steps = 300;
    std::vector<RequestSpec> requests = load_requests(s);
    if (requests.size() > 400) requests.resize(400);
    Engine e(s.engine, std::move(requests), std::make_unique<AccountingBackend>());
    while (!e.done()) e.step();
    CHECK(e.steps() > 0);
    CHECK(e.check_invariants().empty());
    EventRing ring;
    ring.add(e.step_events());
    const auto snap = make_snapshot(e, ring.events());
    CHECK(snap->blocks.size() == static_cast<size_t>(snap->stats.num_blocks));
    for (const SeqView& v : snap->seqs) CHECK(v.table_size <= snap->stats.num_blocks);
  }
}

TEST_CASE("a scenario and seed replay to a byte-identical metrics.csv") {
  auto run = [](const std::string& name) {
    Scenario s = load_scenario(kScenarios + "/" + name + ".toml");
    s.engine.max_steps = 2000;
    Engine e(s.engine, load_requests(s), std::make_unique<AccountingBackend>());
    std::string csv = metrics_csv_header() + "\n";
    while (!e.done()) {
      e.step();
      append_metrics_csv_row(e.last(), csv);
    }
    return csv;
  };
  for (const char* name : {"shared_prefix", "preemption_swap", "beam_search"}) {
    CAPTURE(name);
    const std::string a = run(name), b = run(name);
    CHECK(a.size() > 10'000);
    CHECK(a == b);
  }
}

TEST_CASE("non-ASCII text is accepted in strings and comments and refused where syntax belongs") {
  const std::string base =
      "name = \"t\"\ndescription = \"d\u00e9j\u00e0 vu \u2014 ok\" # commentaire \u00e9\n"
      "[hardware]\nnum_gpu_blocks = 512\n";
  CHECK(error_of(base + "[workload]\nnum_requests = 2\n") == "");
  CHECK(error_of(base + "[workload]\nnum_requests = 2\u00e9\n") ==
        "FILE:6: non-ASCII character outside a string or comment, expected TOML syntax");
  CHECK(error_of(std::string(kMinimal) + "x = +\"\u015a|~\n")
            .starts_with("FILE:7: malformed TOML: "));
  CHECK(error_of(std::string(kMinimal) + "x = 1 \u00e9\n") ==
        "FILE:7: non-ASCII character outside a string or comment, expected TOML syntax");
  CHECK(error_of("name = \"t\"\ndescription = \"\\\u00e9\"\n") ==
        "FILE:2: non-ASCII character after a backslash, expected an escape sequence");
  CHECK(error_of("name = \"t\"\ndescription = \"\xc3\"\n") ==
        "FILE:2: invalid UTF-8, expected UTF-8 text");
  CHECK(error_of("name = \"t\"\ndescription = \"\xed\xa0\x80\"\n") ==
        "FILE:2: invalid UTF-8, expected UTF-8 text");
  CHECK(error_of(std::string("name = \"t\0\"\n", 12)) ==
        "FILE:1: unexpected NUL byte, expected UTF-8 text");
  CHECK(error_of("name = 't'\ndescription = '''x ''' # ok\n[hardware]\nnum_gpu_blocks = 512\n") ==
        "");
}

TEST_CASE("strings keep their exact text through the ASCII form toml++ is given") {
  const auto described = [](const std::string& toml_string) {
    TempScenario t("name = \"t\"\ndescription = " + toml_string +
                   "\n[hardware]\nnum_gpu_blocks = 512\n");
    return load_scenario(t.path.string()).description;
  };
  CHECK(described("\"d\u00e9j\u00e0 \\\"vu\\\" \U0001F600\"") ==
        "d\u00e9j\u00e0 \"vu\" \U0001F600");
  CHECK(described("'C:\\caf\u00e9 \"x\"'") == "C:\\caf\u00e9 \"x\"");
  CHECK(described("'''\nline \u00fc\n\\ \"q\" ''''") == "line \u00fc\n\\ \"q\" '");
  CHECK(described("\"\"\"a \\\n  \ufebf b\"\"\"") == "a \ufebf b");
  CHECK(described("\"\"\"x\"\"\"\" # \u00e9t\u00e9") == "x\"");
  CHECK(described("\"caf\u00e9\" # \u00e9t\u00e9 \U0001F600") == "caf\u00e9");
}

TEST_CASE("cost.profile: auto finds the GPU's profile beside the scenarios; none; a path") {
  const fs::path root =
      fs::temp_directory_path() / ("tinyserve-test-profiles-" + std::to_string(getpid()));
  fs::create_directories(root / "scenarios");
  fs::create_directories(root / "assets" / "gpu_profiles");
  GpuProfile p;
  p.gpu = "a10";
  p.launch_us = 3;
  GemmTable t;
  t.n = t.k = 4096;
  t.tokens = {1, 1024};
  t.us = {20, 400};
  p.gemms.push_back(t);
  std::ofstream(root / "assets" / "gpu_profiles" / "a10.toml") << gpu_profile_toml(p);
  const std::string scenario = (root / "scenarios" / "s.toml").string();
  std::ofstream(scenario) << "name = \"t\"\ndescription = \"a test\"\n[hardware]\ngpu = \"a10\"\n"
                             "num_gpu_blocks = 512\n[workload]\nnum_requests = 5\n";
  const std::string bad = (root / "bad.toml").string();
  std::ofstream(bad) << "gpu = 3\n";

  const Scenario automatic = load_scenario(scenario);
  REQUIRE(automatic.engine.cost.calibrated());
  CHECK(automatic.engine.cost.profile->gpu == "a10");
  CHECK(automatic.engine.cost.shapes.gemms.size() == 4);  // Llama-3-8B's
  CHECK_FALSE(load_scenario(scenario, {"cost.profile=none"}).engine.cost.calibrated());
  // A GPU without a profile, or whose figures are replaced, keeps the roofline under auto.
  CHECK_FALSE(load_scenario(scenario, {"hardware.gpu=l40s"}).engine.cost.calibrated());
  CHECK_FALSE(load_scenario(scenario, {"hardware.bandwidth_gb_s=100"}).engine.cost.calibrated());
  // A path: from --set relative to the current directory, here absolute.
  const std::string a10 = (root / "assets" / "gpu_profiles" / "a10.toml").string();
  const Scenario given =
      load_scenario(scenario, {"hardware.gpu=l40s", "cost.profile=\"" + a10 + "\""});
  CHECK(given.engine.cost.calibrated());
  // Errors name the key and the profile's own file and line.
  try {
    load_scenario(scenario, {"cost.profile=\"" + bad + "\""});
    FAIL("a malformed profile was accepted");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK(what.find("--set cost.profile=") == 0);
    CHECK(what.find(bad + ":1: gpu: expected a string") != std::string::npos);
  }
  const std::string missing = (root / "none.toml").string();
  CHECK_THROWS_AS(load_scenario(scenario, {"cost.profile=\"" + missing + "\""}), InputError);
  fs::remove_all(root);
}
