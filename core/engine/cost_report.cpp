#include "core/engine/cost_report.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "core/base/strings.h"
#include "core/engine/step_metrics.h"

namespace tinyserve {

std::string_view step_kind_name(StepKind kind) {
  switch (kind) {
    case StepKind::kDecode:
      return "decode";
    case StepKind::kPrefill:
      return "prefill";
    case StepKind::kMixed:
      return "mixed";
  }
  return "?";
}

StepKind step_kind(const StepWork& w) {
  if (w.prefill_chunks == 0) return StepKind::kDecode;
  return w.decode_seqs == 0 ? StepKind::kPrefill : StepKind::kMixed;
}

namespace {

double modelled(const StepSample& s, CostModelKind model) {
  return model == CostModelKind::kRoofline ? s.roofline_s : s.calibrated_s;
}

ErrorSummary summarize(const std::vector<const StepSample*>& samples, CostModelKind model) {
  ErrorSummary e;
  std::vector<double> abs, signed_errors;
  for (const StepSample* s : samples) {
    const double r = (modelled(*s, model) - s->measured_s) / s->measured_s;
    abs.push_back(std::fabs(r));
    signed_errors.push_back(r);
  }
  const Distribution d = distribution(abs);
  e.steps = d.count;
  e.median = d.p50;
  e.p90 = d.p90;
  e.max = d.max;
  e.bias = distribution(signed_errors).p50;
  return e;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * v);
  return buf;
}

std::string row(std::string_view label, const std::vector<const StepSample*>& s) {
  const ErrorSummary r = summarize(s, CostModelKind::kRoofline);
  const ErrorSummary c = summarize(s, CostModelKind::kCalibrated);
  return cat("| ", label, " | ", r.steps, " | ", percent(r.median), " | ", percent(r.p90), " | ",
             percent(r.bias), " | ", percent(c.median), " | ", percent(c.p90), " | ",
             percent(c.bias), " |\n");
}

}  // namespace

ErrorSummary relative_error(std::span<const StepSample> samples, CostModelKind model) {
  std::vector<const StepSample*> all;
  for (const StepSample& s : samples) all.push_back(&s);
  return summarize(all, model);
}

ErrorSummary relative_error(std::span<const StepSample> samples, CostModelKind model,
                            StepKind kind) {
  std::vector<const StepSample*> some;
  for (const StepSample& s : samples) {
    if (s.kind == kind) some.push_back(&s);
  }
  return summarize(some, model);
}

std::string cost_report_markdown(std::span<const StepSample> samples) {
  const std::string header =
      "| steps | count | roofline median | roofline p90 | roofline bias | calibrated median | "
      "calibrated p90 | calibrated bias |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n";
  std::string out = header;
  std::vector<const StepSample*> all;
  for (const StepSample& s : samples) all.push_back(&s);
  for (StepKind kind : kAllStepKinds) {
    std::vector<const StepSample*> some;
    for (const StepSample* s : all) {
      if (s->kind == kind) some.push_back(s);
    }
    if (some.empty()) continue;
    out += row(kind == StepKind::kMixed ? std::string("mixed") : cat(step_kind_name(kind), "-only"),
               some);
  }
  out += row("all", all);
  out += "\n" + header;
  std::vector<std::string> names;
  for (const StepSample& s : samples) {
    if (names.empty() || names.back() != s.scenario) names.push_back(s.scenario);
  }
  std::set<std::string> seen;
  for (const std::string& name : names) {
    if (!seen.insert(name).second) continue;
    std::vector<const StepSample*> some;
    for (const StepSample* s : all) {
      if (s->scenario == name) some.push_back(s);
    }
    out += row(name, some);
  }
  return out;
}

}  // namespace tinyserve
