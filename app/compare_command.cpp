// `tinyserve compare RUN_A RUN_B`: two runs' summaries side by side, every number with its
// difference.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/commands.h"
#include "core/base/errors.h"
#include "core/text/text_file.h"

namespace tinyserve::app {

namespace {

using nlohmann::ordered_json;

// A run folder (its summary.json) or a summary.json itself.
ordered_json load_summary(const std::string& run) {
  std::filesystem::path path = run;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) path /= "summary.json";
  const std::string text = read_text_file(path.string());
  try {
    return ordered_json::parse(text);
  } catch (const ordered_json::exception& e) {
    throw InputError(path.string(), 0, std::string("malformed JSON: ") + e.what());
  }
}

// Leaves of the summary as dotted keys, in the file's order: numbers and strings.
void flatten(const ordered_json& j, const std::string& prefix,
             std::vector<std::pair<std::string, ordered_json>>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      flatten(*it, key, out);
    } else {
      out.emplace_back(key, *it);
    }
  }
}

std::string text_of(const ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
  }
  return v.dump();
}

}  // namespace

int compare_runs(const CompareOptions& o) {
  std::vector<std::pair<std::string, ordered_json>> a, b;
  flatten(load_summary(o.run_a), "", a);
  flatten(load_summary(o.run_b), "", b);
  std::map<std::string, ordered_json> by_key(b.begin(), b.end());
  std::vector<std::string> order;
  for (const auto& [k, v] : a) order.push_back(k);
  for (const auto& entry : b) {
    const std::string& key = entry.first;
    if (std::find_if(a.begin(), a.end(), [&](const auto& e) { return e.first == key; }) ==
        a.end()) {
      order.push_back(key);
    }
  }
  std::map<std::string, ordered_json> a_by_key(a.begin(), a.end());
  std::printf("%-44s %16s %16s %14s %9s\n", "", "A", "B", "B - A", "change");
  std::printf("%-44s %16s %16s\n", "", o.run_a.substr(0, 16).c_str(),
              o.run_b.substr(0, 16).c_str());
  for (const std::string& k : order) {
    const auto ia = a_by_key.find(k);
    const auto ib = by_key.find(k);
    const std::string va = ia == a_by_key.end() ? "-" : text_of(ia->second);
    const std::string vb = ib == by_key.end() ? "-" : text_of(ib->second);
    std::string diff, change;
    if (ia != a_by_key.end() && ib != by_key.end() && ia->second.is_number() &&
        ib->second.is_number()) {
      const double x = ia->second.get<double>(), y = ib->second.get<double>();
      char buf[32];
      std::snprintf(buf, sizeof buf, "%+.4g", y - x);
      diff = y == x ? "" : buf;
      if (x != 0 && y != x) {
        std::snprintf(buf, sizeof buf, "%+.1f%%", 100.0 * (y - x) / std::fabs(x));
        change = buf;
      }
    } else if (va != vb) {
      diff = "differs";
    }
    std::printf("%-44s %16s %16s %14s %9s\n", k.c_str(), va.substr(0, 16).c_str(),
                vb.substr(0, 16).c_str(), diff.c_str(), change.c_str());
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    throw std::runtime_error("cannot write to standard output");
  }
  return kExitOk;
}

}  // namespace tinyserve::app
