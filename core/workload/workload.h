// Synthetic workloads: length distributions, arrival processes, shared system prompts, parallel
// sampling, beam width and priority, turned into a deterministic list of requests for a seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/workload/request.h"

namespace tinyserve {

enum class LengthKind : uint8_t {
  kFixed,    // value
  kUniform,  // uniform in [min, max]
  kZipf,     // P(L = k) proportional to k^-zipf_exponent over [min, max]
  kMix,      // uniform in [long_min, long_max] with probability long_fraction, else [min, max]
};

// Token counts, all >= 1. The defaults of the mix are the seed's: 90% in [64, 512], 10% in
// [2048, 4096].
struct LengthDist {
  LengthKind kind = LengthKind::kFixed;
  int32_t value = 128;
  int32_t min = 64;
  int32_t max = 512;
  double zipf_exponent = 1.0;
  int32_t long_min = 2048;
  int32_t long_max = 4096;
  double long_fraction = 0.1;
};

LengthDist seed_mix();

enum class ArrivalKind : uint8_t {
  kAllAtOnce,  // every request at time 0
  kPoisson,    // exponential inter-arrival times, mean 1 / rate
  kGamma,      // gamma inter-arrival times of the given shape, mean 1 / rate: bursty when
               // shape < 1 (coefficient of variation 1 / sqrt(shape))
};

struct ArrivalDist {
  ArrivalKind kind = ArrivalKind::kAllAtOnce;
  double rate = 1.0;    // requests per simulated second
  double shape = 0.25;  // kGamma
};

// A shared leading segment: each request starts with one of `count` distinct system prompts of
// `length` tokens, chosen uniformly per request. length 0: none.
struct SystemPrompt {
  int32_t length = 0;
  int32_t count = 1;
};

struct WorkloadConfig {
  int32_t num_requests = 100;
  LengthDist prompt_len;  // the request's own part, after the system prompt
  LengthDist output_len;
  ArrivalDist arrival;
  SystemPrompt system_prompt;
  int32_t n = 1;               // parallel samples per request
  int32_t beam_width = 1;      // 1: no beam search
  int32_t num_priorities = 1;  // priority uniform in [0, num_priorities)
};

// "" when the config is valid, else the first problem, naming the field as in
// "prompt_len.max: expected >= prompt_len.min (64), found 10". The two length distributions are
// named prompt_name and output_name (a scenario file calls them prompt and output).
std::string workload_error(const WorkloadConfig& config, const char* prompt_name = "prompt_len",
                           const char* output_name = "output_len");

// Requests sorted by arrival with ids 0..N-1; the same config and seed give the same requests on
// any platform. Each aspect (prompt lengths, output lengths, arrivals, system prompt choice,
// priorities) draws from its own stream, so changing one leaves the others as they were. Every
// request's own prompt part has content of its own. InputError (no file) when the config is
// invalid.
std::vector<RequestSpec> generate_workload(const WorkloadConfig& config, uint64_t seed);

// Host memory the engine holds for requests when they all wait at once (all-at-once arrivals, or
// arrivals faster than service): each request's spec and runtime state (kRequestHostBytes, measured
// on the engine) and its token ids, prompt and output, reserved at arrival (kTokenHostBytes a
// token, block hashes included).
inline constexpr int64_t kRequestHostBytes = 544;
inline constexpr int64_t kTokenHostBytes = 5;
int64_t request_host_bytes(const RequestSpec& request);
// The same for a synthetic workload from its expected lengths, before it is generated.
// Precondition: config is valid (see workload_error).
int64_t expected_host_bytes(const WorkloadConfig& config);

// count lengths drawn from dist (the seed's stress test needs lengths only). InputError (no file)
// when dist is invalid (see workload_error).
std::vector<int32_t> sample_lengths(const LengthDist& dist, int64_t count, uint64_t seed);

// The same lengths one at a time, in the same order, for draws too many to hold.
class LengthStream {
 public:
  LengthStream(const LengthDist& dist, uint64_t seed);  // InputError when dist is invalid
  ~LengthStream();
  LengthStream(const LengthStream&) = delete;
  LengthStream& operator=(const LengthStream&) = delete;
  int32_t next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyserve
