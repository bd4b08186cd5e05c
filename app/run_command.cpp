#include "app/run_command.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "app/backends.h"
#include "app/commands.h"
#include "app/outputs.h"
#include "app/run_report.h"
#include "app/run_writer.h"
#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"

namespace tinyserve::app {

namespace {

// SIGINT and SIGTERM. Until the run's first step completes they end the process at once (loading
// and generating a large workload, or admitting it in the first step, can take seconds): the run's
// .partial files are removed and one line says so. Then they stop the run after the current step,
// which keeps every complete row; a second signal ends the process at once.
volatile std::sig_atomic_t g_signal = 0;    // the signal that stopped the run; 0: none
volatile std::sig_atomic_t g_stepping = 0;  // the first step completed
constexpr int kMaxPartials = 8;
char g_partials[kMaxPartials][4096];  // removed by a signal before the first step
volatile std::sig_atomic_t g_num_partials = 0;

void on_signal(int signal) {
  if (g_stepping == 0) {
    for (int i = 0; i < g_num_partials; ++i) ::unlink(g_partials[i]);
    static constexpr char kMessage[] =
        "tinyserve: interrupted before the first step completed; no output written\n";
    if (::write(STDERR_FILENO, kMessage, sizeof kMessage - 1) < 0) {
      // nothing more can be done in a signal handler
    }
    ::_exit(128 + signal);
  }
  g_signal = signal;  // installed with SA_RESETHAND: a second signal ends the process at once
}

class SignalScope {
 public:
  SignalScope() {
    g_signal = 0;
    g_stepping = 0;
    g_num_partials = 0;
    struct sigaction action {};
    action.sa_handler = on_signal;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
    g_num_partials = 0;
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

  static void remove_on_early_signal(const std::vector<std::string>& paths) {
    for (const std::string& path : paths) {
      if (g_num_partials == kMaxPartials || path.size() >= sizeof g_partials[0]) continue;
      std::memcpy(g_partials[g_num_partials], path.c_str(), path.size() + 1);
      g_num_partials = g_num_partials + 1;  // after the copy: the handler reads whole paths only
    }
  }

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

// Who holds an output folder, for a second run that finds it locked.
std::string holder_description(const RunOptions& o) {
  const std::time_t now = std::time(nullptr);
  char since[32] = "";
  std::strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return cat("pid ", ::getpid(), ": tinyserve run ", o.scenario, ", since ", since);
}

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
      fraction = std::max(
          fraction, static_cast<double>(e.steps()) / static_cast<double>(e.config().max_steps));
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
  return {{"count", d.count}, {"mean", d.mean}, {"p50", d.p50},
          {"p90", d.p90},     {"p99", d.p99},   {"max", d.max}};
}

std::string summary_json(const Scenario& sc, const Engine& e, const TraceStats& trace) {
  const RunSummary s = e.summary();
  nlohmann::ordered_json j;
  j["scenario"] = {
      {"name", sc.name}, {"description", sc.description}, {"file", sc.path}, {"seed", sc.seed}};
  const EngineConfig& c = e.config();
  const KvGeometry& g = c.geometry;
  j["model"] = {{"name", sc.model.name},
                {"layers", sc.model.num_layers},
                {"kv_heads", sc.model.num_kv_heads},
                {"head_dim", sc.model.head_dim},
                {"dtype", std::string(dtype_name(sc.model.dtype))},
                {"bytes_per_token", g.bytes_per_token()},
                {"max_model_len", c.max_model_len}};
  j["hardware"] = {{"gpu", sc.gpu.name},
                   {"num_gpus", sc.num_gpus},
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
  if (c.selection.enabled()) {  // absent with selection off: summaries stay as they were
    j["attention"] = {
        {"selection",
         {{"budget_tokens", c.selection.budget_tokens},
          {"budget_ratio", c.selection.budget_ratio},
          {"group_score", c.selection.group_score == GroupScore::kSum ? "sum" : "max"}}},
        {"kv_pattern",
         c.geometry.synthetic == SyntheticPattern::kStructured ? "structured" : "uniform"},
        {"decode_blocks_full", s.decode_blocks_full},
        {"decode_blocks_read", s.decode_blocks_read},
        {"decode_bytes_full", s.decode_bytes_full},
        {"decode_bytes_read", s.decode_bytes_read}};
  }
  j["backend"] = {{"name", e.backend().name()},
                  {"description", e.backend().description()},
                  {"clock", std::string(name_of<ClockMode>(kClockModeNames, c.clock))},
                  {"cost_model", describe(c.cost)}};
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

void print_summary(const Scenario& sc, const Engine& e, double wall_s, const std::string& out_dir,
                   const std::string& files) {
  const RunSummary s = e.summary();
  auto dist = [](const char* name, const Distribution& d) {
    if (d.count == 0) return;
    std::printf("%-12s mean %.4g s  p50 %.4g s  p90 %.4g s  p99 %.4g s\n", name, d.mean, d.p50,
                d.p90, d.p99);
  };
  std::printf("\n%-12s %s (%s)\n", "scenario", sc.name.c_str(), sc.description.c_str());
  std::printf("%-12s %s\n", "backend", e.backend().description().c_str());
  std::printf("%-12s %s\n", "cost model", describe(e.config().cost).c_str());
  std::printf("%-12s %lld finished, %lld rejected, %lld unfinished\n", "requests",
              static_cast<long long>(s.finished), static_cast<long long>(s.rejected),
              static_cast<long long>(s.unfinished));
  std::printf("%-12s %.2f s simulated in %lld steps (%.2f s wall)\n", "time", s.simulated_s,
              static_cast<long long>(s.steps), wall_s);
  std::printf("%-12s %.1f output tokens/s, %.3f requests/s\n", "throughput", s.throughput_tok_s,
              s.throughput_req_s);
  dist("TTFT", s.ttft_s);
  dist("TPOT", s.tpot_s);
  dist("latency", s.latency_s);
  std::printf(
      "%-12s usage %.1f%% on average over time, peak %.1f%%; token utilization %.2f%%; "
      "peak %d sequences\n",
      "KV cache", 100 * s.time_mean_kv_cache_usage, 100 * s.peak_kv_cache_usage,
      100 * s.time_mean_token_utilization, s.peak_running_seqs);
  std::printf("%-12s %lld preemptions, %lld tokens recomputed, %.3g GB swapped\n", "pressure",
              static_cast<long long>(s.preemptions), static_cast<long long>(s.recomputed_tokens),
              s.swapped_bytes / 1e9);
  std::printf("%-12s hit rate %.1f%%, %lld evictions; %lld copy-on-write copies\n", "prefix cache",
              100 * s.prefix_hit_rate, static_cast<long long>(s.evictions),
              static_cast<long long>(s.cow_copies));
  if (s.mean_attention_ms >= 0) {
    std::printf("%-12s %.4f ms measured (%.4f ms modelled)\n", "attention", s.mean_attention_ms,
                s.mean_modelled_attention_ms);
  }
  std::printf("%-12s %s/{%s}\n", "outputs", out_dir.c_str(), files.c_str());
}

bool wants(const RunOptions& o, const std::string& name) {
  return o.outputs.empty() ||
         std::find(o.outputs.begin(), o.outputs.end(), name) != o.outputs.end();
}

}  // namespace

RunResult run_scenario(const RunOptions& o, const std::string& executable_dir) {
  RunResult result;
  std::vector<std::string> overrides = o.overrides;
  if (!o.backend.empty()) overrides.push_back("engine.backend=" + o.backend);
  if (!o.kernel.empty()) overrides.push_back("engine.kernel=" + o.kernel);
  if (o.steps > 0) overrides.push_back("engine.max_steps=" + std::to_string(o.steps));
  const SignalScope signals;
  const Scenario sc = load_scenario(find_scenario(o.scenario, executable_dir), overrides);
  TraceStats trace;
  std::vector<RequestSpec> requests = load_requests_within_memory(sc, &trace);
  result.requests = static_cast<int64_t>(requests.size());
  result.out_dir = o.out_dir.empty() ? "out/" + path_component(sc.name) : o.out_dir;
  std::unique_ptr<Backend> backend = make_backend(sc);
  RunWriter writer(result.out_dir, holder_description(o),
                   {wants(o, "metrics"), wants(o, "events"), wants(o, "requests"),
                    wants(o, "report"), sc.engine.selection.enabled()});
  SignalScope::remove_on_early_signal(writer.partial_paths());

  const auto start = Clock::now();
  EngineConfig config = sc.engine;
  config.record_decisions = !o.decisions.empty();
  Engine engine(config, std::move(requests), std::move(backend));
  const bool report = wants(o, "report");
  RunSeries series;
  Progress progress(o.progress);
  while (!engine.done() && g_signal == 0) {
    const int64_t before = engine.steps();
    engine.step();
    if (engine.steps() > before) {
      writer.write_step(engine.last(), engine.step_events());
      if (report) series.add(engine.last());
    } else {
      writer.write_events(engine.step_events());  // rejections with no step to run
    }
    g_stepping = 1;
    progress.update(engine);
  }
  progress.update(engine, true);
  if (g_signal != 0) {
    writer.stop();
    std::fprintf(stderr,
                 "tinyserve: stopped by %s after step %lld; its complete rows are in "
                 "%s/metrics.csv.partial and events.jsonl.partial\n",
                 g_signal == SIGTERM ? "SIGTERM" : "SIGINT", static_cast<long long>(engine.steps()),
                 result.out_dir.c_str());
    result.exit_code = 128 + g_signal;
    return result;
  }
  std::string requests_csv;
  if (wants(o, "requests")) {
    requests_csv = requests_csv_header() + "\n";
    for (const RequestResult& r : engine.all_request_results())
      append_requests_csv_row(r, requests_csv);
  }
  const std::string report_html =
      report ? run_report(sc, engine.summary(), engine.backend().description(), series).html() : "";
  writer.finish(summary_json(sc, engine, trace), requests_csv, report_html);
  if (!o.decisions.empty()) {
    std::string text;
    for (const StepDecisions& d : engine.decisions()) text += decisions_json(d) + "\n";
    std::FILE* f = std::fopen(o.decisions.c_str(), "wb");
    if (f == nullptr) throw InputError(o.decisions, 0, "cannot open for writing");
    const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int error = errno;
    if (std::fclose(f) != 0 || !written) {
      throw OutputError("cannot write " + o.decisions + ": " +
                        std::strerror(written ? errno : error));
    }
  }
  result.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  result.steps = engine.steps();
  std::string files;
  for (const auto& [name, file] : {std::pair{"metrics", "metrics.csv"},
                                   {"requests", "requests.csv"},
                                   {"summary", "summary.json"},
                                   {"events", "events.jsonl"},
                                   {"report", "report.html"}}) {
    if (std::string(name) == "summary" || wants(o, name))
      files += (files.empty() ? "" : ", ") + std::string(file);
  }
  if (o.print_summary) print_summary(sc, engine, result.wall_s, result.out_dir, files);
  return result;
}

}  // namespace tinyserve::app
