#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "app/gui/time_axis.h"

using namespace tinyserve::app;

namespace {

ViewState whole_run(bool in_steps, double end) {
  ViewState v;
  v.axis_in_steps = in_steps;
  const std::vector<double> xs = {0.0, end * 0.5, end};
  const std::vector<double>* runs[] = {&xs};
  update_axis(v, runs);
  return v;
}

void check_distinct_labels(const ViewState& v, float width) {
  const std::vector<AxisTick> ticks = axis_ticks(v.axis_min, v.axis_max, width, v.axis_in_steps);
  REQUIRE(ticks.size() >= 2);
  std::set<std::string> labels;
  for (const AxisTick& t : ticks) {
    CHECK(t.x >= v.axis_min - 1e-12);
    CHECK(t.x <= v.axis_max + 1e-9);
    labels.insert(t.label);
  }
  CHECK(labels.size() == ticks.size());
}

}  // namespace

TEST_CASE("zooming in on simulated time stops at a floor where the tick labels still differ") {
  ViewState v = whole_run(false, 40.5);
  const AxisBounds b = axis_bounds(v);
  for (int i = 0; i < 200; ++i) zoom_axis(v, 0.86, 0.8, b);
  CHECK_FALSE(v.axis_follow);
  CHECK(v.axis_max - v.axis_min == doctest::Approx(kMinSpanSeconds));
  CHECK(v.axis_min <= 0.86);
  CHECK(v.axis_max >= 0.86);
  for (float width : {200.0f, 700.0f, 1400.0f, 3000.0f}) check_distinct_labels(v, width);
}

TEST_CASE("zooming in on steps stops at ten steps, labelled as whole steps") {
  ViewState v = whole_run(true, 1200);
  const AxisBounds b = axis_bounds(v);
  for (int i = 0; i < 200; ++i) zoom_axis(v, 600.3, 0.5, b);
  CHECK(v.axis_max - v.axis_min == doctest::Approx(kMinSpanSteps));
  const std::vector<AxisTick> ticks = axis_ticks(v.axis_min, v.axis_max, 1400, true);
  for (const AxisTick& t : ticks) CHECK(t.x == static_cast<double>(static_cast<int64_t>(t.x)));
  check_distinct_labels(v, 1400);
}

TEST_CASE("panning and zooming never show a time or step before zero or past the run") {
  for (bool in_steps : {false, true}) {
    ViewState v = whole_run(in_steps, 300);
    const AxisBounds b = axis_bounds(v);
    zoom_axis(v, 10, 0.1, b);
    const double span = v.axis_max - v.axis_min;
    pan_axis(v, -1e6, b);
    CHECK(v.axis_min == 0);
    CHECK(v.axis_max == doctest::Approx(span));
    pan_axis(v, 1e6, b);
    CHECK(v.axis_max == doctest::Approx(300));
    CHECK(v.axis_max - v.axis_min == doctest::Approx(span));
    // Random wheel and drag input stays in bounds.
    uint64_t state = 12345;
    for (int i = 0; i < 2000; ++i) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const double u = static_cast<double>(state >> 11) / 9007199254740992.0;
      if (i % 3 == 0) {
        zoom_axis(v, u * 400 - 50, i % 2 ? 0.8 : 1.25, b);
      } else {
        pan_axis(v, (u - 0.5) * 500, b);
      }
      REQUIRE(v.axis_min >= 0);
      REQUIRE(v.axis_max <= 300 + 1e-9);
      REQUIRE(v.axis_max - v.axis_min >= b.min_span - 1e-9);
      for (const AxisTick& t : axis_ticks(v.axis_min, v.axis_max, 700, in_steps)) {
        REQUIRE(t.label.find('-') == std::string::npos);
      }
    }
  }
}

TEST_CASE("zooming out stops at the whole run") {
  ViewState v = whole_run(false, 12);
  const AxisBounds b = axis_bounds(v);
  for (int i = 0; i < 50; ++i) zoom_axis(v, 6, 1.25, b);
  CHECK(v.axis_min == 0);
  CHECK(v.axis_max == doctest::Approx(12));
}

TEST_CASE("an axis left out of bounds by a shorter run is brought back") {
  ViewState v = whole_run(false, 100);
  zoom_axis(v, 90, 0.1, axis_bounds(v));
  // The run is replaced by one that has only reached 5 s.
  const std::vector<double> xs = {0.5, 5.0};
  const std::vector<double>* runs[] = {&xs};
  update_axis(v, runs);
  CHECK(v.axis_min >= 0);
  CHECK(v.axis_max <= 5.0 + 1e-9);
  CHECK(v.axis_max > v.axis_min);
}

TEST_CASE("axis labels carry the decimals their spacing needs") {
  CHECK(axis_label(0.86, 0.001, false) == "0.860s");
  CHECK(axis_label(0.861, 0.001, false) == "0.861s");
  CHECK(axis_label(5, 5, false) == "5s");
  CHECK(axis_label(1.5, 0.5, false) == "1.5s");
  CHECK(axis_label(20000, 5000, true) == "20k");
  CHECK(axis_label(12500, 500, true) == "12.5k");
  CHECK(axis_label(12, 1, true) == "12");
}
