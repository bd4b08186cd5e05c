// The vLLM reference harness's workload file (tools/vllm_reference/README.md): one request a line,
// {"id": I, "arrival": A, "prompt": [[CONTENT, LENGTH], ...], "output_len": O, "n": N}, with
// prompt segments as TinyServe's (request.h), so a workload replays token for token.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/workload/request.h"

namespace tinyserve {

// The requests of path, sorted by arrival (file order among equal arrivals); max_requests > 0
// reads only the first lines. InputError naming the line for a malformed or invalid one.
std::vector<RequestSpec> read_request_file(const std::string& path, int64_t max_requests = 0);

}  // namespace tinyserve
