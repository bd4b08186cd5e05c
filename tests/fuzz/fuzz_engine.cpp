// A random small serving configuration and workload through the scheduler and the engine: the
// allocator's and the engine's invariants after every step, and every request must end (finished
// or rejected) within a bound: no crash, no stall, no livelock. Both semantics (vllm-v0, vllm-v1).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/engine/engine.h"
#include "tests/fuzz/fuzz_util.h"

using namespace tinyserve;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  EngineConfig c;
  const bool paged = in.byte() % 4 != 0;
  const int32_t bs = in.range(1, 16);
  const int32_t blocks = in.range(2, 128);
  c.geometry.block_size = bs;
  c.geometry.num_gpu_blocks = blocks;
  c.geometry.num_cpu_blocks = in.range(0, 64);
  c.geometry.model_layers = 1;  // 1,000 bytes per token: 2 x 1 KV head x 250 x fp16
  c.geometry.num_kv_heads = 1;
  c.geometry.head_dim = 250;
  c.geometry.dtype = DType::kF16;
  PagedOptions p;
  p.free_list = kFreeListPolicyNames[in.byte() % 5].value;
  p.prefix_caching = in.flag();
  p.watermark = in.range(0, 2) * 0.05;
  c.max_model_len = in.range(8, 512);
  ContiguousOptions contiguous;
  contiguous.reservation = static_cast<Reservation>(in.byte() % 3);
  if (paged) {
    c.allocator = p;
  } else {
    c.allocator = contiguous;
  }
  c.scheduler.max_num_seqs = in.range(1, 16);
  c.scheduler.max_num_batched_tokens = c.scheduler.max_num_seqs + in.range(0, 256);
  c.scheduler.chunked_prefill = true;
  c.scheduler.preemption = in.flag() ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
  c.scheduler.victim = in.flag() ? VictimPolicy::kLowestPriority : VictimPolicy::kNewest;
  c.cost.weight_bytes = 1e6;
  c.cost.mem_bandwidth = 1e9;
  c.cost.peak_flops = 1e12;
  c.seed = in.byte();
  c.check_invariants = true;

  std::vector<RequestSpec> requests;
  const int32_t n = in.range(1, 6);
  double t = 0;
  int64_t work = 0;
  for (int32_t i = 0; i < n; ++i) {
    RequestSpec r;
    r.id = i;
    t += in.range(0, 3) * 0.01;
    r.arrival = t;
    if (in.flag()) r.prompt.push_back({static_cast<uint64_t>(in.range(0, 1)), in.range(1, 32)});
    r.prompt.push_back({1000 + static_cast<uint64_t>(i), in.range(1, 96)});
    r.output_len = in.range(1, 24);
    const uint8_t fan = in.byte() % 6;
    r.n = fan == 1 ? in.range(2, 3) : 1;
    r.beam_width = fan == 2 ? in.range(2, 3) : 1;
    r.priority = in.range(0, 3);
    work += static_cast<int64_t>(r.prompt_len() + r.output_len) * std::max(r.n, r.beam_width);
    requests.push_back(r);
  }
  // Drawn last, so inputs written before vllm-v1 existed keep their meaning (vllm-v0). vllm-v1
  // takes what its loader accepts: paged blocks, recompute of the newest, no beams.
  if (paged && in.flag()) {
    c.scheduler.semantics = Semantics::kVllmV1;
    c.scheduler.async_scheduling = in.flag();
    c.scheduler.preemption = PreemptionMode::kRecompute;
    c.scheduler.victim = VictimPolicy::kNewest;
    for (RequestSpec& r : requests) r.beam_width = 1;
  }
  if (std::getenv("TINYSERVE_FUZZ_VERBOSE")) {  // describe the case when replaying a crash
    std::fprintf(stderr, "semantics %s async %d\n", to_string(c.scheduler.semantics).data(),
                 c.scheduler.async_scheduling);
    std::fprintf(stderr,
                 "paged %d bs %d blocks %d cpu %d policy %d prefix %d wm %.2f | contiguous res %d "
                 "maxlen %d | seqs %d tokens %d chunk %d swap %d lowprio %d\n",
                 paged, bs, blocks, c.geometry.num_cpu_blocks, static_cast<int>(p.free_list),
                 p.prefix_caching, p.watermark, static_cast<int>(contiguous.reservation),
                 c.max_model_len, c.scheduler.max_num_seqs, c.scheduler.max_num_batched_tokens,
                 c.scheduler.chunked_prefill, c.scheduler.preemption == PreemptionMode::kSwap,
                 c.scheduler.victim == VictimPolicy::kLowestPriority);
    for (const RequestSpec& r : requests) {
      std::fprintf(stderr,
                   "  request %lld at %.2f: prompt %d output %d n %d beams %d priority %d\n",
                   static_cast<long long>(r.id), r.arrival, r.prompt_len(), r.output_len, r.n,
                   r.beam_width, r.priority);
    }
  }
  Engine e(c, std::move(requests), std::make_unique<AccountingBackend>());
  const int64_t bound = 200 * work + 1000;
  while (!e.done()) {
    e.step();  // throws InvariantViolation (a crash for the fuzzer) if an invariant breaks
    if (e.steps() > bound) fuzz::fail("no progress: the engine did not finish the workload");
  }
  if (e.num_done() != e.num_requests()) fuzz::fail("a request neither finished nor was rejected");
  return 0;
}
