#include "app/run_report.h"

#include <algorithm>
#include <cmath>

#include "app/html_report.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

ChartSeries series(std::string name, const std::vector<double>& x, const std::vector<double>& y) {
  return {std::move(name), x, y};
}

std::string dist(const Distribution& d) {
  if (d.count == 0) return "none";
  return cat("p50 ", format_number(d.p50), " s, p90 ", format_number(d.p90), " s, p99 ",
             format_number(d.p99), " s, max ", format_number(d.max), " s");
}

// Output tokens per second in windows of 1/windows of the run.
void windowed_throughput(const RunSeries& s, int32_t windows, std::vector<double>& x,
                         std::vector<double>& y) {
  x.clear();
  y.clear();
  if (s.size() == 0) return;
  const double end = s.time_s.back();
  if (!(end > 0)) return;
  const double width = end / windows;
  std::vector<double> tokens(static_cast<size_t>(windows), 0.0);
  for (size_t i = 0; i < s.size(); ++i) {
    const auto w = std::min<int64_t>(windows - 1, static_cast<int64_t>(s.time_s[i] / width));
    tokens[static_cast<size_t>(std::max<int64_t>(w, 0))] += s.generated[i];
  }
  for (int32_t w = 0; w < windows; ++w) {
    x.push_back((w + 0.5) * width);
    y.push_back(tokens[static_cast<size_t>(w)] / width);
  }
}

}  // namespace

void RunSeries::add(const StepMetrics& m) {
  time_s.push_back(m.time_s);
  kv_cache_usage.push_back(m.pool.kv_cache_usage);
  token_utilization.push_back(m.pool.token_utilization);
  running.push_back(m.running);
  waiting.push_back(m.waiting);
  swapped.push_back(m.swapped);
  preemptions_total.push_back(static_cast<double>(m.preemptions_total));
  generated.push_back(static_cast<double>(m.generated_tokens));
}

HtmlReport run_report(const Scenario& sc, const RunSummary& s, const std::string& backend,
                      const RunSeries& r) {
  HtmlReport page("TinyServe run: " + sc.name);
  page.paragraph(sc.description);
  const EngineConfig& e = sc.engine;
  const KvGeometry& g = e.geometry;
  page.facts({
      {"model", cat(sc.model.name, ", max_model_len ", e.max_model_len, ", ",
                    static_cast<double>(g.bytes_per_token()) / 1024.0, " KiB of K/V per token (",
                    dtype_name(g.dtype), ")")},
      {"hardware", cat(sc.num_gpus, " x ", sc.gpu.name, ", gpu_memory_utilization ",
                       sc.gpu_memory_utilization)},
      {"KV cache",
       cat(e.paged() ? "paged" : "contiguous", ", ", g.num_gpu_blocks, " blocks of ", g.block_size,
           " tokens (", int64_t{g.num_gpu_blocks} * g.block_size, " tokens)")},
      {"scheduler", cat("max_num_seqs ", e.scheduler.max_num_seqs, ", max_num_batched_tokens ",
                        e.scheduler.max_num_batched_tokens)},
      {"backend", backend},
      {"requests",
       cat(s.finished, " finished, ", s.rejected, " rejected, ", s.unfinished, " unfinished")},
      {"time", cat(format_number(s.simulated_s), " s simulated in ", s.steps, " steps")},
      {"throughput", cat(format_number(s.throughput_tok_s), " output tokens/s, ",
                         format_number(s.throughput_req_s), " requests/s")},
      {"TTFT", dist(s.ttft_s)},
      {"TPOT", dist(s.tpot_s)},
      {"latency", dist(s.latency_s)},
      {"KV cache usage",
       cat("mean over time ", format_number(100 * s.time_mean_kv_cache_usage, 3), "%, peak ",
           format_number(100 * s.peak_kv_cache_usage, 3), "%; token utilization ",
           format_number(100 * s.time_mean_token_utilization, 4), "%")},
      {"concurrency", cat("peak ", s.peak_running_seqs, " running sequences")},
      {"preemptions", cat(s.preemptions, " (", s.recomputed_tokens, " tokens recomputed, ",
                          format_number(s.swapped_bytes / 1e9), " GB swapped)")},
      {"prefix cache", cat("hit rate ", format_number(100 * s.prefix_hit_rate, 3), "%")},
  });

  page.heading("Over time");
  page.note(cat("Simulated time; ", r.size(),
                " steps, each chart drawn from the minimum and "
                "maximum of every pixel column."));
  page.begin_charts();
  LineChart kv;
  kv.title = "KV cache";
  kv.subtitle = "kv_cache_usage: used blocks / pool; token utilization: stored tokens / slots";
  kv.x = make_axis("simulated time", "s");
  kv.x.min = 0;
  kv.legend_width = 190;
  kv.y = make_axis("share", "", true);
  kv.y.min = 0;
  kv.y.max = 1;
  kv.series = {series("kv_cache_usage", r.time_s, r.kv_cache_usage),
               series("token utilization", r.time_s, r.token_utilization)};
  page.chart(kv);

  // Running and waiting apart: a queue of thousands would flatten the batch to a line at zero.
  LineChart running;
  running.title = "Running requests";
  running.subtitle = "in the batch, and preempted by swapping";
  running.x = kv.x;
  running.legend_width = kv.legend_width;
  running.y = make_axis("requests", "");
  running.y.include_zero = true;
  running.series = {series("running", r.time_s, r.running),
                    series("swapped (preempted)", r.time_s, r.swapped)};
  page.chart(running);

  LineChart waiting;
  waiting.title = "Waiting requests";
  waiting.subtitle = "arrived, not admitted yet";
  waiting.x = kv.x;
  waiting.legend_width = kv.legend_width;
  waiting.y = make_axis("requests", "");
  waiting.y.include_zero = true;
  waiting.series = {series("waiting", r.time_s, r.waiting)};
  page.chart(waiting);

  LineChart pre;
  pre.title = "Preemptions";
  pre.subtitle = "by recompute and by swap, so far";
  pre.x = kv.x;
  pre.legend_width = kv.legend_width;
  pre.y = make_axis("preemptions so far", "");
  pre.y.include_zero = true;
  pre.series = {series("preemptions", r.time_s, r.preemptions_total)};
  page.chart(pre);

  LineChart tput;
  tput.title = "Throughput";
  tput.subtitle = "output tokens per second, over 1/200 of the run each";
  tput.x = kv.x;
  tput.legend_width = kv.legend_width;
  tput.y = make_axis("throughput", "tokens/s");
  tput.y.include_zero = true;
  ChartSeries t{"output tokens/s", {}, {}};
  windowed_throughput(r, 200, t.x, t.y);
  tput.series = {t};
  page.chart(tput);
  page.end_charts();
  return page;
}

void write_run_report(const std::string& dir, const Scenario& scenario, const Engine& engine,
                      const RunSeries& series) {
  run_report(scenario, engine.summary(), engine.backend().description(), series)
      .write(dir + "/report.html");
}

}  // namespace tinyserve::app
