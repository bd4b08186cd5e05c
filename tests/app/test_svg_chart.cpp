#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "app/svg_chart.h"

using namespace tinyserve::app;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("nice ticks cover the range on 1-2-5 steps") {
  Ticks t = nice_ticks(0, 1, 5);
  CHECK(t.first == 0);
  CHECK(t.step == doctest::Approx(0.2));
  CHECK(t.count == 6);
  t = nice_ticks(3, 97, 4);
  CHECK(t.step == doctest::Approx(20));
  CHECK(t.first == 0);
  CHECK(t.first + t.step * (t.count - 1) >= 97);
  t = nice_ticks(-0.013, 0.041, 5);
  CHECK(t.step == doctest::Approx(0.01));
  CHECK(t.first == doctest::Approx(-0.02));
  t = nice_ticks(5, 5, 5);  // one value: a range around it
  CHECK(t.count >= 2);
  CHECK(t.first < 5);
}

TEST_CASE("tick labels use the digits the step needs and k/M suffixes") {
  CHECK(tick_label(0.2, 0.2) == "0.2");
  CHECK(tick_label(1, 0.25) == "1.00");
  CHECK(tick_label(40, 20) == "40");
  CHECK(tick_label(12000, 2000) == "12k");
  CHECK(tick_label(2500000, 500000) == "2.5M");
  CHECK(tick_label(-1e-17, 0.1) == "0.0");
}

TEST_CASE("min-max decimation keeps every bucket's extremes in order") {
  std::vector<double> x, y;
  for (int i = 0; i < 100000; ++i) {
    x.push_back(i);
    y.push_back(std::sin(i * 0.001) + (i == 54321 ? 10 : 0) - (i == 777 ? 5 : 0));
  }
  std::vector<double> dx, dy;
  decimate_min_max(x, y, 500, dx, dy);
  CHECK(dx.size() <= 1000);
  CHECK(dx.size() >= 500);
  CHECK(std::is_sorted(dx.begin(), dx.end()));
  CHECK(*std::max_element(dy.begin(), dy.end()) ==
        doctest::Approx(*std::max_element(y.begin(), y.end())));
  CHECK(*std::min_element(dy.begin(), dy.end()) ==
        doctest::Approx(*std::min_element(y.begin(), y.end())));
  CHECK(std::find(dx.begin(), dx.end(), 54321.0) != dx.end());
  CHECK(std::find(dx.begin(), dx.end(), 777.0) != dx.end());
  // Short series pass through.
  decimate_min_max({1, 2, 3}, {4, 5, 6}, 500, dx, dy);
  CHECK(dx == std::vector<double>{1, 2, 3});
  CHECK(dy == std::vector<double>{4, 5, 6});
}

TEST_CASE("a line chart is one svg element with its title, axes, legend and a path per series") {
  LineChart c;
  c.title = "KV <cache> & co";
  c.x = make_axis("time", "s");
  c.y = make_axis("usage", "", true);
  c.series = {{"used", {0, 1, 2, 3}, {0.1, 0.5, 0.25, 0.75}},
              {"util", {0, 1, 2, 3}, {1, 1, 0.9, 1}}};
  c.rules = {{0.8, "limit"}};
  const std::string svg = svg_line_chart(c);
  CHECK(svg.starts_with("<svg"));
  CHECK(count(svg, "<svg") == 1);
  CHECK(count(svg, "</svg>") == 1);
  CHECK(svg.find("KV &lt;cache&gt; &amp; co") != std::string::npos);
  CHECK(svg.find("<cache>") == std::string::npos);
  CHECK(svg.find("usage (%)") != std::string::npos);
  CHECK(svg.find("time (s)") != std::string::npos);
  CHECK(count(svg, "<path") == 2);
  CHECK(svg.find(">used<") != std::string::npos);
  CHECK(svg.find(">limit<") != std::string::npos);
  CHECK(svg.find(chart_colour(0)) != std::string::npos);
  CHECK(svg.find(chart_colour(1)) != std::string::npos);
  CHECK(svg.find("nan") == std::string::npos);
  CHECK(svg.find("inf") == std::string::npos);
}

TEST_CASE("a NaN leaves a gap: the path starts again after it") {
  LineChart c;
  c.series = {{"s", {0, 1, 2, 3, 4}, {1, 2, NAN, 3, 4}}};
  const std::string svg = svg_line_chart(c);
  const size_t d = svg.find(" d=\"");
  REQUIRE(d != std::string::npos);
  const std::string path = svg.substr(d, svg.find('"', d + 4) - d);
  CHECK(count(path, "M") == 2);
  CHECK(count(path, "L") == 2);
}

TEST_CASE("categorical and log axes place their ticks at the given values") {
  LineChart c;
  c.x.categories = {"lifo", "fifo", "lru"};
  c.series = {{"", {0, 1, 2}, {3, 1, 2}}};
  std::string svg = svg_line_chart(c);
  for (const char* name : {">lifo<", ">fifo<", ">lru<"}) CHECK(svg.find(name) != std::string::npos);

  LineChart l;
  l.x.log = true;
  l.x.ticks = {16, 64, 256};
  l.series = {{"", {16, 64, 256}, {1, 2, 3}}};
  svg = svg_line_chart(l);
  // Evenly spaced on a log axis: the three tick labels' x positions differ by equal steps.
  std::vector<double> xs;
  for (const char* label : {">16<", ">64<", ">256<"}) {
    const size_t at = svg.find(label);
    REQUIRE(at != std::string::npos);
    const size_t x = svg.rfind("x=\"", at);
    xs.push_back(std::stod(svg.substr(x + 3)));
  }
  CHECK(xs[1] - xs[0] == doctest::Approx(xs[2] - xs[1]).epsilon(0.01));
}

TEST_CASE("an empty chart says so") {
  LineChart c;
  c.title = "nothing";
  CHECK(svg_line_chart(c).find("no data") != std::string::npos);
}
