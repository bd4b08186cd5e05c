// `tinyserve capacity`: the lines vLLM logs at startup about its KV cache ("GPU KV cache size: N
// tokens", "Maximum concurrency for L tokens per request: X.XXx", computed as vLLM v1 does in
// vllm/v1/core/kv_cache_utils.py: num_blocks / cdiv(L, block_size) for full attention), then what
// the scenario's traffic achieves when replayed (peak running requests, and what bounded them).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#include "app/backends.h"
#include "app/capacity_commands.h"
#include "app/commands.h"
#include "app/run_command.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/hardware.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"

namespace tinyserve::app {

namespace {

// 467280 -> "467,280", as vLLM prints its token counts.
std::string thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string gib(double bytes) {
  return cat(std::round(bytes / 1073741824.0 * 100) / 100, " GiB");
}

}  // namespace

int capacity(const CapacityOptions& o, const std::string& executable_dir) {
  std::vector<std::string> sets = o.sets;
  if (!o.model.empty()) sets.push_back("model.preset=" + o.model);
  if (!o.gpu.empty()) sets.push_back("hardware.gpu=" + o.gpu);
  if (o.num_gpus > 0) sets.push_back(cat("hardware.num_gpus=", o.num_gpus));
  sets.push_back("engine.backend=accounting");
  const Scenario sc = load_scenario(find_scenario(o.scenario, executable_dir), sets);
  const KvGeometry& g = sc.engine.geometry;
  const int32_t bs = g.block_size;
  const int64_t blocks = g.num_gpu_blocks;
  const int32_t max_model_len =
      sc.engine.max_model_len > 0 ? sc.engine.max_model_len : sc.model.max_model_len;

  std::printf("%-12s %s on %d x %s, gpu_memory_utilization %g, block size %d (scenario %s)\n",
              "capacity", sc.model.name.c_str(), sc.num_gpus, sc.gpu.name.c_str(),
              sc.gpu_memory_utilization, bs, sc.name.c_str());
  const int64_t per_token = g.bytes_per_token();
  try {
    const KvCapacity cap =
        kv_capacity(sc.model, sc.gpu, bs, sc.gpu_memory_utilization, sc.num_gpus);
    if (cap.num_blocks == blocks) {
      std::printf("%-12s %s x %g = %s, less %s of weights: %s for K/V at %s per token\n", "memory",
                  gib(static_cast<double>(sc.gpu.memory_bytes) * sc.num_gpus).c_str(),
                  sc.gpu_memory_utilization, gib(static_cast<double>(cap.budget_bytes)).c_str(),
                  gib(static_cast<double>(cap.weight_bytes)).c_str(),
                  gib(static_cast<double>(cap.kv_bytes)).c_str(),
                  cat(static_cast<double>(per_token) / 1024.0, " KiB").c_str());
    }
  } catch (const InputError&) {
    // hardware.num_gpu_blocks fixes the pool: no memory line
  }
  std::printf("%-12s %s blocks of %d tokens\n", "KV cache", thousands(blocks).c_str(), bs);
  std::printf("vLLM logs, for this pool (vllm/v1/core/kv_cache_utils.py):\n");
  std::printf("  GPU KV cache size: %s tokens\n", thousands(blocks * bs).c_str());
  std::printf("  Maximum concurrency for %s tokens per request: %.2fx\n",
              thousands(max_model_len).c_str(), max_concurrency(blocks, bs, max_model_len));
  for (int32_t t : o.tokens) {
    std::printf("  Maximum concurrency for %s tokens per request: %.2fx\n", thousands(t).c_str(),
                max_concurrency(blocks, bs, t));
  }
  if (!o.run) return kExitOk;

  TraceStats trace;
  std::vector<RequestSpec> requests = load_requests(sc, &trace);
  // The requests as the engine serves them (as vLLM does): a prompt of max_model_len tokens or
  // more is rejected, an output is capped so that prompt + output fits.
  double tokens = 0;
  int64_t longest = 0, served = 0, rejected = 0;
  for (const RequestSpec& r : requests) {
    const int64_t prompt = r.prompt_len();
    int64_t output = r.output_len;
    if (max_model_len > 0 && prompt >= max_model_len) {
      ++rejected;
      continue;
    }
    if (max_model_len > 0) output = std::min<int64_t>(output, max_model_len - prompt);
    const int64_t len = prompt + output * std::max(r.n, r.beam_width);
    tokens += static_cast<double>(len);
    longest = std::max(longest, len);
    ++served;
  }
  const double mean_len = served == 0 ? 0 : tokens / static_cast<double>(served);
  const auto mean_tokens = static_cast<int64_t>(std::ceil(mean_len));
  std::printf(
      "%-12s %s requests, %s tokens each on average (prompt + output, at most %s)%s\n", "workload",
      thousands(static_cast<int64_t>(requests.size())).c_str(), thousands(mean_tokens).c_str(),
      thousands(longest).c_str(),
      rejected > 0 ? cat("; ", rejected, " rejected, prompt >= max_model_len").c_str() : "");
  std::printf("  Maximum concurrency for %s tokens per request: %.2fx  (the workload's mean)\n",
              thousands(mean_tokens).c_str(), max_concurrency(blocks, bs, mean_tokens));

  const auto start = std::chrono::steady_clock::now();
  Engine engine(sc.engine, std::move(requests), make_backend(sc));
  int32_t peak_running = 0;
  double running_time = 0, busy_time = 0;
  while (!engine.done()) {
    const int64_t before = engine.steps();
    engine.step();
    if (engine.steps() == before) continue;
    const StepMetrics& m = engine.last();
    peak_running = std::max(peak_running, m.running);
    if (m.running > 0) {
      running_time += m.running * m.step_ms * 1e-3;
      busy_time += m.step_ms * 1e-3;
    }
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const RunSummary s = engine.summary();
  const int32_t cap = sc.engine.scheduler.max_num_seqs;
  std::string bound;
  if (peak_running >= cap) {
    bound = cat("max_num_seqs = ", cap, " capped it");
  } else if (s.preemptions > 0 || s.peak_kv_cache_usage >= 0.99) {
    bound =
        cat("the KV cache bounded it: peak usage ", std::round(s.peak_kv_cache_usage * 1000) / 10,
            "%, ", s.preemptions, " preemptions");
  } else {
    bound = cat("the traffic bounded it: peak KV usage ",
                std::round(s.peak_kv_cache_usage * 1000) / 10, "%, no preemption");
  }
  std::printf("%-12s peak %d running requests (%s); %.1f on average while any ran\n", "achieved",
              peak_running, bound.c_str(), busy_time > 0 ? running_time / busy_time : 0.0);
  std::printf(
      "%-12s TTFT p99 %.4g s, TPOT p99 %.4g s, %.1f output tokens/s (%.2f s to replay %.0f "
      "simulated s)\n",
      "", s.ttft_s.p99, s.tpot_s.p99, s.throughput_tok_s, wall, s.simulated_s);
  return kExitOk;
}

}  // namespace tinyserve::app
