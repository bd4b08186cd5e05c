#include "app/vllm_flags.h"

#include <CLI/CLI.hpp>
#include <charconv>

#include "core/base/strings.h"

namespace tinyserve::app {

void add_vllm_flags(CLI::App& c, VllmFlags& f) {
  const char* group = "vLLM flags (each sets a scenario key, after every --set)";
  c.add_option("--seed", f.seed, "seed")->group(group);
  c.add_option("--max-num-seqs", f.max_num_seqs, "scheduler.max_num_seqs")->group(group);
  c.add_option("--max-num-batched-tokens", f.max_num_batched_tokens,
               "scheduler.max_num_batched_tokens")
      ->group(group);
  c.add_option("--gpu-memory-utilization", f.gpu_memory_utilization,
               "hardware.gpu_memory_utilization")
      ->group(group);
  c.add_option("--block-size", f.block_size, "cache.block_size")->group(group);
  c.add_option("--swap-space", f.swap_space, "hardware.swap_space_gib (GiB)")->group(group);
  c.add_option("--num-gpu-blocks-override", f.num_gpu_blocks_override, "hardware.num_gpu_blocks")
      ->group(group);
  c.add_option("--max-model-len", f.max_model_len, "model.max_model_len")->group(group);
  c.add_option("--kv-cache-dtype", f.kv_cache_dtype, "cache.kv_dtype")->group(group);
  c.add_flag("--enable-prefix-caching", f.enable_prefix_caching, "cache.prefix_caching=true")
      ->group(group);
  c.add_flag("--no-enable-prefix-caching", f.no_enable_prefix_caching, "cache.prefix_caching=false")
      ->group(group);
}

std::vector<std::string> vllm_overrides(const VllmFlags& f) {
  std::vector<std::string> out;
  auto set = [&](const char* key, const auto& value) {
    if (!value) return;
    char text[32];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, *value);  // exact, shortest
    out.push_back(cat(key, "=", std::string_view(text, static_cast<size_t>(end - text))));
  };
  set("seed", f.seed);
  set("scheduler.max_num_seqs", f.max_num_seqs);
  set("scheduler.max_num_batched_tokens", f.max_num_batched_tokens);
  set("hardware.gpu_memory_utilization", f.gpu_memory_utilization);
  set("cache.block_size", f.block_size);
  set("hardware.swap_space_gib", f.swap_space);
  set("hardware.num_gpu_blocks", f.num_gpu_blocks_override);
  set("model.max_model_len", f.max_model_len);
  if (f.kv_cache_dtype) {
    // vLLM's "fp8" is e4m3.
    out.push_back("cache.kv_dtype=" +
                  (*f.kv_cache_dtype == "fp8" ? std::string("fp8_e4m3") : *f.kv_cache_dtype));
  }
  if (f.enable_prefix_caching) out.push_back("cache.prefix_caching=true");
  if (f.no_enable_prefix_caching) out.push_back("cache.prefix_caching=false");
  return out;
}

}  // namespace tinyserve::app
