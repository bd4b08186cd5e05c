#include "core/workload/workload.h"

#include <algorithm>
#include <cmath>

#include "core/base/rng.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

constexpr int32_t kMaxLength = 1 << 24;     // tokens, per length draw
constexpr int64_t kMaxZipfRange = 1 << 22;  // values in [min, max], each a table entry
constexpr int32_t kMaxRequests = 10'000'000;

// Stream and content tags: each aspect of a workload draws from its own generator, and content
// ids of different kinds never meet.
enum Stream : uint64_t {
  kPromptStream = 1,
  kOutputStream,
  kArrivalStream,
  kSystemChoiceStream,
  kPriorityStream,
  kSystemContent,
  kOwnContent,
};

uint64_t stream_seed(uint64_t seed, Stream stream) {
  return hash_combine(seed, stream);
}

std::string length_error(const LengthDist& d, const std::string& field) {
  auto in_range = [](int32_t v) { return v >= 1 && v <= kMaxLength; };
  const std::string range = cat("a whole number in [1, ", kMaxLength, "]");
  switch (d.kind) {
    case LengthKind::kFixed:
      if (!in_range(d.value)) return cat(field, ".value: expected ", range, ", found ", d.value);
      return "";
    case LengthKind::kMix:
      if (!in_range(d.long_min)) {
        return cat(field, ".long_min: expected ", range, ", found ", d.long_min);
      }
      if (!in_range(d.long_max) || d.long_max < d.long_min) {
        return cat(field, ".long_max: expected ", range, " >= ", field, ".long_min (", d.long_min,
                   "), found ", d.long_max);
      }
      if (!(d.long_fraction >= 0.0 && d.long_fraction <= 1.0)) {
        return cat(field, ".long_fraction: expected a fraction in [0, 1], found ", d.long_fraction);
      }
      [[fallthrough]];
    case LengthKind::kUniform:
    case LengthKind::kZipf:
      if (!in_range(d.min)) return cat(field, ".min: expected ", range, ", found ", d.min);
      if (!in_range(d.max) || d.max < d.min) {
        return cat(field, ".max: expected ", range, " >= ", field, ".min (", d.min, "), found ",
                   d.max);
      }
      if (d.kind == LengthKind::kZipf) {
        if (int64_t{d.max} - d.min + 1 > kMaxZipfRange) {
          return cat(field, ".max: a Zipf range holds at most ", kMaxZipfRange, " values, found [",
                     d.min, ", ", d.max, "]");
        }
        if (!(d.zipf_exponent >= 0.0 && d.zipf_exponent <= 100.0)) {
          return cat(field, ".zipf_exponent: expected a number in [0, 100], found ",
                     d.zipf_exponent);
        }
      }
      return "";
  }
  return cat(field, ".kind: unknown length distribution");
}

// Draws lengths from one LengthDist. Zipf is sampled exactly by inverting the cumulative weights
// of every value in [min, max] (binary search in a table built once).
class LengthSampler {
 public:
  explicit LengthSampler(const LengthDist& dist) : dist_(dist) {
    if (dist.kind != LengthKind::kZipf) return;
    cumulative_.resize(static_cast<size_t>(dist.max - dist.min) + 1);
    double total = 0.0;
    for (size_t i = 0; i < cumulative_.size(); ++i) {
      // Relative to the first value's weight, which keeps large minimums from underflowing.
      const double k = static_cast<double>(dist.min) + static_cast<double>(i);
      total += std::pow(k / dist.min, -dist.zipf_exponent);
      cumulative_[i] = total;
    }
  }

  int32_t operator()(Rng& rng) const {
    switch (dist_.kind) {
      case LengthKind::kFixed:
        return dist_.value;
      case LengthKind::kUniform:
        return static_cast<int32_t>(rng.uniform_int(dist_.min, dist_.max));
      case LengthKind::kZipf: {
        const double u = rng.uniform01() * cumulative_.back();
        const auto at = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
        const auto index =
            std::min<std::ptrdiff_t>(at - cumulative_.begin(), std::ssize(cumulative_) - 1);
        return dist_.min + static_cast<int32_t>(index);
      }
      case LengthKind::kMix:
        if (rng.uniform01() < dist_.long_fraction) {
          return static_cast<int32_t>(rng.uniform_int(dist_.long_min, dist_.long_max));
        }
        return static_cast<int32_t>(rng.uniform_int(dist_.min, dist_.max));
    }
    return dist_.value;
  }

 private:
  LengthDist dist_;
  std::vector<double> cumulative_;
};

}  // namespace

LengthDist seed_mix() {
  LengthDist d;
  d.kind = LengthKind::kMix;
  d.min = 64;
  d.max = 512;
  d.long_min = 2048;
  d.long_max = 4096;
  d.long_fraction = 0.1;
  return d;
}

std::string workload_error(const WorkloadConfig& c, const char* prompt_name,
                           const char* output_name) {
  if (c.num_requests < 1 || c.num_requests > kMaxRequests) {
    return cat("num_requests: expected a whole number in [1, ", kMaxRequests, "], found ",
               c.num_requests);
  }
  if (std::string e = length_error(c.prompt_len, prompt_name); !e.empty()) return e;
  if (std::string e = length_error(c.output_len, output_name); !e.empty()) return e;
  if (c.arrival.kind != ArrivalKind::kAllAtOnce &&
      !(c.arrival.rate > 0.0 && std::isfinite(c.arrival.rate))) {
    return cat("arrival.rate: expected requests per second > 0, found ", c.arrival.rate);
  }
  if (c.arrival.kind == ArrivalKind::kGamma &&
      !(c.arrival.shape > 0.0 && std::isfinite(c.arrival.shape))) {
    return cat("arrival.shape: expected a number > 0 (< 1 for bursts), found ", c.arrival.shape);
  }
  if (c.system_prompt.length < 0 || c.system_prompt.length > kMaxLength) {
    return cat("system_prompt.length: expected a whole number in [0, ", kMaxLength, "], found ",
               c.system_prompt.length);
  }
  if (c.system_prompt.count < 1 || c.system_prompt.count > 1'000'000) {
    return cat("system_prompt.count: expected a whole number in [1, 1000000], found ",
               c.system_prompt.count);
  }
  if (c.n < 1 || c.n > 1024) return cat("n: expected a whole number in [1, 1024], found ", c.n);
  if (c.beam_width < 1 || c.beam_width > 1024) {
    return cat("beam_width: expected a whole number in [1, 1024], found ", c.beam_width);
  }
  if (c.num_priorities < 1 || c.num_priorities > 1'000'000) {
    return cat("num_priorities: expected a whole number in [1, 1000000], found ", c.num_priorities);
  }
  return "";
}

namespace {

double expected_length(const LengthDist& d) {
  const auto mid = [](int32_t lo, int32_t hi) { return (static_cast<double>(lo) + hi) / 2; };
  switch (d.kind) {
    case LengthKind::kFixed:
      return d.value;
    case LengthKind::kUniform:
      return mid(d.min, d.max);
    case LengthKind::kZipf: {
      double weights = 0.0, weighted = 0.0;
      for (int64_t k = d.min; k <= d.max; ++k) {
        const double w = std::pow(static_cast<double>(k) / d.min, -d.zipf_exponent);
        weights += w;
        weighted += w * static_cast<double>(k);
      }
      return weighted / weights;
    }
    case LengthKind::kMix:
      return (1 - d.long_fraction) * mid(d.min, d.max) +
             d.long_fraction * mid(d.long_min, d.long_max);
  }
  return d.value;
}

}  // namespace

int64_t request_host_bytes(const RequestSpec& r) {
  return kRequestHostBytes + kTokenHostBytes * (int64_t{r.prompt_len()} + r.output_len);
}

int64_t expected_host_bytes(const WorkloadConfig& c) {
  const double tokens =
      c.system_prompt.length + expected_length(c.prompt_len) + expected_length(c.output_len);
  return c.num_requests * (kRequestHostBytes + static_cast<int64_t>(kTokenHostBytes * tokens));
}

struct LengthStream::Impl {
  LengthSampler sampler;
  Rng rng;
};

LengthStream::LengthStream(const LengthDist& dist, uint64_t seed) {
  if (std::string e = length_error(dist, "lengths"); !e.empty()) throw_input_error("", 0, e);
  impl_ = std::make_unique<Impl>(Impl{LengthSampler(dist), Rng(stream_seed(seed, kPromptStream))});
}

LengthStream::~LengthStream() = default;

int32_t LengthStream::next() {
  return impl_->sampler(impl_->rng);
}

std::vector<int32_t> sample_lengths(const LengthDist& dist, int64_t count, uint64_t seed) {
  LengthStream stream(dist, seed);
  std::vector<int32_t> out(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int32_t& length : out) length = stream.next();
  return out;
}

std::vector<RequestSpec> generate_workload(const WorkloadConfig& config, uint64_t seed) {
  if (std::string e = workload_error(config); !e.empty()) throw_input_error("", 0, e);
  const LengthSampler prompt_len(config.prompt_len);
  const LengthSampler output_len(config.output_len);
  Rng prompt_rng(stream_seed(seed, kPromptStream));
  Rng output_rng(stream_seed(seed, kOutputStream));
  Rng arrival_rng(stream_seed(seed, kArrivalStream));
  Rng system_rng(stream_seed(seed, kSystemChoiceStream));
  Rng priority_rng(stream_seed(seed, kPriorityStream));

  const ArrivalDist& arrival = config.arrival;
  std::vector<RequestSpec> requests(static_cast<size_t>(config.num_requests));
  double now = 0.0;  // the first request arrives at 0
  for (int32_t i = 0; i < config.num_requests; ++i) {
    RequestSpec& r = requests[static_cast<size_t>(i)];
    r.id = i;
    if (i > 0 && arrival.kind == ArrivalKind::kPoisson) {
      now += arrival_rng.exponential(arrival.rate);
    } else if (i > 0 && arrival.kind == ArrivalKind::kGamma) {
      now += arrival_rng.gamma(arrival.shape, 1.0 / (arrival.rate * arrival.shape));
    }
    r.arrival = now;
    if (config.system_prompt.length > 0) {
      const uint64_t which = system_rng.below(static_cast<uint64_t>(config.system_prompt.count));
      r.prompt.push_back(
          {hash_combine(stream_seed(seed, kSystemContent), which), config.system_prompt.length});
    }
    r.prompt.push_back({hash_combine(stream_seed(seed, kOwnContent), static_cast<uint64_t>(i)),
                        prompt_len(prompt_rng)});
    r.output_len = output_len(output_rng);
    r.n = config.n;
    r.beam_width = config.beam_width;
    r.priority =
        static_cast<int32_t>(priority_rng.below(static_cast<uint64_t>(config.num_priorities)));
  }
  return requests;
}

}  // namespace tinyserve
