#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "core/engine/run_recorder.h"
#include "core/engine/step_metrics.h"

using namespace tinyserve;

namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}
}  // namespace

TEST_CASE("a metrics row has one cell per header column, in the shortest exact form") {
  StepMetrics m;
  m.step = 12;
  m.time_s = 0.1;
  m.step_ms = 1.0 / 3.0;
  m.running = 7;
  m.pool.kv_cache_usage = 0.25;
  m.pool.f_total_norm = 0.5;
  m.attention_ms = -1;
  std::string row;
  append_metrics_csv_row(m, row);
  REQUIRE(row.back() == '\n');
  row.pop_back();
  const std::vector<std::string> header = split(metrics_csv_header());
  const std::vector<std::string> cells = split(row);
  REQUIRE(cells.size() == header.size());
  auto cell = [&](const std::string& name) {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return cells[i];
    }
    FAIL("no column " << name);
    return std::string();
  };
  CHECK(cell("step") == "12");
  CHECK(cell("time_s") == "0.1");
  CHECK(std::stod(cell("step_ms")) == 1.0 / 3.0);  // round-trips exactly
  CHECK(cell("running") == "7");
  CHECK(cell("kv_cache_usage") == "0.25");
  CHECK(cell("f_total_norm") == "0.5");
  CHECK(cell("attention_ms") == "-1");
  CHECK(cell("waiting") == "0");
}

TEST_CASE("distributions use nearest-rank percentiles") {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(101 - i);  // 100..1, unsorted on purpose
  const Distribution d = distribution(v);
  CHECK(d.count == 100);
  CHECK(d.mean == doctest::Approx(50.5));
  CHECK(d.p50 == 50);
  CHECK(d.p90 == 90);
  CHECK(d.p99 == 99);
  CHECK(d.max == 100);
  const Distribution one = distribution({3.0});
  CHECK(one.p50 == 3.0);
  CHECK(one.p99 == 3.0);
  CHECK(distribution({}).count == 0);
}

TEST_CASE("a requests.csv row leaves what a request never reached empty") {
  RequestResult done;
  done.id = 4;
  done.arrival = 1.0;
  done.first_token = 1.5;
  done.finish = 3.5;
  done.prompt_tokens = 100;
  done.output_tokens = 5;
  done.preemptions = 1;
  done.prefix_hit_tokens = 32;
  std::string row;
  append_requests_csv_row(done, row);
  CHECK(row == "4,finished,1,1.5,3.5,0.5,0.5,2.5,100,5,1,32\n");
  RequestResult waiting;
  waiting.id = 9;
  waiting.status = RequestStatus::kUnfinished;
  waiting.arrival = 2.0;
  waiting.prompt_tokens = 10;
  waiting.output_tokens = 3;
  row.clear();
  append_requests_csv_row(waiting, row);
  CHECK(row == "9,unfinished,2,,,,,,10,3,0,0\n");
  CHECK(split(requests_csv_header()).size() == split(row.substr(0, row.size() - 1)).size());
}
