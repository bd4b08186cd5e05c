#include "core/engine/vllm_replay.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

nlohmann::json read_config(const std::string& path) {
  try {
    return nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(path, 0, cat("expected the harness's config.json: ", e.what()));
  }
}

}  // namespace

std::string vllm_replay_scenario(const std::string& dir) {
  const std::string path = dir + "/config.json";
  const nlohmann::json c = read_config(path);
  auto get = [&](const char* key, auto def) {
    return c.contains(key) ? c.at(key).get<decltype(def)>() : def;
  };
  try {
    if (get("policy", std::string("fcfs")) != "fcfs" ||
        get("long_prefill_token_threshold", int64_t{0}) != 0 ||
        !get("scheduler_reserve_full_isl", true)) {
      throw_input_error(path, 0,
                        "TinyServe reproduces the fcfs policy with scheduler_reserve_full_isl "
                        "and no long_prefill_token_threshold only");
    }
    // vLLM refuses to start when the pool cannot hold one request of max_model_len, and so does
    // TinyServe's loader; the harness builds the scheduler without that check, so the replay
    // loads with a limit the pool holds and restores vLLM's afterwards (replay_vllm_record).
    const int64_t blocks = c.at("num_gpu_blocks").get<int64_t>();
    const int64_t max_model_len =
        std::min(c.at("max_model_len").get<int64_t>(), blocks * get("block_size", int64_t{16}));
    return cat("name = \"vllm-replay\"\n",
               "description = \"A vLLM reference harness record replayed (", dir, ")\"\n",
               "[model]\nmax_model_len = ", max_model_len, "\n",
               "[hardware]\nnum_gpu_blocks = ", c.at("num_gpu_blocks").get<int64_t>() + 1, "\n",
               "[cache]\nblock_size = ", get("block_size", int64_t{16}),
               "\nprefix_caching = ", c.at("enable_prefix_caching").get<bool>() ? "true" : "false",
               "\nfree_list = \"lru\"\nwatermark = ", get("watermark", 0.0), "\n",
               "[scheduler]\nsemantics = \"vllm-v1\"\nasync_scheduling = ",
               get("async_scheduling", false) ? "true" : "false",
               "\nmax_num_seqs = ", c.at("max_num_seqs").get<int64_t>(),
               "\nmax_num_batched_tokens = ", c.at("max_num_batched_tokens").get<int64_t>(),
               "\nchunked_prefill = ", get("enable_chunked_prefill", true) ? "true" : "false", "\n",
               "[workload]\nsource = \"requests\"\ntrace = \"workload.jsonl\"\n",
               "[engine]\nclock = \"steps\"\n");
  } catch (const nlohmann::json::exception& e) {
    throw_input_error(path, 0, cat("expected the harness's config.json: ", e.what()));
  }
}

VllmReplay replay_vllm_record(const std::string& dir, const std::vector<std::string>& overrides,
                              int context) {
  Scenario sc = parse_scenario(vllm_replay_scenario(dir), dir + "/scenario.toml", overrides);
  sc.engine.max_model_len = read_config(dir + "/config.json").at("max_model_len").get<int32_t>();
  sc.engine.record_decisions = true;
  VllmReplay r;
  r.expected = read_decisions(dir + "/decisions.jsonl");
  Engine engine(sc.engine, load_requests(sc), std::make_unique<AccountingBackend>());
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  while (!engine.done()) engine.step();
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.engine_steps = engine.steps();
  const double steps = static_cast<double>(std::max<int64_t>(r.engine_steps, 1));
  r.loop_us_per_step = wall * 1e6 / steps;
  r.loop_cpu_us_per_step = cpu * 1e6 / steps;
  r.actual = engine.decisions();
  r.comparison = compare_decisions(r.expected, r.actual, context);
  return r;
}

}  // namespace tinyserve
