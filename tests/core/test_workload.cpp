#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/workload/workload.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;

namespace {

struct Moments {
  double mean = 0.0;
  double cv = 0.0;  // standard deviation / mean
};

template <typename T>
Moments moments(const std::vector<T>& values) {
  double sum = 0.0;
  for (T v : values) sum += static_cast<double>(v);
  const double mean = sum / static_cast<double>(values.size());
  double squares = 0.0;
  for (T v : values) squares += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
  return {mean, std::sqrt(squares / static_cast<double>(values.size() - 1)) / mean};
}

std::vector<double> inter_arrivals(const std::vector<RequestSpec>& requests) {
  std::vector<double> gaps;
  for (size_t i = 1; i < requests.size(); ++i) {
    gaps.push_back(requests[i].arrival - requests[i - 1].arrival);
  }
  return gaps;
}

LengthDist uniform(int32_t min, int32_t max) {
  LengthDist d;
  d.kind = LengthKind::kUniform;
  d.min = min;
  d.max = max;
  return d;
}

LengthDist zipf(int32_t min, int32_t max, double exponent) {
  LengthDist d = uniform(min, max);
  d.kind = LengthKind::kZipf;
  d.zipf_exponent = exponent;
  return d;
}

}  // namespace

TEST_CASE("fixed lengths are all the same") {
  LengthDist d;
  d.kind = LengthKind::kFixed;
  d.value = 300;
  const std::vector<int32_t> lengths = sample_lengths(d, 1000, 1);
  CHECK(std::all_of(lengths.begin(), lengths.end(), [](int32_t l) { return l == 300; }));
}

TEST_CASE("uniform lengths cover [min, max] with the mean in the middle") {
  const std::vector<int32_t> lengths = sample_lengths(uniform(10, 20), 200'000, 7);
  CHECK(*std::min_element(lengths.begin(), lengths.end()) == 10);
  CHECK(*std::max_element(lengths.begin(), lengths.end()) == 20);
  CHECK(moments(lengths).mean == doctest::Approx(15.0).epsilon(0.002));
  std::map<int32_t, int64_t> counts;
  for (int32_t l : lengths) ++counts[l];
  for (const auto& [value, count] : counts) {
    CHECK(static_cast<double>(count) == doctest::Approx(200'000.0 / 11).epsilon(0.03));
  }
}

TEST_CASE("the seed's mix draws 90% in [64, 512] and 10% in [2048, 4096]") {
  const std::vector<int32_t> lengths = sample_lengths(seed_mix(), 200'000, 2);
  int64_t shorts = 0, longs = 0;
  double short_sum = 0.0, long_sum = 0.0;
  for (int32_t l : lengths) {
    if (l >= 64 && l <= 512) {
      ++shorts;
      short_sum += l;
    } else if (l >= 2048 && l <= 4096) {
      ++longs;
      long_sum += l;
    }
  }
  CHECK(shorts + longs == 200'000);
  CHECK(static_cast<double>(longs) / 200'000 == doctest::Approx(0.1).epsilon(0.03));
  CHECK(short_sum / static_cast<double>(shorts) == doctest::Approx(288.0).epsilon(0.005));
  CHECK(long_sum / static_cast<double>(longs) == doctest::Approx(3072.0).epsilon(0.005));
  CHECK(moments(lengths).mean == doctest::Approx(0.9 * 288 + 0.1 * 3072).epsilon(0.01));
  CHECK(*std::min_element(lengths.begin(), lengths.end()) == 64);
  CHECK(*std::max_element(lengths.begin(), lengths.end()) == 4096);
}

TEST_CASE("Zipf lengths follow the exact pmf k^-s / sum over [min, max]") {
  for (const auto& [min, max, s] :
       {std::tuple{1, 100, 1.2}, std::tuple{64, 160, 0.8}, std::tuple{5, 50, 2.5}}) {
    constexpr int64_t kDraws = 400'000;
    const std::vector<int32_t> lengths = sample_lengths(zipf(min, max, s), kDraws, 11);
    std::vector<int64_t> counts(static_cast<size_t>(max - min + 1));
    REQUIRE(*std::min_element(lengths.begin(), lengths.end()) >= min);
    REQUIRE(*std::max_element(lengths.begin(), lengths.end()) <= max);
    for (int32_t l : lengths) ++counts[static_cast<size_t>(l - min)];
    double norm = 0.0;
    for (int k = min; k <= max; ++k) norm += std::pow(k, -s);
    // Pearson's chi-square against the exact pmf, over bins expecting >= 5 draws.
    double chi2 = 0.0;
    int bins = 0;
    for (int k = min; k <= max; ++k) {
      const double expected = kDraws * std::pow(k, -s) / norm;
      if (expected < 5) continue;
      const double diff = static_cast<double>(counts[static_cast<size_t>(k - min)]) - expected;
      chi2 += diff * diff / expected;
      ++bins;
    }
    const double df = bins - 1;
    CHECK_MESSAGE(chi2 < df + 5 * std::sqrt(2 * df), "s=", s, " chi2=", chi2, " df=", df);
    // The head carries the predicted mass.
    const double p_min = std::pow(min, -s) / norm;
    CHECK(static_cast<double>(counts[0]) / kDraws == doctest::Approx(p_min).epsilon(0.02));
  }
}

TEST_CASE("a Zipf exponent of zero is uniform, and a large one puts nearly all mass on min") {
  const std::vector<int32_t> flat = sample_lengths(zipf(1, 9, 0.0), 90'000, 3);
  CHECK(moments(flat).mean == doctest::Approx(5.0).epsilon(0.01));
  const std::vector<int32_t> steep = sample_lengths(zipf(1, 2'000'000, 60.0), 10'000, 3);
  CHECK(std::count(steep.begin(), steep.end(), 1) == 10'000);
  // Weights are relative to min: P(k) = (k / 1000)^-60 / sum, about 59/1000 for k = 1000.
  const std::vector<int32_t> far = sample_lengths(zipf(1000, 2'000'000, 60.0), 100'000, 3);
  double norm = 0.0;
  for (int k = 1000; k <= 2'000'000; ++k) norm += std::pow(k / 1000.0, -60.0);
  CHECK(static_cast<double>(std::count(far.begin(), far.end(), 1000)) / 100'000 ==
        doctest::Approx(1.0 / norm).epsilon(0.05));
}

TEST_CASE("a workload has ids 0..N-1 in arrival order and the requested shape") {
  WorkloadConfig c;
  c.num_requests = 500;
  c.prompt_len = seed_mix();
  c.output_len = uniform(1, 64);
  c.arrival.kind = ArrivalKind::kPoisson;
  c.arrival.rate = 20.0;
  c.n = 4;
  c.beam_width = 2;
  c.num_priorities = 3;
  const std::vector<RequestSpec> requests = generate_workload(c, 42);
  REQUIRE(requests.size() == 500);
  std::set<int32_t> priorities;
  for (size_t i = 0; i < requests.size(); ++i) {
    const RequestSpec& r = requests[i];
    CHECK(r.id == static_cast<int64_t>(i));
    if (i > 0) CHECK(r.arrival >= requests[i - 1].arrival);
    CHECK(r.prompt.size() == 1);
    CHECK(r.output_len >= 1);
    CHECK(r.output_len <= 64);
    CHECK(r.n == 4);
    CHECK(r.beam_width == 2);
    priorities.insert(r.priority);
  }
  CHECK(requests[0].arrival == 0.0);
  CHECK(priorities == std::set<int32_t>{0, 1, 2});
}

TEST_CASE("the same seed gives the same workload, another seed another") {
  WorkloadConfig c;
  c.num_requests = 200;
  c.prompt_len = zipf(16, 4096, 1.1);
  c.arrival.kind = ArrivalKind::kGamma;
  c.arrival.rate = 5.0;
  c.system_prompt = {128, 3};
  auto same = [](const std::vector<RequestSpec>& a, const std::vector<RequestSpec>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].arrival != b[i].arrival || a[i].output_len != b[i].output_len ||
          a[i].priority != b[i].priority || a[i].prompt.size() != b[i].prompt.size()) {
        return false;
      }
      for (size_t j = 0; j < a[i].prompt.size(); ++j) {
        if (a[i].prompt[j].content != b[i].prompt[j].content ||
            a[i].prompt[j].length != b[i].prompt[j].length) {
          return false;
        }
      }
    }
    return true;
  };
  CHECK(same(generate_workload(c, 9), generate_workload(c, 9)));
  CHECK(!same(generate_workload(c, 9), generate_workload(c, 10)));
}

TEST_CASE("a seed's workload is pinned: integer draws replay exactly on any platform") {
  WorkloadConfig c;
  c.num_requests = 5;
  c.prompt_len = uniform(1, 1000);
  c.output_len = seed_mix();
  c.num_priorities = 10;
  c.system_prompt = {32, 7};
  const std::vector<RequestSpec> r = generate_workload(c, 2024);
  const int32_t own[] = {34, 173, 787, 809, 228};
  const int32_t output[] = {74, 172, 122, 437, 172};
  const int32_t priority[] = {0, 6, 3, 0, 1};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(r[i].prompt[1].length == own[i]);
    CHECK(r[i].output_len == output[i]);
    CHECK(r[i].priority == priority[i]);
  }
  CHECK(r[0].prompt[0].content == r[1].prompt[0].content);
  CHECK(r[0].prompt[0].content != r[2].prompt[0].content);
}

TEST_CASE("changing the arrivals leaves the lengths as they were") {
  WorkloadConfig c;
  c.num_requests = 300;
  c.prompt_len = seed_mix();
  c.output_len = zipf(1, 500, 1.0);
  const std::vector<RequestSpec> at_once = generate_workload(c, 5);
  c.arrival.kind = ArrivalKind::kPoisson;
  c.arrival.rate = 3.0;
  const std::vector<RequestSpec> poisson = generate_workload(c, 5);
  for (size_t i = 0; i < at_once.size(); ++i) {
    CHECK(at_once[i].arrival == 0.0);
    CHECK(at_once[i].prompt_len() == poisson[i].prompt_len());
    CHECK(at_once[i].output_len == poisson[i].output_len);
  }
}

TEST_CASE("Poisson arrivals have mean gap 1 / rate and a coefficient of variation near 1") {
  WorkloadConfig c;
  c.num_requests = 200'001;
  c.arrival.kind = ArrivalKind::kPoisson;
  c.arrival.rate = 8.0;
  const Moments m = moments(inter_arrivals(generate_workload(c, 17)));
  CHECK(m.mean == doctest::Approx(0.125).epsilon(0.01));
  CHECK(m.cv == doctest::Approx(1.0).epsilon(0.02));
}

TEST_CASE("bursty gamma arrivals keep the mean rate with a CV of 1 / sqrt(shape)") {
  for (const double shape : {0.25, 0.5, 2.0}) {
    WorkloadConfig c;
    c.num_requests = 400'001;
    c.arrival.kind = ArrivalKind::kGamma;
    c.arrival.rate = 4.0;
    c.arrival.shape = shape;
    const Moments m = moments(inter_arrivals(generate_workload(c, 23)));
    CHECK_MESSAGE(m.mean == doctest::Approx(0.25).epsilon(0.015), "shape ", shape);
    CHECK_MESSAGE(m.cv == doctest::Approx(1.0 / std::sqrt(shape)).epsilon(0.03), "shape ", shape);
  }
}

TEST_CASE("requests with one system prompt share its tokens and nothing else") {
  WorkloadConfig c;
  c.num_requests = 50;
  c.prompt_len = uniform(10, 40);
  c.system_prompt = {100, 1};
  const std::vector<RequestSpec> requests = generate_workload(c, 1);
  std::vector<TokenId> first, other;
  append_prompt_tokens(requests[0], first);
  std::set<uint64_t> own_contents;
  for (const RequestSpec& r : requests) {
    REQUIRE(r.prompt.size() == 2);
    CHECK(r.prompt[0].content == requests[0].prompt[0].content);
    CHECK(r.prompt[0].length == 100);
    CHECK(r.prompt_len() == 100 + r.prompt[1].length);
    own_contents.insert(r.prompt[1].content);
    other.clear();
    append_prompt_tokens(r, other);
    CHECK(std::equal(first.begin(), first.begin() + 100, other.begin()));
  }
  CHECK(own_contents.size() == 50);
  CHECK(own_contents.count(requests[0].prompt[0].content) == 0);
  // The request-own parts differ token by token (beyond chance agreement of a 128k vocabulary).
  std::vector<TokenId> second;
  append_prompt_tokens(requests[1], second);
  int agree = 0;
  for (int i = 100; i < 110; ++i)
    agree += first[static_cast<size_t>(i)] == second[static_cast<size_t>(i)];
  CHECK(agree < 3);
}

TEST_CASE("several system prompts are chosen uniformly per request") {
  WorkloadConfig c;
  c.num_requests = 40'000;
  c.system_prompt = {64, 4};
  std::map<uint64_t, int64_t> uses;
  for (const RequestSpec& r : generate_workload(c, 3)) ++uses[r.prompt[0].content];
  CHECK(uses.size() == 4);
  for (const auto& [content, count] : uses) {
    CHECK(static_cast<double>(count) == doctest::Approx(10'000).epsilon(0.05));
  }
}

TEST_CASE("an invalid workload names the field and what was expected") {
  WorkloadConfig c;
  CHECK(workload_error(c).empty());
  auto error_of = [](WorkloadConfig w) { return workload_error(w); };
  WorkloadConfig bad = c;
  bad.num_requests = 0;
  CHECK(error_of(bad).find("num_requests: expected") == 0);
  bad = c;
  bad.prompt_len = uniform(100, 10);
  CHECK(error_of(bad) ==
        "prompt_len.max: expected a whole number in [1, 16777216] >= "
        "prompt_len.min (100), found 10");
  bad = c;
  bad.output_len = zipf(1, 100, -1.0);
  CHECK(error_of(bad).find("output_len.zipf_exponent: expected") == 0);
  bad = c;
  bad.output_len = zipf(1, 10'000'000, 1.0);
  CHECK(error_of(bad).find("output_len.max: a Zipf range holds at most") == 0);
  bad = c;
  bad.prompt_len = seed_mix();
  bad.prompt_len.long_fraction = 1.5;
  CHECK(error_of(bad).find("prompt_len.long_fraction: expected") == 0);
  bad = c;
  bad.arrival.kind = ArrivalKind::kPoisson;
  bad.arrival.rate = 0.0;
  CHECK(error_of(bad).find("arrival.rate: expected") == 0);
  bad = c;
  bad.arrival.kind = ArrivalKind::kGamma;
  bad.arrival.shape = std::nan("");
  CHECK(error_of(bad).find("arrival.shape: expected") == 0);
  bad = c;
  bad.system_prompt.length = -1;
  CHECK(error_of(bad).find("system_prompt.length: expected") == 0);
  bad = c;
  bad.system_prompt.count = 0;
  CHECK(error_of(bad).find("system_prompt.count: expected") == 0);
  bad = c;
  bad.n = 0;
  CHECK(error_of(bad).find("n: expected") == 0);
  bad = c;
  bad.beam_width = 5000;
  CHECK(error_of(bad).find("beam_width: expected") == 0);
  bad = c;
  bad.num_priorities = 0;
  CHECK(error_of(bad).find("num_priorities: expected") == 0);
  const auto e = input_error([&] { generate_workload(bad, 1); });
  REQUIRE(e);
  CHECK(std::string(e->what()).find("num_priorities") != std::string::npos);
}
