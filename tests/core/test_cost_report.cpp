#include <doctest/doctest.h>

#include <vector>

#include "core/engine/cost_report.h"

using namespace tinyserve;

namespace {

StepSample sample(const char* scenario, StepKind kind, double measured, double roofline,
                  double calibrated) {
  return {scenario, kind, measured, roofline, calibrated};
}

}  // namespace

TEST_CASE("a step is decode-only, prefill-only or mixed by what its batch holds") {
  StepWork w;
  w.decode_seqs = 3;
  CHECK(step_kind(w) == StepKind::kDecode);
  w.prefill_chunks = 1;
  CHECK(step_kind(w) == StepKind::kMixed);
  w.decode_seqs = 0;
  CHECK(step_kind(w) == StepKind::kPrefill);
  CHECK(step_kind_name(StepKind::kMixed) == "mixed");
}

TEST_CASE(
    "the error summary gives the median and the 90th percentile of the absolute relative error") {
  std::vector<StepSample> s;
  // Roofline errors -10%, -20%, ..., -100% of a 1 s step; calibrated +1% .. +10%.
  for (int i = 1; i <= 10; ++i) {
    s.push_back(sample("a", i % 2 ? StepKind::kDecode : StepKind::kPrefill, 1.0, 1.0 - 0.1 * i,
                       1.0 + 0.01 * i));
  }
  const ErrorSummary r = relative_error(s, CostModelKind::kRoofline);
  CHECK(r.steps == 10);
  CHECK(r.median == doctest::Approx(0.5));  // nearest rank: the 5th of 10
  CHECK(r.p90 == doctest::Approx(0.9));
  CHECK(r.max == doctest::Approx(1.0));
  CHECK(r.bias == doctest::Approx(-0.6));  // the 5th smallest signed error
  const ErrorSummary c = relative_error(s, CostModelKind::kCalibrated);
  CHECK(c.median == doctest::Approx(0.05));
  CHECK(c.bias == doctest::Approx(0.05));
  const ErrorSummary decode = relative_error(s, CostModelKind::kCalibrated, StepKind::kDecode);
  CHECK(decode.steps == 5);  // 1%, 3%, 5%, 7%, 9%
  CHECK(decode.median == doctest::Approx(0.05));
  CHECK(decode.p90 == doctest::Approx(0.09));
  CHECK(relative_error(s, CostModelKind::kRoofline, StepKind::kMixed).steps == 0);
}

TEST_CASE("the report tabulates each step kind, all steps, then each scenario") {
  const std::vector<StepSample> s = {sample("x", StepKind::kDecode, 2.0, 1.0, 2.2),
                                     sample("y", StepKind::kMixed, 1.0, 1.5, 1.0)};
  const std::string md = cost_report_markdown(s);
  CHECK(md.find("| decode-only | 1 | 50.0% | 50.0% | -50.0% | 10.0% | 10.0% | 10.0% |") !=
        std::string::npos);
  CHECK(md.find("| mixed | 1 | 50.0% | 50.0% | 50.0% | 0.0% | 0.0% | 0.0% |") != std::string::npos);
  CHECK(md.find("prefill-only") == std::string::npos);
  CHECK(md.find("| all | 2 |") != std::string::npos);
  CHECK(md.find("| x | 1 |") != std::string::npos);
  CHECK(md.find("| y | 1 |") != std::string::npos);
}
