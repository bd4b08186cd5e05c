// workload.rate_scale: the load knob of `tinyserve search`, for synthetic arrivals and traces.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/base/errors.h"
#include "core/config/scenario.h"

using namespace tinyserve;

namespace {

const char* kPoisson = R"(name = "t"
description = "a test"
seed = 5
[hardware]
num_gpu_blocks = 512
[workload]
num_requests = 50
[workload.arrival]
process = "poisson"
rate = 4.0
)";

std::vector<double> arrivals(const Scenario& sc) {
  std::vector<double> out;
  for (const RequestSpec& r : load_requests(sc)) out.push_back(r.arrival);
  return out;
}

}  // namespace

TEST_CASE("rate_scale compresses synthetic arrivals by its factor, keeping the requests") {
  const Scenario base = parse_scenario(kPoisson, "t.toml");
  const Scenario fast = parse_scenario(kPoisson, "t.toml", {"workload.rate_scale=2.5"});
  CHECK(fast.workload.arrival.rate == doctest::Approx(10.0));
  const std::vector<double> a = arrivals(base), b = arrivals(fast);
  REQUIRE(a.size() == b.size());
  REQUIRE(a.back() > 0);
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i] == doctest::Approx(a[i] / 2.5));
  const std::vector<RequestSpec> ra = load_requests(base), rb = load_requests(fast);
  for (size_t i = 0; i < ra.size(); ++i) {
    CHECK(ra[i].prompt_len() == rb[i].prompt_len());
    CHECK(ra[i].output_len == rb[i].output_len);
  }
}

TEST_CASE("rate_scale divides a trace's time") {
  const std::string path = std::string(TINYSERVE_SOURCE_DIR) + "/tests/cli/data/two_requests.toml";
  const Scenario base = load_scenario(path);
  const Scenario fast = load_scenario(path, {"workload.rate_scale=4", "workload.time_scale=0.5"});
  CHECK(fast.trace.time_scale == doctest::Approx(0.125));
  const std::vector<double> a = arrivals(base), b = arrivals(fast);
  REQUIRE(a.size() == 2);
  CHECK(a[1] == doctest::Approx(82.0));
  CHECK(b[1] == doctest::Approx(82.0 / 8));
}

TEST_CASE("rate_scale is refused for all-at-once arrivals and outside its range") {
  const std::string all_at_once = R"(name = "t"
description = "a test"
[hardware]
num_gpu_blocks = 512
[workload]
num_requests = 5
)";
  CHECK_NOTHROW(parse_scenario(all_at_once, "t.toml", {"workload.rate_scale=1"}));
  CHECK_THROWS_WITH_AS(parse_scenario(all_at_once, "t.toml", {"workload.rate_scale=2"}),
                       doctest::Contains("all-at-once arrivals have no rate to scale"), InputError);
  CHECK_THROWS_WITH_AS(parse_scenario(kPoisson, "t.toml", {"workload.rate_scale=0"}),
                       doctest::Contains("expected a number in"), InputError);
}
