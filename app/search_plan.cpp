#include "app/search_plan.h"

#include <cmath>
#include <cstdio>

#include "core/base/errors.h"
#include "core/base/strings.h"

namespace tinyserve::app {

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

}  // namespace

std::vector<SloTarget> parse_slo(const std::string& text) {
  const std::string origin = "--slo " + text;
  std::vector<SloTarget> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = trim(text.substr(start, comma - start));
    start = comma + 1;
    const size_t eq = item.find('=');
    if (item.empty() || eq == std::string::npos) {
      throw InputError(origin, 0, "expected metric=limit[,metric=limit...], e.g. ttft_p99=2s");
    }
    SloTarget t;
    t.name = trim(item.substr(0, eq));
    const size_t us = t.name.rfind('_');
    const std::string metric = us == std::string::npos ? "" : t.name.substr(0, us);
    const std::string stat = us == std::string::npos ? "" : t.name.substr(us + 1);
    const std::string field = metric == "ttft"                         ? "ttft_s"
                              : metric == "tpot"                       ? "tpot_s"
                              : metric == "latency" || metric == "e2e" ? "latency_s"
                                                                       : "";
    const bool stat_ok =
        stat == "mean" || stat == "p50" || stat == "p90" || stat == "p99" || stat == "max";
    if (field.empty() || !stat_ok) {
      throw InputError(
          origin, 0,
          cat(t.name, ": expected ttft, tpot or latency with _mean, _p50, _p90, _p99 or _max"));
    }
    t.path = field + "." + stat;
    std::string value = trim(item.substr(eq + 1));
    double scale = 1;
    if (value.ends_with("ms")) {
      scale = 1e-3;
      value.resize(value.size() - 2);
    } else if (value.ends_with("us")) {
      scale = 1e-6;
      value.resize(value.size() - 2);
    } else if (value.ends_with("s")) {
      value.resize(value.size() - 1);
    }
    double v = 0;
    if (!parse_number(trim(value), v) || !(v > 0) || !std::isfinite(v)) {
      throw InputError(origin, 0, cat(t.name, ": expected a time > 0 such as 2s, 100ms or 0.5"));
    }
    t.limit_s = v * scale;
    for (const SloTarget& o : out) {
      if (o.path == t.path) throw InputError(origin, 0, cat(t.name, " is given twice"));
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string format_seconds(double s) {
  char buf[48];
  if (std::fabs(s) < 1 && s != 0) {
    std::snprintf(buf, sizeof buf, "%.4g ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.4g s", s);
  }
  return buf;
}

SloCheck check_slo(const std::vector<SloTarget>& slo, const std::map<std::string, std::string>& m) {
  SloCheck c;
  double unfinished = 0;
  if (const auto it = m.find("requests.unfinished");
      it != m.end() && parse_number(it->second, unfinished) && unfinished > 0) {
    c.why = cat(unfinished, " requests unfinished");
    return c;
  }
  for (const SloTarget& t : slo) {
    const auto it = m.find(t.path);
    double v = NAN;
    double count = 1;
    const std::string count_path = t.path.substr(0, t.path.find('.')) + ".count";
    if (const auto ct = m.find(count_path); ct != m.end()) parse_number(ct->second, count);
    if (it == m.end() || !parse_number(it->second, v) || count == 0) {
      c.why = t.name + " has no value (no request finished)";
      return c;
    }
    if (!(v <= t.limit_s)) {
      c.why = t.name + " " + format_seconds(v) + " > " + format_seconds(t.limit_s);
      return c;
    }
  }
  c.pass = true;
  return c;
}

Bisection::Bisection(double lo, double hi, double precision)
    : lo_(lo), hi_(hi), precision_(precision) {}

Bisection::Status Bisection::status() const {
  const auto lo = results_.find(lo_), hi = results_.find(hi_);
  if (lo != results_.end() && !lo->second) return Status::kBelowRange;
  if (lo == results_.end() || hi == results_.end()) return Status::kSearching;
  const double b = upper();
  if (std::isnan(b)) return Status::kAboveRange;
  return b <= best() * (1 + precision_) + 1e-12 * std::fabs(b) ? Status::kFound
                                                               : Status::kSearching;
}

double Bisection::upper() const {
  for (const auto& [v, pass] : results_) {
    if (!pass) return v;
  }
  return NAN;
}

double Bisection::best() const {
  double best = NAN;
  for (const auto& [v, pass] : results_) {
    if (!pass) break;
    best = v;
  }
  return best;
}

std::vector<double> Bisection::next(int32_t k) const {
  if (status() != Status::kSearching) return {};
  std::vector<double> out;
  if (!results_.contains(lo_)) out.push_back(lo_);
  if (!results_.contains(hi_) && hi_ != lo_) out.push_back(hi_);
  if (!out.empty()) return out;
  const double a = best(), b = upper();
  k = std::max(k, 1);
  for (int32_t i = 1; i <= k; ++i) {
    const double f = static_cast<double>(i) / (k + 1);
    out.push_back(a > 0 ? a * std::pow(b / a, f) : a + (b - a) * f);
  }
  return out;
}

void Bisection::record(double value, bool pass) {
  results_[value] = pass;
}

const char* to_string(Bisection::Status s) {
  switch (s) {
    case Bisection::Status::kSearching:
      return "searching";
    case Bisection::Status::kFound:
      return "found";
    case Bisection::Status::kBelowRange:
      return "fails at the smallest load";
    case Bisection::Status::kAboveRange:
      return "meets the SLOs at the largest load";
  }
  return "?";
}

double scan_answer(const std::map<double, bool>& results) {
  double best = NAN;
  for (const auto& [v, pass] : results) {
    if (!pass) break;
    best = v;
  }
  return best;
}

}  // namespace tinyserve::app
