// What `tinyserve search` needs besides running: service-level objectives read from --slo and
// checked against a run's summary, and the bisection of a monotone load knob.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tinyserve::app {

struct SloTarget {
  std::string name;  // as written: "ttft_p99"
  std::string path;  // the summary.json field: "ttft_s.p99"
  double limit_s = 0;
};

// "ttft_p99=2s,tpot_p99=100ms": metrics ttft, tpot, latency (or e2e) with mean, p50, p90, p99 or
// max; limits in s, ms or us (a bare number is seconds). InputError naming "--slo TEXT".
std::vector<SloTarget> parse_slo(const std::string& text);

struct SloCheck {
  bool pass = false;
  std::string why;  // the first target missed: "ttft_p99 2.41 s > 2 s"; "" when pass
};
// metrics: a flattened summary.json. A run meets the SLOs when every target holds and no
// request is left unfinished; a metric without a value (no request finished) misses.
SloCheck check_slo(const std::vector<SloTarget>& slo,
                   const std::map<std::string, std::string>& metrics);

// "2 s", "100 ms"
std::string format_seconds(double s);

// Bisection of one configuration's knob in [lo, hi], assuming that more of the knob is more
// load (a pass at v implies a pass below v). Probes come in rounds of k values spaced evenly
// (geometrically when lo > 0) inside the open bracket; it ends when the bracket's upper end is
// within precision of the lower (hi <= lo (1 + precision)). Where probes disagree with
// monotonicity, the lowest failing value bounds the answer: the answer is the largest probed
// value below which every probe passed.
class Bisection {
 public:
  enum class Status : uint8_t {
    kSearching,
    kFound,       // best() passes, upper() fails, within precision
    kBelowRange,  // even lo misses the SLOs
    kAboveRange,  // even hi meets them: the answer is at least hi
  };

  Bisection(double lo, double hi, double precision);

  // The next round's values (k of them, k >= 1), or none when the search is over. The first
  // round is lo and hi.
  std::vector<double> next(int32_t k) const;
  void record(double value, bool pass);
  Status status() const;
  double best() const;   // the largest value known to pass (NaN when none)
  double upper() const;  // the smallest value known to fail (NaN when none)
  size_t probes() const { return results_.size(); }
  const std::map<double, bool>& results() const { return results_; }

 private:
  double lo_, hi_, precision_;
  std::map<double, bool> results_;
};

const char* to_string(Bisection::Status s);

// A linear scan's answer from the same results: the largest value below the first failure.
double scan_answer(const std::map<double, bool>& results);

}  // namespace tinyserve::app
