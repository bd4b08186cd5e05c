// A scenario: one TOML file (scenarios/*.toml) describing the model, the hardware, the cache,
// the scheduler, the workload and the engine, resolved into an EngineConfig and a list of
// requests. Every key has a default except name and description; unknown keys, wrong types and
// out-of-range values are InputErrors naming the file (or the --set override) and the line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/base/half.h"
#include "core/config/hardware.h"
#include "core/execution/kv_executor.h"
#include "core/config/model.h"
#include "core/workload/request.h"
#include "core/workload/trace.h"
#include "core/workload/workload.h"

namespace tinyserve {

enum class WorkloadSource : uint8_t { kSynthetic, kAzure, kMooncake };

struct Scenario {
  std::string path;  // the file it came from
  std::string name;
  std::string description;
  uint64_t seed = 0;

  ModelSpec model;
  GpuSpec gpu;
  int32_t num_gpus = 1;
  double gpu_memory_utilization = 0.9;
  int64_t num_gpu_blocks = 0;  // resolved pool size
  int64_t num_cpu_blocks = 0;

  WorkloadSource source = WorkloadSource::kSynthetic;
  WorkloadConfig workload;   // synthetic
  std::string trace_path;    // azure / mooncake, resolved
  TraceOptions trace;

  std::string backend = "accounting";  // auto | cuda | cpu | accounting
  std::string kernel = "v5";           // paged attention version for the CUDA backend
  DType dtype = DType::kF16;           // K/V element type of the executing backends
  EngineConfig engine;  // resolved
};

// Reads and validates path, applying overrides ("section.key=value") on top of the file. The value
// is one TOML value (16, 0.5, true, "text", [1, 2]) and nothing else; a word that is not TOML and
// does not begin as TOML does (a digit, a sign or dot before a digit, a quote, '[' or '{') is text.
// A leading UTF-8 byte order mark is accepted; keys longer than kMaxKeyParts parts or
// kMaxKeyChars characters (core/text/toml_text.h) are refused.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
// The same on text in memory; path names it in errors and anchors relative paths.
Scenario parse_scenario(const std::string& text, const std::string& path,
                        const std::vector<std::string>& overrides = {});

// The scenario's requests, sorted by arrival (reads the trace for trace workloads).
std::vector<RequestSpec> load_requests(const Scenario& scenario, TraceStats* stats = nullptr);

// The K/V geometry the executing backends (CPU reference, CUDA) hold for this scenario:
// engine.gpu_layers layers of the model's attention shape over the scenario's pools.
KvGeometry kv_geometry(const Scenario& scenario);

// Locates a scenario given a name ("poisson_zipf") or a path: the path itself, then
// NAME.toml in ./scenarios, next to the executable's ../../scenarios, and the source tree's
// scenarios/. InputError listing where it looked when none exists.
std::string find_scenario(const std::string& name_or_path, const std::string& executable_dir = "");

// Scenario files in the first scenarios directory found (sorted by file name).
std::vector<std::string> list_scenarios(const std::string& executable_dir = "");

}  // namespace tinyserve
