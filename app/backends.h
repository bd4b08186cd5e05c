// Chooses the engine's backend: accounting (modelled times), cpu (the reference math on host
// memory) or cuda (the real kernels), with "auto" taking CUDA when a device exists.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config/scenario.h"
#include "core/execution/backend.h"

namespace tinyserve::app {

// Throws InputError when the scenario asks for a backend that cannot run it (no device, a pool
// too large for host memory, an unsupported block size...).
std::unique_ptr<Backend> make_backend(const Scenario& scenario);

// The scenario's requests (load_requests), refused with an InputError giving both byte counts
// when holding them all at once would take more host memory than is available: estimated from a
// synthetic workload's lengths before it is generated, counted on the requests of a trace.
std::vector<RequestSpec> load_requests_within_memory(const Scenario& scenario,
                                                     TraceStats* stats = nullptr);

// One line for the status bar and logs: which backend runs, and why.
std::string cuda_status();

// "" when the CUDA kernels can run the scenario's geometry (gpu::supports), else why not (also
// when the CUDA backend is not built). The command line and the GUI ask here.
std::string kernel_support(const Scenario& scenario);

}  // namespace tinyserve::app
