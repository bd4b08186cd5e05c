// Model geometry: what decides the KV cache's bytes per token, the weights' footprint and the
// FLOPs of a token. Presets for common models, and the geometry of any model from its Hugging Face
// config.json: dense and mixture-of-experts (every expert's weights held, the routed experts'
// FLOPs spent), standard attention (K and V per KV head) and multi-head latent attention (MLA:
// one compressed latent per token and layer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/half.h"
#include "core/execution/model_shapes.h"

namespace tinyserve {

struct ModelSpec {
  std::string name;
  int32_t num_layers = 0;
  int32_t num_heads = 0;     // query heads
  int32_t num_kv_heads = 0;  // key/value heads (< num_heads: grouped-query attention)
  int32_t head_dim = 0;
  int32_t hidden_size = 0;
  int32_t intermediate_size = 0;  // dense MLP (and the dense layers of an MoE model)
  int32_t vocab_size = 0;
  DType dtype = DType::kBF16;         // activations; the KV cache's under kv_dtype "auto"
  DType weight_dtype = DType::kBF16;  // weights as served (fp8 for fp8-quantized checkpoints)
  int32_t max_model_len = 0;          // tokens (prompt + output); 0: the config does not say
  int64_t num_params = 0;     // held on the GPU (every expert); 0: no weights (the seed's model)
  int64_t active_params = 0;  // used by one token (the routed and shared experts of an MoE)

  // Mixture of experts (0: dense).
  int32_t num_experts = 0;
  int32_t experts_per_token = 0;
  // Multi-head latent attention (0: standard attention): each layer caches kv_lora_rank +
  // qk_rope_head_dim elements per token; decode attends in the latent space (weights absorbed).
  int32_t kv_lora_rank = 0;
  int32_t qk_rope_head_dim = 0;
  // Sliding-window attention: tokens a layer attends to (0: the whole context). Not modelled: a
  // scenario refuses a context longer than the window.
  int32_t sliding_window = 0;
  // What the dense layers' shapes need beyond the above (model_shapes()); set by the presets and
  // load_hf_config.
  int32_t moe_intermediate_size = 0;  // each routed expert's MLP width
  int32_t shared_experts = 0;         // always-active experts (DeepSeek)
  int32_t first_dense_layers = 0;     // leading layers with a dense MLP (DeepSeek)
  int32_t q_lora_rank = 0;            // MLA: 0 = full-rank query projection
  int32_t qk_nope_head_dim = 0;       // MLA
  int32_t v_head_dim = 0;             // MLA

  bool is_mla() const { return kv_lora_rank > 0; }
  // Elements cached per token and layer.
  int64_t kv_elements_per_token_layer() const {
    return is_mla() ? int64_t{kv_lora_rank} + qk_rope_head_dim
                    : int64_t{2} * num_kv_heads * head_dim;
  }
  // The KV cache of one token over every layer, for a cache dtype.
  int64_t kv_bytes_per_token(DType kv_dtype) const {
    return num_layers * kv_elements_per_token_layer() * dtype_size(kv_dtype);
  }
  int64_t bytes_per_token() const { return kv_bytes_per_token(dtype); }  // kv_dtype "auto"
  int64_t weight_bytes() const { return num_params * dtype_size(weight_dtype); }
  // FLOPs of attention per (query, cached token) pair over every layer: scores and weighted sum.
  double attention_flops_per_pair() const {
    const double qk = is_mla() ? kv_lora_rank + qk_rope_head_dim : head_dim;
    const double v = is_mla() ? kv_lora_rank : head_dim;
    return 2.0 * num_layers * num_heads * (qk + v);
  }
};

// Parameters of a Llama-style decoder (attention without biases, gated MLP, RMSNorm) from its
// geometry: exact for the Llama and Mistral presets, within 0.01% for Qwen2.5 (QKV biases).
// Dense models only; MoE and MLA counts come from load_hf_config.
int64_t estimate_num_params(const ModelSpec& model, bool tied_embeddings);

// The matrix products of the model's layers and LM head (core/execution/model_shapes.h), per GPU
// when num_gpus split the model (tensor parallelism: output features of QKV, gate/up and the LM
// head, input features of O and down, and the heads, divided evenly). A model without weights
// (num_params 0, the seed's) has none.
ModelShapes model_shapes(const ModelSpec& model, int32_t num_gpus = 1);

const std::vector<ModelSpec>& model_presets();

// Case-insensitive lookup among the presets; InputError (no file) listing the known names.
ModelSpec find_model(std::string_view name);

// Reads a Hugging Face config.json. InputError naming the file, the line of the key where it has
// one, and the key, for malformed JSON, missing or invalid fields, and what is not modelled
// (sliding-window layers shorter than the context).
ModelSpec load_hf_config(const std::string& path);

}  // namespace tinyserve
