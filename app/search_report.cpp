#include "app/search_report.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "app/html_report.h"
#include "app/process_pool.h"
#include "app/sweep_report.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

std::string num(double v, int sig = 5) {
  return std::isnan(v) ? "" : format_number(v, sig);
}

double metric(const ProbeResult& p, const std::string& path) {
  double v = NAN;
  const auto it = p.metrics.find(path);
  if (it != p.metrics.end()) parse_number(it->second, v);
  return v;
}

void write_file(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + partial);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("cannot write " + partial);
  std::filesystem::rename(partial, path);
}

std::vector<GridAxis> grid_axes(const SearchSetup& s) {
  return {s.plan.axes.begin(), s.plan.axes.end() - 1};
}

// The load the answer of configuration c serves per GPU (NaN: none).
double load_per_gpu(const SearchSetup& s, const SearchConfig& c) {
  const double a = c.answer(s.scan());
  return std::isnan(a) ? NAN : c.load(a) / std::max(c.num_gpus, 1);
}

// The probe at knob value v; nullptr for none (NaN finds none: a map cannot order it).
const ProbeResult* probe_at(const SearchConfig& c, double v) {
  if (std::isnan(v)) return nullptr;
  const auto it = c.probes.find(v);
  return it == c.probes.end() ? nullptr : &it->second;
}

std::string status_text(const SearchSetup& s, const SearchConfig& c) {
  return c.error.empty() ? to_string(c.status(s.scan())) : "error";
}

std::string load_unit(const SearchSetup& s) {
  return !s.configs.empty() && !std::isnan(s.configs.front().rate_per_unit) ? "requests/s" : s.knob;
}

}  // namespace

Bisection::Status SearchConfig::status(bool scan) const {
  if (!scan) return bisection.status();
  const auto& r = bisection.results();
  if (r.empty() || !r.begin()->second)
    return r.empty() ? Bisection::Status::kSearching : Bisection::Status::kBelowRange;
  return std::isnan(bisection.upper()) ? Bisection::Status::kAboveRange : Bisection::Status::kFound;
}

double SearchConfig::answer(bool scan) const {
  return scan ? scan_answer(bisection.results()) : bisection.best();
}

size_t SearchSetup::best_config() const {
  size_t best = configs.size();
  double best_load = -1;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (!configs[i].error.empty()) continue;
    const double l = load_per_gpu(*this, configs[i]);
    if (!std::isnan(l) && l > best_load) {
      best_load = l;
      best = i;
    }
  }
  return best;
}

std::string plan_display_name(const std::vector<GridAxis>& axes,
                              const std::vector<std::string>& values) {
  std::string name;
  for (size_t i = 0; i < axes.size() && i < values.size(); ++i) {
    name += (name.empty() ? "" : ", ") + short_key(axes[i].key) + "=" + grid_display(values[i]);
  }
  return name.empty() ? "the scenario" : name;
}

void write_search_outputs(SearchSetup& s) {
  // sweep.json: every probe as a run, so that `tinyserve sweep --collect` merges their summaries.
  GridAxis& knob = s.plan.axes.back();
  knob.values.clear();
  for (const SweepRun& r : s.plan.runs) {
    if (std::find(knob.values.begin(), knob.values.end(), r.values.back()) == knob.values.end()) {
      knob.values.push_back(r.values.back());
    }
  }
  write_plan(s.plan);

  const std::vector<GridAxis> axes = grid_axes(s);
  const std::string ks = short_key(s.knob);
  // search.csv
  std::string csv;
  for (const GridAxis& a : axes) csv += csv_field(a.key) + ",";
  csv += "status," + ks + "," + ks + "_fails_at,load_req_s,num_gpus,load_req_s_per_gpu,probes";
  for (const SloTarget& t : s.slo) csv += "," + t.name + "_at_answer";
  csv += ",throughput_tok_s_at_answer,missed_above,error\n";
  for (const SearchConfig& c : s.configs) {
    for (const std::string& v : c.values) csv += csv_field(grid_display(v)) + ",";
    const double a = c.answer(s.scan()), u = c.bisection.upper();
    csv += csv_field(status_text(s, c)) + "," + num(a, 8) + "," + num(u, 8) + "," +
           (std::isnan(c.rate_per_unit) || std::isnan(a) ? "" : num(c.load(a), 6)) + "," +
           std::to_string(c.num_gpus) + "," +
           (std::isnan(c.rate_per_unit) ? "" : num(load_per_gpu(s, c), 6)) + "," +
           std::to_string(c.probes.size());
    const ProbeResult* at = probe_at(c, a);
    for (const SloTarget& t : s.slo) {
      csv += "," + (!at ? "" : num(metric(*at, t.path), 6));
    }
    csv += "," + (!at ? "" : num(metric(*at, "throughput_tok_s"), 6));
    const ProbeResult* up = probe_at(c, u);
    csv += "," + csv_field(!up ? "" : up->why) + "," + csv_field(c.error) + "\n";
  }
  write_file(s.plan.dir + "/search.csv", csv);

  // probes.csv
  std::string pc;
  for (const GridAxis& a : axes) pc += csv_field(a.key) + ",";
  pc += ks + ",load_req_s,pass,missed";
  for (const SloTarget& t : s.slo) pc += "," + t.name;
  pc += ",throughput_tok_s\n";
  for (const SearchConfig& c : s.configs) {
    for (const auto& [v, p] : c.probes) {
      for (const std::string& gv : c.values) pc += csv_field(grid_display(gv)) + ",";
      pc += num(v, 8) + "," + (std::isnan(c.rate_per_unit) ? "" : num(c.load(v), 6)) + "," +
            (p.pass ? "yes" : "no") + "," + csv_field(p.why);
      for (const SloTarget& t : s.slo) {
        pc += ',';
        pc += num(metric(p, t.path), 6);
      }
      pc += ',';
      pc += num(metric(p, "throughput_tok_s"), 6);
      pc += '\n';
    }
  }
  write_file(s.plan.dir + "/probes.csv", pc);

  // report.html
  HtmlReport page("TinyServe search: " + s.scenario_name);
  std::string slo;
  for (const SloTarget& t : s.slo)
    slo += (slo.empty() ? "" : ", ") + t.name + " <= " + format_seconds(t.limit_s);
  page.facts({
      {"scenario", s.plan.scenario},
      {"SLO", slo + ", every request finished"},
      {"knob", cat(s.knob, " in [", s.lo, ", ", s.hi, "]")},
      {"method", s.scan() ? cat("linear scan in steps of ", s.scan_step)
                          : cat("bisection (geometric) until the failing load is within ",
                                s.precision * 100, "% of the passing one")},
      {"configurations", cat(s.configs.size())},
      {"runs", cat(s.runs_launched, " run, ", s.runs_reused, " reused from an earlier search; ",
                   format_number(s.wall_s, 3), " s wall")},
  });
  const size_t best = s.best_config();
  if (best < s.configs.size()) {
    const SearchConfig& b = s.configs[best];
    page.paragraph(cat(
        "Most load per GPU: ", b.name, ", ", format_number(load_per_gpu(s, b), 4), " ",
        load_unit(s), " per GPU (", s.knob, " = ", format_number(b.answer(s.scan()), 5),
        b.status(s.scan()) == Bisection::Status::kAboveRange ? ", at least: the range's top passes"
                                                             : "",
        ")."));
  } else {
    page.paragraph("No configuration meets the SLOs anywhere in the range.");
  }

  page.heading("The load-SLO frontier");
  page.note(cat(
      "Every probe of every configuration: the SLO metric against the offered load, the SLO as a "
      "dashed line; a configuration's answer is its last point under the line before the first "
      "above it. The y axis stops at 3x the SLO."));
  page.begin_charts();
  for (const SloTarget& t : s.slo) {
    LineChart c;
    c.title = t.name;
    c.subtitle = "against the offered load, one line per configuration";
    c.x = make_axis(load_unit(s) == "requests/s" ? "offered load" : s.knob,
                    load_unit(s) == "requests/s" ? "requests/s" : "");
    c.x.log = s.hi / s.lo >= 10;
    c.y = make_axis(t.name, "s");
    c.y.min = 0;
    c.y.max = 3 * t.limit_s;
    c.markers = true;
    c.width = 900;
    c.height = 360;
    c.rules.push_back({t.limit_s, "SLO " + format_seconds(t.limit_s)});
    for (const SearchConfig& cfg : s.configs) {
      ChartSeries series{cfg.name, {}, {}};
      for (const auto& [v, p] : cfg.probes) {
        series.x.push_back(cfg.load(v));
        series.y.push_back(metric(p, t.path));
      }
      c.series.push_back(std::move(series));
    }
    page.chart(c);
  }
  page.end_charts();

  if (!axes.empty()) {
    page.heading("The answer against the grid");
    page.begin_charts();
    const GridAxis& xa = axes[0];
    LineChart c;
    c.title = "Most load meeting the SLO, per GPU";
    c.subtitle = "against " + xa.key + (axes.size() > 1 ? ", one line per " + axes[1].key : "");
    c.x.label = xa.key;
    bool numeric = true;
    for (const std::string& v : xa.values) numeric = numeric && !std::isnan(grid_number(v));
    if (numeric) {
      for (const std::string& v : xa.values) c.x.ticks.push_back(grid_number(v));
    } else {
      for (const std::string& v : xa.values) c.x.categories.push_back(grid_display(v));
    }
    c.y = make_axis("load per GPU", load_unit(s));
    c.y.include_zero = true;
    c.markers = true;
    const size_t lines = axes.size() > 1 ? axes[1].values.size() : 1;
    for (size_t l = 0; l < lines; ++l) {
      ChartSeries series;
      if (axes.size() > 1)
        series.name = short_key(axes[1].key) + " = " + grid_display(axes[1].values[l]);
      for (size_t k = 0; k < xa.values.size(); ++k) {
        for (const SearchConfig& cfg : s.configs) {
          if (cfg.values[0] != xa.values[k] ||
              (axes.size() > 1 && cfg.values[1] != axes[1].values[l]))
            continue;
          bool middle_rest = true;  // other axes at their middle value, as in a sweep's report
          for (size_t a = 2; a < axes.size(); ++a) {
            middle_rest = middle_rest && cfg.values[a] == axes[a].values[axes[a].values.size() / 2];
          }
          if (!middle_rest) continue;
          series.x.push_back(numeric ? grid_number(xa.values[k]) : static_cast<double>(k));
          series.y.push_back(load_per_gpu(s, cfg));
        }
      }
      c.series.push_back(std::move(series));
    }
    page.chart(c);
    page.end_charts();
  }

  page.heading("Every configuration");
  std::vector<std::string> header;
  for (const GridAxis& a : axes) header.push_back(a.key);
  header.insert(header.end(),
                {"status", s.knob, "fails at", "load per GPU (" + load_unit(s) + ")", "probes"});
  for (const SloTarget& t : s.slo) header.push_back(t.name + " at answer");
  header.push_back("missed above the answer");
  std::vector<std::vector<std::string>> rows;
  for (const SearchConfig& cfg : s.configs) {
    std::vector<std::string> row;
    for (const std::string& v : cfg.values) row.push_back(grid_display(v));
    const double a = cfg.answer(s.scan());
    row.insert(row.end(), {status_text(s, cfg), num(a), num(cfg.bisection.upper()),
                           num(load_per_gpu(s, cfg), 4), std::to_string(cfg.probes.size())});
    const ProbeResult* at = probe_at(cfg, a);
    for (const SloTarget& t : s.slo) {
      row.push_back(!at ? "" : format_seconds(metric(*at, t.path)));
    }
    const ProbeResult* up = probe_at(cfg, cfg.bisection.upper());
    row.push_back(!cfg.error.empty() ? cfg.error : !up ? "" : up->why);
    rows.push_back(std::move(row));
  }
  page.table(header, rows, best < s.configs.size() ? static_cast<int>(best) : -1);
  page.note(
      "search.csv has one row per configuration, probes.csv one per run; runs/ holds every probe's "
      "summary.json.");
  page.write(s.plan.dir + "/report.html");
}

void print_search(const SearchSetup& s, std::FILE* out) {
  const std::string ks = short_key(s.knob);
  std::string slo;
  for (const SloTarget& t : s.slo)
    slo += (slo.empty() ? "" : ", ") + t.name + " <= " + format_seconds(t.limit_s);
  std::fprintf(out, "search       %s over %s in [%g, %g]; SLO %s; %s\n", s.scenario_name.c_str(),
               s.knob.c_str(), s.lo, s.hi, slo.c_str(),
               s.scan() ? cat("linear scan, step ", s.scan_step).c_str()
                        : cat("bisection to ", s.precision * 100, "%").c_str());
  size_t width = 13;
  for (const SearchConfig& c : s.configs) width = std::max(width, c.name.size());
  const std::string unit = load_unit(s) == "requests/s" ? "req/s/GPU" : "per GPU";
  std::fprintf(out, "%-*s  %12s  %12s  %10s  %6s  %s\n", static_cast<int>(width), "configuration",
               ks.c_str(), "fails at", unit.c_str(), "probes", "status");
  for (const SearchConfig& c : s.configs) {
    const double a = c.answer(s.scan());
    std::fprintf(out, "%-*s  %12s  %12s  %10s  %6zu  %s\n", static_cast<int>(width), c.name.c_str(),
                 num(a).c_str(), num(c.bisection.upper()).c_str(),
                 num(load_per_gpu(s, c), 4).c_str(), c.probes.size(),
                 c.error.empty() ? status_text(s, c).c_str() : ("error: " + c.error).c_str());
  }
  const size_t best = s.best_config();
  if (best < s.configs.size()) {
    const SearchConfig& b = s.configs[best];
    std::fprintf(out, "best         %s: %s %s (%s = %s)\n", b.name.c_str(),
                 num(load_per_gpu(s, b), 4).c_str(), unit.c_str(), s.knob.c_str(),
                 num(b.answer(s.scan())).c_str());
  } else {
    std::fprintf(out, "best         none: no configuration meets the SLOs in the range\n");
  }
  std::fprintf(out, "runs         %lld run, %lld reused, %.1f s wall\n",
               static_cast<long long>(s.runs_launched), static_cast<long long>(s.runs_reused),
               s.wall_s);
  if (s.runs_launched > 0) {
    const CpuTimes cpu = cpu_times();
    std::fprintf(out,
                 "CPU          %.1f s in the runs (%.2f s each), %.2f s in the search itself\n",
                 cpu.children_s, cpu.children_s / static_cast<double>(s.runs_launched), cpu.self_s);
  }
  std::fprintf(out, "outputs      %s/{search.csv, probes.csv, report.html, runs/}\n",
               s.plan.dir.c_str());
}

}  // namespace tinyserve::app
