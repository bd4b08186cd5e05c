// The matrix products of a model's dense layers, as the calibrated cost model times them and
// `tinyserve calibrate` measures them: each weight Y[m, n] = X[m, k] W[n, k]^T over the step's
// tokens (m), per layer, and the LM head over the tokens sampled. Built from a ModelSpec by
// model_shapes() (core/config/model.h); per GPU under tensor parallelism.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/half.h"

namespace tinyserve {

struct WeightGemm {
  std::string name;    // "qkv", "o", "gate_up", "down", "experts_gate_up", "lm_head", ...
  int32_t n = 0;       // output features
  int32_t k = 0;       // input features
  int32_t layers = 0;  // layers holding this weight (1 for the LM head)
  // Routed experts (MoE): `experts` weights of this shape, each token going through
  // experts_per_token of them; 0: a dense weight every token goes through.
  int32_t experts = 0;
  int32_t experts_per_token = 0;

  bool routed() const { return experts > 0; }
};

struct ModelShapes {
  DType dtype = DType::kBF16;     // weights and activations as timed (fp8 weights: as bf16)
  std::vector<WeightGemm> gemms;  // per token, in a layer's order; empty: no weights modelled
  WeightGemm lm_head;             // over the sampled tokens; n = 0: none
  int32_t attention_layers = 0;   // layers with attention (the model's)
  // Attention per GPU: query and KV heads after the tensor-parallel split.
  int32_t num_heads = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  bool mla = false;  // multi-head latent attention: no profiled kernel, attention stays roofline

  bool empty() const { return gemms.empty() && lm_head.n == 0; }
};

}  // namespace tinyserve
