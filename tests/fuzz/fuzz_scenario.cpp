// Scenario text (and --set overrides on trailing "--set " lines) through the loader; scenarios
// that load and are small enough run a few engine steps with every invariant checked.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "tests/fuzz/fuzz_util.h"

using namespace tinyserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> overrides;
  std::string body;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("--set ", 0) == 0) {
      overrides.push_back(line.substr(6));
    } else {
      body += line + "\n";
    }
  }
  try {
    Scenario s = parse_scenario(body, "/nonexistent/fuzz/scenario.toml", overrides);
    if (s.source != WorkloadSource::kSynthetic || s.workload.num_requests > 64 ||
        s.engine.geometry.num_gpu_blocks > 100'000 || s.engine.geometry.num_cpu_blocks > 100'000) {
      return 0;
    }
    std::vector<RequestSpec> requests = load_requests(s);
    for (const RequestSpec& r : requests) {
      if (r.prompt_len() + r.output_len > 20'000) return 0;
    }
    s.engine.max_steps = 64;
    s.engine.check_invariants = true;
    Engine engine(s.engine, std::move(requests), std::make_unique<AccountingBackend>());
    while (!engine.done()) engine.step();
  } catch (const InputError&) {
  }
  return 0;
}
