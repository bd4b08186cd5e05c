#include "app/run_command.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/backends.h"
#include "app/commands.h"
#include "app/run_writer.h"
#include "core/engine/engine.h"
#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

using Clock = std::chrono::steady_clock;

// A progress bar on a terminal; plain lines at every tenth otherwise.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), tty_(isatty(fileno(stderr)) != 0) {}

  void update(const Engine& e, bool final = false) {
    if (!enabled_) return;
    const double total = static_cast<double>(std::max<int64_t>(e.num_requests(), 1));
    double fraction = static_cast<double>(e.num_done()) / total;
    if (e.config().max_steps > 0) {
      fraction = std::max(fraction, static_cast<double>(e.steps()) / static_cast<double>(e.config().max_steps));
    }
    const auto now = Clock::now();
    if (tty_) {
      if (!final && now - last_ < std::chrono::milliseconds(100)) return;
      last_ = now;
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(fraction * kWidth);
      std::fprintf(stderr, "\r[%s%s] %3.0f%%  %lld/%lld requests  step %lld  t=%.1f s  ",
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), fraction * 100,
                   static_cast<long long>(e.num_done()), static_cast<long long>(e.num_requests()),
                   static_cast<long long>(e.steps()), e.now());
      if (final) std::fputc('\n', stderr);
    } else {
      const int tenth = static_cast<int>(fraction * 10);
      if (tenth <= last_tenth_ && !final) return;
      last_tenth_ = tenth;
      std::fprintf(stderr, "progress: %3.0f%%  %lld/%lld requests  step %lld  t=%.1f s\n",
                   fraction * 100, static_cast<long long>(e.num_done()),
                   static_cast<long long>(e.num_requests()), static_cast<long long>(e.steps()),
                   e.now());
    }
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool tty_;
  Clock::time_point last_{};
  int last_tenth_ = -1;
};

nlohmann::ordered_json distribution_json(const Distribution& d) {
  return {{"count", d.count}, {"mean", d.mean}, {"p50", d.p50}, {"p90", d.p90}, {"p99", d.p99}, {"max", d.max}};
}

std::string summary_json(const Scenario& sc, const Engine& e, const TraceStats& trace) {
  const RunSummary s = e.summary();
  nlohmann::ordered_json j;
  j["scenario"] = {{"name", sc.name}, {"description", sc.description}, {"file", sc.path}, {"seed", sc.seed}};
  const EngineConfig& c = e.config();
  const KvGeometry& g = c.geometry;
  j["model"] = {{"name", sc.model.name},
                {"layers", sc.model.num_layers},
                {"kv_heads", sc.model.num_kv_heads},
                {"head_dim", sc.model.head_dim},
                {"dtype", std::string(dtype_name(sc.model.dtype))},
                {"bytes_per_token", g.bytes_per_token()},
                {"max_model_len", c.max_model_len}};
  j["hardware"] = {{"gpu", sc.gpu.name}, {"num_gpus", sc.num_gpus},
                   {"gpu_memory_utilization", sc.gpu_memory_utilization}};
  nlohmann::ordered_json cache = {{"allocator", c.paged() ? "paged" : "contiguous"},
                                   {"block_size", g.block_size},
                                   {"num_gpu_blocks", g.num_gpu_blocks},
                                   {"num_cpu_blocks", g.num_cpu_blocks},
                                   {"kv_dtype", std::string(dtype_name(g.dtype))}};
  if (const auto* paged = std::get_if<PagedOptions>(&c.allocator)) {
    cache["free_list"] = std::string(to_string(paged->free_list));
    cache["prefix_caching"] = paged->prefix_caching;
    cache["watermark"] = paged->watermark;
  } else {
    const auto& contiguous = std::get<ContiguousOptions>(c.allocator);
    cache["reservation"] = std::string(to_string(contiguous.reservation));
    cache["watermark"] = contiguous.watermark;
  }
  j["cache"] = cache;
  j["scheduler"] = {{"max_num_seqs", c.scheduler.max_num_seqs},
                    {"max_num_batched_tokens", c.scheduler.max_num_batched_tokens},
                    {"chunked_prefill", c.scheduler.chunked_prefill},
                    {"preemption", std::string(to_string(c.scheduler.preemption))},
                    {"victim", std::string(to_string(c.scheduler.victim))}};
  j["backend"] = {{"name", e.backend().name()}, {"description", e.backend().description()},
                  {"clock", c.clock == ClockMode::kMeasured ? "measured" : "model"}};
  j["requests"] = {{"total", s.requests},
                   {"finished", s.finished},
                   {"rejected", s.rejected},
                   {"unfinished", s.unfinished},
                   {"over_max_model_len", s.over_max_model_len},
                   {"outputs_capped", s.outputs_capped}};
  if (sc.source != WorkloadSource::kSynthetic) {
    j["trace"] = {{"file", sc.trace_path},
                  {"rows", trace.requests},
                  {"rows_with_inconsistent_hash_ids", trace.hash_mismatch}};
  }
  j["steps"] = s.steps;
  j["simulated_s"] = s.simulated_s;
  j["generated_tokens"] = s.generated_tokens;
  j["throughput_tok_s"] = s.throughput_tok_s;
  j["throughput_req_s"] = s.throughput_req_s;
  j["ttft_s"] = distribution_json(s.ttft_s);
  j["tpot_s"] = distribution_json(s.tpot_s);
  j["latency_s"] = distribution_json(s.latency_s);
  j["peak_running_seqs"] = s.peak_running_seqs;
  // time_mean: over simulated time (each step weighs its duration); step_mean: over steps.
  j["kv_cache_usage"] = {{"time_mean", s.time_mean_kv_cache_usage},
                         {"step_mean", s.mean_kv_cache_usage},
                         {"peak", s.peak_kv_cache_usage}};
  j["token_utilization"] = {{"time_mean", s.time_mean_token_utilization},
                            {"step_mean", s.mean_token_utilization}};
  j["external_fragmentation"] = {{"time_mean", s.time_mean_external_fragmentation},
                                 {"step_mean", s.mean_external_fragmentation}};
  j["f_total"] = {{"step_mean", s.mean_f_total}};
  j["f_total_norm"] = {{"time_mean", s.time_mean_f_total_norm}, {"step_mean", s.mean_f_total_norm}};
  j["preemptions"] = s.preemptions;
  j["recomputed_tokens"] = s.recomputed_tokens;
  j["swapped_bytes"] = s.swapped_bytes;
  j["cow_copies"] = s.cow_copies;
  j["evictions"] = s.evictions;
  j["prefix_hit_rate"] = s.prefix_hit_rate;
  j["attention_ms"] = {{"mean_measured", s.mean_attention_ms},
                       {"mean_contiguous_measured", s.mean_contiguous_attention_ms},
                       {"mean_modelled", s.mean_modelled_attention_ms}};
  return j.dump(2) + "\n";
}

void print_summary(const Scenario& sc, const Engine& e, double wall_s, const std::string& out_dir) {
  const RunSummary s = e.summary();
  auto dist = [](const char* name, const Distribution& d) {
    if (d.count == 0) return;
    std::printf("%-12s mean %.4g s  p50 %.4g s  p90 %.4g s  p99 %.4g s\n", name, d.mean, d.p50, d.p90, d.p99);
  };
  std::printf("\n%-12s %s (%s)\n", "scenario", sc.name.c_str(), sc.description.c_str());
  std::printf("%-12s %s\n", "backend", e.backend().description().c_str());
  std::printf("%-12s %lld finished, %lld rejected, %lld unfinished\n", "requests",
              static_cast<long long>(s.finished), static_cast<long long>(s.rejected),
              static_cast<long long>(s.unfinished));
  std::printf("%-12s %.2f s simulated in %lld steps (%.2f s wall)\n", "time", s.simulated_s,
              static_cast<long long>(s.steps), wall_s);
  std::printf("%-12s %.1f output tokens/s, %.3f requests/s\n", "throughput", s.throughput_tok_s, s.throughput_req_s);
  dist("TTFT", s.ttft_s);
  dist("TPOT", s.tpot_s);
  dist("latency", s.latency_s);
  std::printf("%-12s usage %.1f%% on average over time, peak %.1f%%; token utilization %.2f%%; "
              "peak %d sequences\n",
              "KV cache", 100 * s.time_mean_kv_cache_usage, 100 * s.peak_kv_cache_usage,
              100 * s.time_mean_token_utilization, s.peak_running_seqs);
  std::printf("%-12s %lld preemptions, %lld tokens recomputed, %.3g GB swapped\n", "pressure",
              static_cast<long long>(s.preemptions), static_cast<long long>(s.recomputed_tokens),
              s.swapped_bytes / 1e9);
  std::printf("%-12s hit rate %.1f%%, %lld evictions; %lld copy-on-write copies\n", "prefix cache",
              100 * s.prefix_hit_rate, static_cast<long long>(s.evictions), static_cast<long long>(s.cow_copies));
  if (s.mean_attention_ms >= 0) {
    std::printf("%-12s %.4f ms measured (%.4f ms modelled)\n", "attention", s.mean_attention_ms, s.mean_modelled_attention_ms);
  }
  std::printf("%-12s %s/{metrics.csv, requests.csv, summary.json, events.jsonl}\n", "outputs",
              out_dir.c_str());
}

}  // namespace

RunResult run_scenario(const RunOptions& o, const std::string& executable_dir) {
  RunResult result;
  std::vector<std::string> overrides = o.overrides;
  if (!o.backend.empty()) overrides.push_back("engine.backend=" + o.backend);
  if (!o.kernel.empty()) overrides.push_back("engine.kernel=" + o.kernel);
  if (o.steps > 0) overrides.push_back("engine.max_steps=" + std::to_string(o.steps));
  const Scenario sc = load_scenario(find_scenario(o.scenario, executable_dir), overrides);
  TraceStats trace;
  std::vector<RequestSpec> requests = load_requests(sc, &trace);
  result.requests = static_cast<int64_t>(requests.size());
  result.out_dir = o.out_dir.empty() ? "out/" + sc.name : o.out_dir;

  const auto start = Clock::now();
  Engine engine(sc.engine, std::move(requests), make_backend(sc));
  RunWriter writer(result.out_dir);
  Progress progress(o.progress);
  g_interrupted = 0;
  auto* previous = std::signal(SIGINT, on_interrupt);
  while (!engine.done() && !g_interrupted) {
    const int64_t before = engine.steps();
    engine.step();
    if (engine.steps() > before) {
      writer.write_step(engine.last(), engine.step_events());
    } else {
      writer.write_events(engine.step_events());  // rejections with no step to run
    }
    progress.update(engine);
  }
  std::signal(SIGINT, previous);
  progress.update(engine, true);
  if (g_interrupted) {
    std::fprintf(stderr, "tinyserve: interrupted at step %lld; outputs left as %s/*.partial\n",
                 static_cast<long long>(engine.steps()), result.out_dir.c_str());
    result.exit_code = 130;
    return result;
  }
  std::string requests_csv = requests_csv_header() + "\n";
  for (const RequestResult& r : engine.all_request_results()) append_requests_csv_row(r, requests_csv);
  writer.finish(summary_json(sc, engine, trace), requests_csv);
  result.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  result.steps = engine.steps();
  if (o.print_summary) print_summary(sc, engine, result.wall_s, result.out_dir);
  return result;
}

}  // namespace tinyserve::app
