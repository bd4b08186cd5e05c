#include "app/sweep_plan.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/base/errors.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

std::vector<std::string> split_top_level(const std::string& text) {
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  parts.push_back(cur);
  return parts;
}

bool is_integer_text(const std::string& s) {
  return s.find_first_of(".eE") == std::string::npos;
}

// "a:b:step" -> the numbers; empty when s is not a range.
std::vector<std::string> expand_range(const std::string& s, const std::string& origin) {
  const size_t c1 = s.find(':');
  if (c1 == std::string::npos) return {};
  const size_t c2 = s.find(':', c1 + 1);
  if (c2 == std::string::npos || s.find(':', c2 + 1) != std::string::npos) return {};
  const std::string ta = s.substr(0, c1), tb = s.substr(c1 + 1, c2 - c1 - 1), ts = s.substr(c2 + 1);
  double a = 0, b = 0, step = 0;
  if (!parse_number(ta, a) || !parse_number(tb, b) || !parse_number(ts, step)) return {};
  if (!(step > 0) || !(b >= a) || !std::isfinite(a) || !std::isfinite(b)) {
    throw InputError(
        origin, 0, cat("range ", s, ": expected start:stop:step with stop >= start and step > 0"));
  }
  const double n = std::floor((b - a) / step + 1e-9) + 1;
  if (n > 100000) throw InputError(origin, 0, cat("range ", s, " gives more than 100,000 values"));
  const bool integers = is_integer_text(ta) && is_integer_text(tb) && is_integer_text(ts);
  std::vector<std::string> out;
  for (int64_t k = 0; k < static_cast<int64_t>(n); ++k) {
    const double v = a + static_cast<double>(k) * step;
    if (integers) {
      out.push_back(std::to_string(static_cast<int64_t>(std::llround(v))));
    } else {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%.12g", v);
      out.push_back(buf);
    }
  }
  return out;
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '+' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out[0] == '.' || out[0] == '-') out.insert(out.begin(), '_');
  return out;
}

std::string read_text(const std::string& path, bool* exists = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (exists) *exists = static_cast<bool>(in);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  const std::string partial = path + ".partial";
  std::FILE* f = std::fopen(partial.c_str(), "wb");
  if (!f) throw InputError(partial, 0, cat("cannot write: ", std::strerror(errno)));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok)
    throw std::runtime_error("cannot write " + partial + ": " + std::strerror(errno));
  fs::rename(partial, path);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!trim(line).empty()) lines.push_back(line);
  }
  return lines;
}

void flatten(const nlohmann::ordered_json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) flatten(j[i], cat(prefix, ".", i), out);
  } else if (j.is_string()) {
    out.emplace_back(prefix, j.get<std::string>());
  } else if (j.is_null()) {
    out.emplace_back(prefix, "");
  } else {
    out.emplace_back(prefix, j.dump());
  }
}

}  // namespace

std::string grid_display(const std::string& value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

std::string short_key(const std::string& key) {
  const size_t dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

GridAxis parse_grid(const std::string& text) {
  const std::string origin = "--grid " + text;
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(origin, 0, "expected key=v1,v2,...");
  GridAxis axis;
  axis.key = trim(text.substr(0, eq));
  const bool key_ok = !axis.key.empty() && axis.key.front() != '.' && axis.key.back() != '.' &&
                      axis.key.find("..") == std::string::npos &&
                      std::all_of(axis.key.begin(), axis.key.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
                      });
  if (!key_ok) throw InputError(origin, 0, "expected a dotted key such as cache.block_size");
  std::set<std::string> seen;
  for (const std::string& piece : split_top_level(text.substr(eq + 1))) {
    const std::string v = trim(piece);
    if (v.empty()) throw InputError(origin, 0, "expected a value between every pair of commas");
    std::vector<std::string> values = expand_range(v, origin);
    if (values.empty()) values.push_back(v);
    for (std::string& value : values) {
      if (!seen.insert(value).second)
        throw InputError(origin, 0, cat("value ", value, " is given twice"));
      axis.values.push_back(std::move(value));
    }
  }
  return axis;
}

std::string run_name(const std::vector<GridAxis>& axes, const std::vector<std::string>& values) {
  std::map<std::string, int> shorts;
  for (const GridAxis& a : axes) ++shorts[short_key(a.key)];
  std::string name;
  for (size_t i = 0; i < axes.size(); ++i) {
    const std::string k = shorts[short_key(axes[i].key)] > 1 ? axes[i].key : short_key(axes[i].key);
    if (!name.empty()) name += "_";
    name += sanitize(k) + "-" + sanitize(grid_display(values[i]));
  }
  if (name.empty()) name = "base";
  constexpr size_t kMax = 150;
  if (name.size() > kMax) {
    char hash[24];
    std::snprintf(hash, sizeof hash, "~%08zx", std::hash<std::string>{}(name)&0xffffffffu);
    name = name.substr(0, kMax) + hash;
  }
  return name;
}

void expand_runs(SweepPlan& plan) {
  plan.runs.clear();
  size_t total = 1;
  for (const GridAxis& a : plan.axes) total *= a.values.size();
  std::set<std::string> names;
  for (size_t i = 0; i < total; ++i) {
    SweepRun run;
    size_t rest = i;
    run.values.resize(plan.axes.size());
    for (size_t a = plan.axes.size(); a-- > 0;) {
      const size_t n = plan.axes[a].values.size();
      run.values[a] = plan.axes[a].values[rest % n];
      rest /= n;
    }
    const std::string base = run_name(plan.axes, run.values);
    run.name = base;
    for (int k = 2; !names.insert(run.name).second; ++k) run.name = cat(base, "~", k);
    plan.runs.push_back(std::move(run));
  }
}

std::vector<std::string> run_overrides(const SweepPlan& plan, const SweepRun& run) {
  std::vector<std::string> sets = plan.sets;
  for (size_t a = 0; a < plan.axes.size(); ++a)
    sets.push_back(plan.axes[a].key + "=" + run.values[a]);
  return sets;
}

namespace {

std::vector<std::string> run_args(const SweepPlan& plan, const SweepRun& run) {
  std::vector<std::string> args = {"run", plan.scenario};
  for (const std::string& s : run_overrides(plan, run)) {
    args.push_back("--set");
    args.push_back(s);
  }
  args.push_back("--no-progress");
  if (!plan.outputs.empty()) {
    std::string list;
    for (const std::string& o : plan.outputs) list += (list.empty() ? "" : ",") + o;
    args.push_back("--outputs");
    args.push_back(list);
  }
  if (!plan.backend.empty()) {
    args.push_back("--backend");
    args.push_back(plan.backend);
  }
  return args;
}

std::string join_quoted(const std::vector<std::string>& args) {
  std::string out;
  for (const std::string& a : args) {
    if (!out.empty()) out += ' ';
    out += shell_quote(a);
  }
  return out;
}

}  // namespace

std::vector<std::string> run_argv(const SweepPlan& plan, const SweepRun& run) {
  std::vector<std::string> argv = {plan.tinyserve};
  for (std::string& a : run_args(plan, run)) argv.push_back(std::move(a));
  argv.push_back("--out");
  argv.push_back(plan.run_dir(run));
  return argv;
}

std::string run_identity(const SweepPlan& plan, const SweepRun& run) {
  return join_quoted(run_args(plan, run)) + "\n";
}

std::string shell_quote(const std::string& s) {
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '.' || c == '_' || c == '-' || c == '+' || c == '=' || c == ',' || c == ':';
  });
  if (plain) return s;
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string shell_command(const SweepPlan& plan, const SweepRun& run) {
  const std::string dir = shell_quote(plan.run_dir(run));
  const std::string log = shell_quote(plan.run_dir(run) + "/run.log");
  std::string identity = run_identity(plan, run);
  identity.pop_back();  // the newline: printf adds it
  return "mkdir -p " + dir + " && printf '%s\\n' " + shell_quote(identity) + " > " +
         shell_quote(plan.run_dir(run) + "/config.txt") + " && " +
         join_quoted(run_argv(plan, run)) + " > " + log +
         " 2>&1 || echo \"tinyserve sweep: exit status $?\" >> " + log;
}

void write_plan(const SweepPlan& plan) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["tinyserve"] = plan.tinyserve;
  j["scenario"] = plan.scenario;
  j["sets"] = plan.sets;
  j["grid"] = nlohmann::ordered_json::array();
  for (const GridAxis& a : plan.axes) j["grid"].push_back({{"key", a.key}, {"values", a.values}});
  j["outputs"] = plan.outputs;
  j["backend"] = plan.backend;
  j["runs"] = nlohmann::ordered_json::array();
  for (const SweepRun& r : plan.runs) j["runs"].push_back({{"name", r.name}, {"values", r.values}});
  std::error_code ec;
  fs::create_directories(plan.dir, ec);
  if (ec) throw InputError(plan.dir, 0, "cannot create the sweep folder: " + ec.message());
  write_text(plan.dir + "/sweep.json", j.dump(2) + "\n");
}

SweepPlan read_plan(const std::string& dir) {
  const std::string path = dir + "/sweep.json";
  bool exists = false;
  const std::string text = read_text(path, &exists);
  if (!exists)
    throw InputError(path, 0, "cannot open: no sweep plan here (tinyserve sweep writes it)");
  SweepPlan plan;
  try {
    const auto j = nlohmann::json::parse(text);
    plan.dir = fs::absolute(dir).lexically_normal().string();
    while (plan.dir.size() > 1 && plan.dir.back() == '/') plan.dir.pop_back();
    plan.tinyserve = j.at("tinyserve").get<std::string>();
    plan.scenario = j.at("scenario").get<std::string>();
    plan.sets = j.at("sets").get<std::vector<std::string>>();
    for (const auto& a : j.at("grid")) {
      plan.axes.push_back(
          {a.at("key").get<std::string>(), a.at("values").get<std::vector<std::string>>()});
    }
    plan.outputs = j.at("outputs").get<std::vector<std::string>>();
    plan.backend = j.at("backend").get<std::string>();
    for (const auto& r : j.at("runs")) {
      plan.runs.push_back(
          {r.at("name").get<std::string>(), r.at("values").get<std::vector<std::string>>()});
      if (plan.runs.back().values.size() != plan.axes.size()) {
        throw InputError(path, 0, "a run's values do not match the grid");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, 0, cat("malformed sweep plan: ", e.what()));
  }
  return plan;
}

const char* to_string(RunState s) {
  switch (s) {
    case RunState::kComplete:
      return "ok";
    case RunState::kFailed:
      return "failed";
    case RunState::kIncomplete:
      return "incomplete";
    case RunState::kNotRun:
      return "not run";
    case RunState::kStale:
      return "stale";
  }
  return "?";
}

void prepare_run_dir(const SweepPlan& plan, const SweepRun& run) {
  std::error_code ec;
  fs::create_directories(plan.run_dir(run), ec);
  if (ec) throw InputError(plan.run_dir(run), 0, "cannot create the run folder: " + ec.message());
  write_text(plan.run_dir(run) + "/config.txt", run_identity(plan, run));
}

RunStatus run_status(const SweepPlan& plan, const SweepRun& run) {
  const std::string dir = plan.run_dir(run);
  RunStatus st;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return st;
  bool has_config = false;
  const std::string config = read_text(dir + "/config.txt", &has_config);
  if (has_config && config != run_identity(plan, run)) {
    st.state = RunState::kStale;
    st.error = "the folder holds another configuration (config.txt differs); rerun the sweep";
    return st;
  }
  const bool has_summary = fs::is_regular_file(dir + "/summary.json", ec);
  if (has_summary && has_config) {
    st.state = RunState::kComplete;
    return st;
  }
  if (has_summary) {
    st.state = RunState::kStale;
    st.error = "summary.json without config.txt: not written by this sweep";
    return st;
  }
  bool has_log = false;
  const std::vector<std::string> lines = lines_of(read_text(dir + "/run.log", &has_log));
  if (!has_log) return st;
  std::string status, message;
  for (const std::string& l : lines) {
    if (l.starts_with("tinyserve sweep: ")) {
      status = l.substr(17);
    } else if (l.starts_with("tinyserve: ")) {
      message += (message.empty() ? "" : " / ") + l.substr(11);
    }
  }
  if (status.empty()) {
    st.state = RunState::kIncomplete;
    st.error = "no summary.json: still running, interrupted or killed";
    return st;
  }
  st.state = RunState::kFailed;
  st.error = message.empty() ? status : message + " (" + status + ")";
  return st;
}

std::vector<std::pair<std::string, std::string>> flatten_summary(const std::string& json_text) {
  std::vector<std::pair<std::string, std::string>> out;
  flatten(nlohmann::ordered_json::parse(json_text), "", out);
  return out;
}

SweepTable read_sweep(const SweepPlan& plan) {
  SweepTable t;
  std::set<std::string> known;
  for (const SweepRun& run : plan.runs) {
    SweepRow row;
    row.run = &run;
    row.status = run_status(plan, run);
    if (row.status.state == RunState::kComplete) {
      try {
        for (auto& [k, v] : flatten_summary(read_text(plan.run_dir(run) + "/summary.json"))) {
          if (known.insert(k).second) t.columns.push_back(k);
          row.metrics[k] = std::move(v);
        }
      } catch (const nlohmann::json::exception& e) {
        row.status = {RunState::kFailed, cat("unreadable summary.json: ", e.what())};
      }
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void write_sweep_csv(const SweepPlan& plan, const SweepTable& t, const std::string& path) {
  std::string out;
  for (const GridAxis& a : plan.axes) out += csv_field(a.key) + ",";
  out += "run,status,error";
  for (const std::string& c : t.columns) {
    out += ',';
    out += csv_field(c);
  }
  out += '\n';
  for (const SweepRow& row : t.rows) {
    for (const std::string& v : row.run->values) out += csv_field(grid_display(v)) + ",";
    out += csv_field(row.run->name) + "," + to_string(row.status.state) + "," +
           csv_field(row.status.error);
    for (const std::string& c : t.columns) {
      const auto it = row.metrics.find(c);
      out += ',';
      if (it != row.metrics.end()) out += csv_field(it->second);
    }
    out += "\n";
  }
  write_text(path, out);
}

}  // namespace tinyserve::app
