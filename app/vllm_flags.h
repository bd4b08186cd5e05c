// vLLM's engine flags, accepted by the commands that run a scenario (run, gui, sweep) and mapped
// onto scenario keys: --max-num-seqs 64 means --set scheduler.max_num_seqs=64. They apply after
// every --set, in the order listed by add_vllm_flags.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tinyserve::app {

struct VllmFlags {
  std::optional<int64_t> seed;
  std::optional<int64_t> max_num_seqs;
  std::optional<int64_t> max_num_batched_tokens;
  std::optional<double> gpu_memory_utilization;
  std::optional<int64_t> block_size;
  std::optional<double> swap_space;
  std::optional<int64_t> num_gpu_blocks_override;
  std::optional<int64_t> max_model_len;
  std::optional<std::string> kv_cache_dtype;
  bool enable_prefix_caching = false;
  bool no_enable_prefix_caching = false;
};

void add_vllm_flags(CLI::App& command, VllmFlags& flags);

// The --set overrides the flags stand for, in a fixed order.
std::vector<std::string> vllm_overrides(const VllmFlags& flags);

}  // namespace tinyserve::app
