// The table of scenario keys, the documentation generated from it, and the configuration rules
// that connect keys (issue 10's symptoms, each a case that failed before the redesign).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/config/scenario_keys.h"
#include "core/engine/engine.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;
using tinyserve::testing::source_path;
using tinyserve::testing::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kBase = "name = \"t\"\ndescription = \"d\"\n[hardware]\nnum_gpu_blocks = 512\n";

// A value that the key accepts: its default where it has one in range, else a sensible one.
std::string value_for(const KeySpec& k, const TempDir& dir) {
  if (k.key == "name" || k.key == "description") return "\"x\"";
  if (k.key == "model.preset") return "\"llama-3-8b\"";
  if (k.key == "model.config") return "\"" + source_path("tests/cli/data/config_llama.json") + "\"";
  if (k.key == "hardware.gpu") return "\"h100\"";
  if (k.key == "workload.trace") return "\"" + source_path("tests/data/azure_conv_head.csv") + "\"";
  if (k.key == "model.max_model_len") return "4096";
  (void)dir;
  switch (k.type) {
    case KeyType::kInteger:
    case KeyType::kNumber: {
      const double v = k.def >= k.lo && k.def <= k.hi ? k.def : k.lo;
      return k.type == KeyType::kInteger ? std::to_string(static_cast<int64_t>(v))
                                         : std::to_string(v);
    }
    case KeyType::kBoolean:
      return k.def != 0 ? "true" : "false";
    default:
      return "\"" + std::string(k.text_def) + "\"";
  }
}

// The other keys a key needs to be read at all (its branch of the loader).
std::vector<std::string> context_for(std::string_view key) {
  std::vector<std::string> set;
  if (key == "workload.trace" || key == "workload.time_scale") {
    set.push_back("workload.source=azure");
    if (key != "workload.trace") {
      set.push_back("workload.trace=\"" + source_path("tests/data/azure_conv_head.csv") + "\"");
    }
  }
  for (const char* part : {"prompt", "output"}) {
    const std::string prefix = std::string("workload.") + part + ".";
    if (!key.starts_with(prefix)) continue;
    const std::string_view leaf = key.substr(prefix.size());
    if (leaf == "value") set.push_back(prefix + "distribution=fixed");
    if (leaf == "exponent") set.push_back(prefix + "distribution=zipf");
    if (leaf.starts_with("long_")) set.push_back(prefix + "distribution=seed-mix");
  }
  if (key == "model.config") set.push_back("model.max_model_len=4096");
  if (key == "hardware.num_gpu_blocks" || key == "hardware.gpu_memory_utilization") {
    set.push_back("model.max_model_len=4096");
  }
  return set;
}

}  // namespace

TEST_CASE("docs/scenarios.md holds the generated reference of every key, exactly") {
  std::ifstream in(source_path("docs/scenarios.md"));
  REQUIRE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_MESSAGE(
      doc.find(scenario_keys_markdown()) != std::string::npos,
      "docs/scenarios.md is stale: regenerate its keys with `tinyserve scenarios --keys`");
}

TEST_CASE("every key of the table is read by the loader and accepts its documented default") {
  TempDir dir;
  std::set<std::string_view> seen;
  for (const KeySpec* k : scenario_keys()) {
    CAPTURE(k->key);
    CHECK(seen.insert(k->key).second);  // no key twice
    CHECK(find_key(k->key) == k);
    if (k->type == KeyType::kChoice) {
      CHECK(std::find(k->choices.begin(), k->choices.end(), k->text_def) != k->choices.end());
    }
    std::vector<std::string> overrides = context_for(k->key);
    overrides.push_back(std::string(k->key) + "=" + value_for(*k, dir));
    const auto e = input_error([&] { parse_scenario(kBase, dir.path("s.toml"), overrides); });
    CHECK_MESSAGE(!e.has_value(), (e ? e->what() : ""));
  }
  // And a key the table does not hold is refused.
  CHECK(input_error([&] { parse_scenario(kBase, dir.path("s.toml"), {"cache.blocksize=16"}); }));
}

TEST_CASE("max_model_len applies to every allocator: long prompts rejected, outputs capped") {
  TempDir dir;
  const std::pair<const char*, const char*> setups[] = {
      {"paged", "vllm-v1"}, {"paged", "vllm-v0"}, {"contiguous", "vllm-v0"}};
  for (const auto& [allocator, semantics] : setups) {
    CAPTURE(allocator);
    CAPTURE(semantics);
    Scenario sc =
        parse_scenario(kBase, dir.path("s.toml"),
                       {"model.max_model_len=512", std::string("cache.allocator=") + allocator,
                        std::string("scheduler.semantics=") + semantics, "workload.num_requests=40",
                        "workload.prompt.min=100", "workload.prompt.max=900",
                        "workload.output.distribution=fixed", "workload.output.value=200"});
    std::vector<RequestSpec> requests = load_requests(sc);
    int64_t too_long = 0, capped = 0;
    for (const RequestSpec& r : requests) {
      too_long += r.prompt_len() >= 512;
      capped += r.prompt_len() < 512 && r.prompt_len() + 200 > 512;
    }
    REQUIRE(too_long > 0);
    REQUIRE(capped > 0);
    Engine e(sc.engine, requests, std::make_unique<AccountingBackend>());
    int64_t rejected_events = 0;
    while (!e.done()) {
      e.step();
      for (const Event& ev : e.step_events()) {
        if (ev.kind != EventKind::kReject) continue;
        ++rejected_events;
        CHECK(ev.a > 512);  // the tokens it needs
      }
    }
    const RunSummary s = e.summary();
    CHECK(s.over_max_model_len == too_long);
    CHECK(s.outputs_capped == capped);
    CHECK(s.rejected == too_long);
    CHECK(s.finished == 40 - too_long);
    for (const RequestResult& r : e.request_results()) {
      if (r.status == RequestStatus::kFinished) CHECK(r.prompt_tokens + r.output_tokens <= 512);
    }
  }
}

TEST_CASE("settings the contiguous allocator cannot honour are refused, naming both keys") {
  TempDir dir;
  const auto prefix = input_error([&] {
    parse_scenario(
        kBase, dir.path("s.toml"),
        {"scheduler.semantics=vllm-v0", "cache.allocator=contiguous", "cache.prefix_caching=true"});
  });
  REQUIRE(prefix);
  CHECK(std::string(prefix->what()).find("no prefix cache") != std::string::npos);
  const auto swap = input_error([&] {
    parse_scenario(
        kBase, dir.path("s.toml"),
        {"scheduler.semantics=vllm-v0", "cache.allocator=contiguous", "scheduler.preemption=swap"});
  });
  REQUIRE(swap);
  CHECK(std::string(swap->what()).find("cannot swap") != std::string::npos);
}

TEST_CASE(
    "model.config set with --set replaces the file's preset, relative to the current directory") {
  TempDir dir;
  const std::string file = kBase + "[model]\npreset = \"llama-2-7b\"\nmax_model_len = 4096\n";
  const fs::path cwd = fs::current_path();
  fs::current_path(source_path("tests/cli/data"));
  Scenario sc;
  const auto e = input_error([&] {
    sc = parse_scenario(file, dir.path("elsewhere/s.toml"), {"model.config=config_llama.json"});
  });
  fs::current_path(cwd);
  REQUIRE_MESSAGE(!e.has_value(), (e ? e->what() : ""));
  CHECK(sc.model.num_kv_heads == 8);  // Llama-3-8B's config, not Llama-2-7B's 32
  // And the other way round.
  const Scenario back = parse_scenario(kBase + "[model]\nconfig = \"x.json\"\n", dir.path("s.toml"),
                                       {"model.preset=llama-2-7b"});
  CHECK(back.model.name == "Llama-2-7B");
}

TEST_CASE("config.json: max_model_len from the scenario when absent, sliding windows refused") {
  TempDir dir;
  std::ifstream in(source_path("tests/cli/data/config_llama.json"));
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = config.find("\"max_position_embeddings\": 8192,");
  REQUIRE(at != std::string::npos);
  const std::string no_limit = config.substr(0, at) + config.substr(at + 32);
  const std::string path = dir.write("nolimit.json", no_limit);
  const auto missing = input_error(
      [&] { parse_scenario(kBase + "[model]\nconfig = \"" + path + "\"\n", dir.path("s.toml")); });
  REQUIRE(missing);
  CHECK(std::string(missing->what()).find("max_position_embeddings") != std::string::npos);
  CHECK(parse_scenario(kBase + "[model]\nconfig = \"" + path + "\"\nmax_model_len = 2048\n",
                       dir.path("s.toml"))
            .engine.max_model_len == 2048);
  std::string windowed = config;
  windowed.insert(1, "\"sliding_window\": 4096,");
  const std::string wpath = dir.write("window.json", windowed);
  const auto window = input_error(
      [&] { parse_scenario(kBase + "[model]\nconfig = \"" + wpath + "\"\n", dir.path("s.toml")); });
  REQUIRE(window);
  CHECK(std::string(window->what()).find("sliding_window = 4096") != std::string::npos);
  CHECK_FALSE(input_error([&] {
    parse_scenario(kBase + "[model]\nconfig = \"" + wpath + "\"\nmax_model_len = 4096\n",
                   dir.path("s.toml"));
  }));
}

TEST_CASE("model and KV dtypes change capacity and cost; a custom GPU is a GPU") {
  TempDir dir;
  const std::string h100 = "name = \"t\"\ndescription = \"d\"\n[hardware]\ngpu = \"h100\"\n";
  const Scenario bf16 = parse_scenario(h100, dir.path("s.toml"));
  const Scenario fp8 = parse_scenario(h100, dir.path("s.toml"), {"cache.kv_dtype=fp8_e4m3"});
  CHECK(bf16.engine.geometry.dtype == DType::kBF16);
  CHECK(fp8.engine.geometry.bytes_per_token() * 2 == bf16.engine.geometry.bytes_per_token());
  CHECK(fp8.engine.geometry.num_gpu_blocks >= 2 * bf16.engine.geometry.num_gpu_blocks);
  const Scenario fp16 = parse_scenario(h100, dir.path("s.toml"), {"model.dtype=fp16"});
  CHECK(fp16.engine.geometry.dtype == DType::kF16);  // the KV cache follows under "auto"
  const Scenario custom = parse_scenario(
      "name = \"t\"\ndescription = \"d\"\n[hardware]\ngpu = \"custom\"\nmemory_gib = 94\n"
      "bandwidth_gb_s = 3900\nfp16_tflops = 835\npcie_gb_s = 50\n",
      dir.path("s.toml"));
  CHECK(custom.gpu.memory_bytes == int64_t{94} << 30);
  CHECK(custom.engine.cost.mem_bandwidth == 3.9e12);
  CHECK(custom.engine.cost.peak_flops == 835e12);
  CHECK(custom.engine.cost.pcie_bandwidth == 50e9);
  CHECK(input_error([&] {
    parse_scenario("name = \"t\"\ndescription = \"d\"\n[hardware]\ngpu = \"custom\"\n",
                   dir.path("s.toml"));
  }));
  const Scenario modified = parse_scenario(h100, dir.path("s.toml"), {"hardware.memory_gib=94"});
  CHECK(modified.gpu.name == "H100 (modified)");
  CHECK(modified.engine.geometry.num_gpu_blocks > bf16.engine.geometry.num_gpu_blocks);
}

TEST_CASE("a scenario name is never a file or folder of the current directory") {
  TempDir dir;
  const fs::path cwd = fs::current_path();
  fs::current_path(dir.path(""));
  fs::create_directories("shared_prefix");
  std::ofstream("poisson_zipf") << "not a scenario";
  std::string a, b;
  const auto e = input_error([&] {
    a = find_scenario("shared_prefix");
    b = find_scenario("poisson_zipf");
  });
  fs::current_path(cwd);
  REQUIRE_MESSAGE(!e.has_value(), (e ? e->what() : ""));
  CHECK(a.ends_with("scenarios/shared_prefix.toml"));
  CHECK(b.ends_with("scenarios/poisson_zipf.toml"));
}
