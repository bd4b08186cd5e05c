// A scenario: one TOML file (scenarios/*.toml) describing the model, the hardware, the cache,
// the scheduler, the workload and the engine, resolved into an EngineConfig and a list of
// requests. Every key has a default except name and description; unknown keys, wrong types and
// out-of-range values are InputErrors naming the file (or the --set override) and the line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/half.h"
#include "core/config/hardware.h"
#include "core/config/model.h"
#include "core/engine/engine_config.h"
#include "core/execution/kv_executor.h"
#include "core/workload/request.h"
#include "core/workload/trace.h"
#include "core/workload/workload.h"

namespace tinyserve {

enum class WorkloadSource : uint8_t { kSynthetic, kAzure, kMooncake, kRequests };

struct Scenario {
  std::string path;  // the file it came from
  std::string name;
  std::string description;
  uint64_t seed = 0;

  ModelSpec model;
  GpuSpec gpu;
  int32_t num_gpus = 1;
  double gpu_memory_utilization = 0.9;

  WorkloadSource source = WorkloadSource::kSynthetic;
  WorkloadConfig workload;  // synthetic
  std::string trace_path;   // azure / mooncake / requests, resolved
  TraceOptions trace;

  std::string backend = "accounting";  // auto | cuda | cpu | accounting
  std::string kernel = "v5";           // paged attention version for the CUDA backend
  // Resolved: the KV cache's geometry (engine.geometry) and everything the engine needs.
  EngineConfig engine;
};

// Reads and validates path, applying overrides ("section.key=value") on top of the file. The value
// is one TOML value (16, 0.5, true, "text", [1, 2]) and nothing else; a word that is not TOML and
// does not begin as TOML does (a digit, a sign or dot before a digit, a quote, '[' or '{') is text.
// Every key is in core/config/scenario_keys.h (docs/scenarios.md). Setting model.config replaces
// model.preset and the other way round; a path given by an override is relative to the current
// directory. A leading UTF-8 byte order mark is accepted; keys longer than kMaxKeyParts parts or
// kMaxKeyChars characters (core/text/toml_text.h) are refused.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
// The same on text in memory; path names it in errors and anchors relative paths.
Scenario parse_scenario(const std::string& text, const std::string& path,
                        const std::vector<std::string>& overrides = {});

// The scenario's requests, sorted by arrival (reads the trace for trace workloads).
std::vector<RequestSpec> load_requests(const Scenario& scenario, TraceStats* stats = nullptr);

// Locates a scenario given a path (anything with a '/' or ending in .toml: returned as it is) or a
// name ("poisson_zipf": NAME.toml in ./scenarios, next to the executable's ../../scenarios, and
// the source tree's scenarios/; a file or folder of that name in the current directory is never
// taken for it). InputError listing where it looked when none exists.
std::string find_scenario(const std::string& name_or_path, const std::string& executable_dir = "");

// Scenario files in the first scenarios directory found (sorted by file name).
std::vector<std::string> list_scenarios(const std::string& executable_dir = "");

}  // namespace tinyserve
