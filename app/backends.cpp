#include "app/backends.h"

#include <cstdio>
#include <fstream>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/execution/executor_backend.h"
#include "core/execution/reference_executor.h"

#ifdef TINYSERVE_HAVE_CUDA
#include "gpu/cuda_executor.h"
#include "gpu/device.h"
#include "gpu/supports.h"
#endif

namespace tinyserve::app {

namespace {

// The CPU reference runs double-precision scalar math: fine for small pools and as the kernels'
// oracle, far too slow as a live backend for a realistic pool.
constexpr int64_t kAutoCpuPoolBytes = int64_t{64} << 20;

int64_t pool_bytes(const KvGeometry& g) {
  return g.block_bytes() * 2 * g.num_layers * (int64_t{g.num_gpu_blocks} + g.num_cpu_blocks);
}

// MemAvailable of /proc/meminfo in bytes; -1 when unknown.
int64_t available_host_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

std::string format_gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

// Fails before allocating when what must live in host memory exceeds what is available.
void check_host_memory(const Scenario& sc, int64_t bytes, const char* what) {
  const int64_t available = available_host_memory();
  if (available >= 0 && bytes > available) {
    throw InputError(sc.path, 0,
                     cat(what, ": ", bytes, " bytes of host memory needed, only ", available,
                         " available; use fewer blocks (hardware.num_gpu_blocks, "
                         "hardware.swap_space_gib) or layers (engine.gpu_layers)"));
  }
}

// The simulator's own bookkeeping: about 64 bytes a block of either pool (counts, hashes, free
// lists, recency links, fill, churn marks, the bitmap) plus the snapshot's view of the pool.
constexpr int64_t kBookkeepingBytesPerBlock = 96;

std::unique_ptr<Backend> cpu_backend(const Scenario& sc, const std::string& why) {
  const KvGeometry& g = sc.engine.geometry;
  check_host_memory(sc, pool_bytes(g), "the CPU reference backend's K/V pools");
  auto created = ReferenceExecutor::create(g);
  if (!created.ok())
    throw InputError(sc.path, 0, "engine.backend = \"cpu\": " + created.status.error);
  return std::make_unique<ExecutorBackend>(std::move(created.value), "cpu",
                                           "CPU reference: " + why);
}

#ifdef TINYSERVE_HAVE_CUDA
// The CUDA backend, or the reason it cannot run (empty pointer).
std::unique_ptr<Backend> cuda_backend(const Scenario& sc, std::string& why_not) {
  const gpu::DeviceInfo device = gpu::query_device();
  if (!device.available) {
    why_not = device.reason;
    return nullptr;
  }
  const KvGeometry& g = sc.engine.geometry;
  check_host_memory(sc, g.block_bytes() * 2 * g.num_layers * g.num_cpu_blocks,
                    "the CUDA backend's pinned CPU swap pool");
  gpu::CudaExecutorOptions options;
  parse_kernel_version(sc.kernel, options.kernel);
  options.compare_contiguous = true;
  auto created = gpu::CudaExecutor::create(g, options);
  if (!created.ok()) {
    why_not = created.status.error;
    return nullptr;
  }
  const std::string name = created.value->device_name();
  return std::make_unique<ExecutorBackend>(std::move(created.value), "cuda",
                                           cat(name, " (kernel ", sc.kernel, ")"));
}
#endif

}  // namespace

std::string cuda_status() {
#ifdef TINYSERVE_HAVE_CUDA
  const gpu::DeviceInfo info = gpu::query_device();
  return info.available ? info.name : info.reason;
#else
  return "no CUDA device: built without the CUDA backend (nvcc not found)";
#endif
}

std::vector<RequestSpec> load_requests_within_memory(const Scenario& sc, TraceStats* stats) {
  const int64_t available = available_host_memory();
  const auto check = [&](int64_t requests, int64_t bytes, const char* about) {
    if (available >= 0 && bytes > available) {
      throw InputError(sc.path, 0,
                       cat("workload: its ", requests, " requests need ", about, bytes, " bytes (",
                           format_gib(bytes), ") of host memory when they all wait at once, only ",
                           available, " (", format_gib(available),
                           ") available; use fewer requests (workload.num_requests) or shorter "
                           "prompts"));
    }
  };
  if (sc.source == WorkloadSource::kSynthetic) {
    check(sc.workload.num_requests, expected_host_bytes(sc.workload), "about ");
  }
  std::vector<RequestSpec> requests = load_requests(sc, stats);
  int64_t bytes = 0;
  for (const RequestSpec& r : requests) bytes += request_host_bytes(r);
  check(std::ssize(requests), bytes, "");
  return requests;
}

std::string kernel_support(const Scenario& sc) {
#ifdef TINYSERVE_HAVE_CUDA
  KernelVersion kernel = KernelVersion::kV5;
  parse_kernel_version(sc.kernel, kernel);
  const Status s = gpu::supports(sc.engine.geometry, kernel);
#else
  const Status s = sc.engine.geometry.validate();  // the executors' limits, which the kernels share
  if (s.ok()) return cuda_status();
#endif
  return s.ok() ? "" : cat("the CUDA kernels cannot run this geometry: ", s.error);
}

std::unique_ptr<Backend> make_backend(const Scenario& sc) {
  const KvGeometry& geometry = sc.engine.geometry;
  check_host_memory(
      sc, kBookkeepingBytesPerBlock * (int64_t{geometry.num_gpu_blocks} + geometry.num_cpu_blocks),
      "the simulator's block bookkeeping");
  if (sc.backend == "accounting") return std::make_unique<AccountingBackend>("modelled times");
  if (sc.backend == "cpu") return cpu_backend(sc, "selected");
  const std::string limits = kernel_support(sc);
  if (sc.backend == "cuda") {
    if (!limits.empty()) throw InputError(sc.path, 0, "engine.backend = \"cuda\": " + limits);
#ifdef TINYSERVE_HAVE_CUDA
    std::string why_not;
    if (auto backend = cuda_backend(sc, why_not)) return backend;
    throw InputError(sc.path, 0, "engine.backend = \"cuda\": " + why_not);
#endif
  }
  // auto: the GPU when it can run the scenario, else the CPU reference for small pools, else
  // modelled times; the description says which and why.
  std::string why_not = limits;
#ifdef TINYSERVE_HAVE_CUDA
  if (limits.empty()) {
    if (auto backend = cuda_backend(sc, why_not)) return backend;
  }
#endif
  if (const Status unsupported = geometry.validate(); !unsupported.ok()) {
    return std::make_unique<AccountingBackend>(
        cat("modelled times (", why_not, "; ", unsupported.error, ")"));
  }
  const int64_t bytes = pool_bytes(geometry);
  if (bytes <= kAutoCpuPoolBytes) return cpu_backend(sc, why_not);
  return std::make_unique<AccountingBackend>(cat("modelled times (", why_not, "; a ", bytes >> 20,
                                                 " MiB pool is too large for the CPU reference, ",
                                                 kAutoCpuPoolBytes >> 20, " MiB)"));
}

}  // namespace tinyserve::app
