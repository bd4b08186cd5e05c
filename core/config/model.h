// Model geometry: what decides the KV cache's bytes per token and the weights' footprint. Presets
// for common models, and the geometry of any model from its Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tinyserve {

struct ModelSpec {
  std::string name;
  int32_t num_layers = 0;
  int32_t num_heads = 0;     // query heads
  int32_t num_kv_heads = 0;  // key/value heads (< num_heads: grouped-query attention)
  int32_t head_dim = 0;
  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;
  int32_t vocab_size = 0;
  int32_t dtype_bytes = 2;    // weights and KV cache (fp16/bf16: 2)
  int32_t max_model_len = 0;  // tokens (prompt + output)
  int64_t num_params = 0;     // 0: no weights held on the GPU (the seed's one-layer model)

  // K and V of one token over every layer.
  int64_t bytes_per_token() const {
    return int64_t{2} * num_layers * num_kv_heads * head_dim * dtype_bytes;
  }
  int64_t weight_bytes() const { return num_params * dtype_bytes; }
};

// Parameters of a Llama-style decoder (attention without biases, gated MLP, RMSNorm) from its
// geometry: exact for the Llama and Mistral presets, within 0.01% for Qwen2.5 (QKV biases).
int64_t estimate_num_params(const ModelSpec& model, bool tied_embeddings);

const std::vector<ModelSpec>& model_presets();

// Case-insensitive lookup among the presets; InputError (no file) listing the known names.
ModelSpec find_model(std::string_view name);

// Reads a Hugging Face config.json. InputError naming the file, the line of the key where it has
// one, and the key, for malformed JSON and missing or invalid fields.
ModelSpec load_hf_config(const std::string& path);

}  // namespace tinyserve
