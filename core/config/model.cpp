#include "core/config/model.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

// What a parameter count needs beyond ModelSpec.
struct Architecture {
  bool tied_embeddings = false;
  bool qkv_bias = false;              // biases on q, k and v (Qwen2)
  int32_t moe_intermediate_size = 0;  // each expert's MLP width
  int32_t shared_experts = 0;         // always-active experts (DeepSeek)
  int32_t first_dense_layers = 0;     // leading layers with a dense MLP (DeepSeek)
  int32_t q_lora_rank = 0;            // MLA: 0 = full-rank query projection
  int32_t qk_nope_head_dim = 0;       // MLA
  int32_t v_head_dim = 0;             // MLA
};

// Sets num_params (every weight) and active_params (what one token uses) of a Llama-style
// decoder with optional MoE MLPs and MLA attention (RMSNorms, no biases).
void count_params(ModelSpec& m, const Architecture& a) {
  const int64_t hidden = m.hidden_size;
  const int64_t heads = m.num_heads;
  int64_t attention = 0;
  if (m.is_mla()) {
    const int64_t qk = int64_t{a.qk_nope_head_dim} + m.qk_rope_head_dim;
    attention = a.q_lora_rank > 0
                    ? hidden * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * heads * qk
                    : hidden * heads * qk;
    attention += hidden * (int64_t{m.kv_lora_rank} + m.qk_rope_head_dim) + m.kv_lora_rank;
    attention += int64_t{m.kv_lora_rank} * heads * (a.qk_nope_head_dim + a.v_head_dim);
    attention += heads * a.v_head_dim * hidden;
  } else {
    attention = hidden * heads * m.head_dim * 2 + hidden * int64_t{m.num_kv_heads} * m.head_dim * 2;
    if (a.qkv_bias) attention += (heads + 2 * int64_t{m.num_kv_heads}) * m.head_dim;
  }
  const int64_t norms = 2 * hidden;
  const int64_t dense_mlp = 3 * hidden * m.intermediate_size;
  const int64_t expert = 3 * hidden * a.moe_intermediate_size;
  const int64_t router = hidden * m.num_experts;
  int64_t total = 0, active = 0;
  for (int32_t layer = 0; layer < m.num_layers; ++layer) {
    total += attention + norms;
    active += attention + norms;
    if (m.num_experts == 0 || layer < a.first_dense_layers) {
      total += dense_mlp;
      active += dense_mlp;
    } else {
      total += (int64_t{m.num_experts} + a.shared_experts) * expert + router;
      active += (int64_t{m.experts_per_token} + a.shared_experts) * expert + router;
    }
  }
  const int64_t embeddings = int64_t{m.vocab_size} * hidden * (a.tied_embeddings ? 1 : 2) + hidden;
  m.num_params = total + embeddings;
  m.active_params = active + embeddings;
  m.moe_intermediate_size = a.moe_intermediate_size;
  m.shared_experts = a.shared_experts;
  m.first_dense_layers = a.first_dense_layers;
  m.q_lora_rank = a.q_lora_rank;
  m.qk_nope_head_dim = a.qk_nope_head_dim;
  m.v_head_dim = a.v_head_dim;
}

ModelSpec preset(std::string name, int32_t layers, int32_t heads, int32_t kv_heads,
                 int32_t head_dim, int32_t hidden, int32_t intermediate, int32_t vocab,
                 int32_t max_len, DType dtype, const Architecture& a = {}) {
  ModelSpec m;
  m.name = std::move(name);
  m.num_layers = layers;
  m.num_heads = heads;
  m.num_kv_heads = kv_heads;
  m.head_dim = head_dim;
  m.hidden_size = hidden;
  m.intermediate_size = intermediate;
  m.vocab_size = vocab;
  m.dtype = m.weight_dtype = dtype;
  m.max_model_len = max_len;
  count_params(m, a);
  return m;
}

}  // namespace

int64_t estimate_num_params(const ModelSpec& model, bool tied_embeddings) {
  ModelSpec dense = model;
  dense.num_experts = dense.experts_per_token = dense.kv_lora_rank = dense.qk_rope_head_dim = 0;
  Architecture a;
  a.tied_embeddings = tied_embeddings;
  count_params(dense, a);
  return dense.num_params;
}

// Geometries from each model's config.json on Hugging Face; parameter counts from count_params,
// which gives the model cards' figures (tests/core/test_model.cpp).
ModelShapes model_shapes(const ModelSpec& m, int32_t num_gpus) {
  ModelShapes s;
  const int32_t tp = std::max(num_gpus, 1);
  const auto split = [tp](int64_t features) {
    return static_cast<int32_t>(std::max<int64_t>(1, (features + tp - 1) / tp));
  };
  s.dtype = m.weight_dtype == DType::kF16 ? DType::kF16 : DType::kBF16;
  s.attention_layers = m.num_layers;
  s.num_heads = split(m.num_heads);
  s.num_kv_heads = split(m.num_kv_heads);
  s.head_dim = m.head_dim;
  s.mla = m.is_mla();
  if (m.num_params == 0) return s;
  const int32_t hidden = m.hidden_size;
  const auto add = [&](std::string name, int64_t n, int64_t k, int32_t layers, int32_t experts = 0,
                       int32_t per_token = 0) {
    if (layers <= 0 || n <= 0 || k <= 0) return;
    s.gemms.push_back({std::move(name), static_cast<int32_t>(n), static_cast<int32_t>(k), layers,
                       experts, per_token});
  };
  const int32_t layers = m.num_layers;
  if (m.is_mla()) {
    const int64_t qk = int64_t{m.qk_nope_head_dim} + m.qk_rope_head_dim;
    if (m.q_lora_rank > 0) {
      add("q_a", m.q_lora_rank, hidden, layers);
      add("q_b", split(int64_t{m.num_heads} * qk), m.q_lora_rank, layers);
    } else {
      add("q", split(int64_t{m.num_heads} * qk), hidden, layers);
    }
    add("kv_a", int64_t{m.kv_lora_rank} + m.qk_rope_head_dim, hidden, layers);
    add("kv_b", split(int64_t{m.num_heads} * (m.qk_nope_head_dim + m.v_head_dim)), m.kv_lora_rank,
        layers);
    add("o", hidden, split(int64_t{m.num_heads} * m.v_head_dim), layers);
  } else {
    add("qkv", split((int64_t{m.num_heads} + 2 * int64_t{m.num_kv_heads}) * m.head_dim), hidden,
        layers);
    add("o", hidden, split(int64_t{m.num_heads} * m.head_dim), layers);
  }
  const int32_t moe_layers = m.num_experts > 0 ? layers - m.first_dense_layers : 0;
  add("gate_up", split(2 * int64_t{m.intermediate_size}), hidden, layers - moe_layers);
  add("down", hidden, split(m.intermediate_size), layers - moe_layers);
  if (moe_layers > 0) {
    const int32_t width =
        m.moe_intermediate_size > 0 ? m.moe_intermediate_size : m.intermediate_size;
    add("router", m.num_experts, hidden, moe_layers);
    add("experts_gate_up", split(2 * int64_t{width}), hidden, moe_layers, m.num_experts,
        m.experts_per_token);
    add("experts_down", hidden, split(width), moe_layers, m.num_experts, m.experts_per_token);
    if (m.shared_experts > 0) {
      add("shared_gate_up", split(2 * int64_t{width} * m.shared_experts), hidden, moe_layers);
      add("shared_down", hidden, split(int64_t{width} * m.shared_experts), moe_layers);
    }
  }
  s.lm_head = {"lm_head", split(m.vocab_size), hidden, 1, 0, 0};
  return s;
}

const std::vector<ModelSpec>& model_presets() {
  static const std::vector<ModelSpec> kPresets = [] {
    std::vector<ModelSpec> p;
    // The seed's attention tests: one layer of 32 heads x 128, fp16, and only the KV cache on the
    // GPU (no weights), which is what its max-concurrency experiment measures.
    ModelSpec seed = preset("seed-1layer", 1, 32, 32, 128, 4096, 11008, 32000, 4096, DType::kF16);
    seed.num_params = seed.active_params = 0;
    p.push_back(seed);
    // meta-llama/Llama-2-7b-hf (torch_dtype float16)
    p.push_back(preset("Llama-2-7B", 32, 32, 32, 128, 4096, 11008, 32000, 4096, DType::kF16));
    // meta-llama/Meta-Llama-3-8B
    p.push_back(preset("Llama-3-8B", 32, 32, 8, 128, 4096, 14336, 128256, 8192, DType::kBF16));
    // mistralai/Mistral-7B-v0.3 (no sliding window, unlike v0.1)
    p.push_back(preset("Mistral-7B", 32, 32, 8, 128, 4096, 14336, 32768, 32768, DType::kBF16));
    // Qwen/Qwen2.5-7B (biases on q, k, v; use_sliding_window false)
    Architecture qwen;
    qwen.qkv_bias = true;
    p.push_back(
        preset("Qwen2.5-7B", 28, 28, 4, 128, 3584, 18944, 152064, 131072, DType::kBF16, qwen));
    // meta-llama/Meta-Llama-3-70B
    p.push_back(preset("Llama-3-70B", 80, 64, 8, 128, 8192, 28672, 128256, 8192, DType::kBF16));
    // mistralai/Mixtral-8x7B-v0.1: 8 experts, 2 routed per token (46.7B held, 12.9B active).
    ModelSpec mixtral =
        preset("Mixtral-8x7B", 32, 32, 8, 128, 4096, 14336, 32000, 32768, DType::kBF16);
    mixtral.num_experts = 8;
    mixtral.experts_per_token = 2;
    Architecture moe;
    moe.moe_intermediate_size = 14336;
    count_params(mixtral, moe);
    p.push_back(mixtral);
    // deepseek-ai/DeepSeek-V3: MLA (latent 512 + rope 64 per token and layer), 256 routed experts
    // (8 per token) + 1 shared, the first 3 layers dense; fp8 weights (671B held, 37B active).
    ModelSpec ds =
        preset("DeepSeek-V3", 61, 128, 128, 56, 7168, 18432, 129280, 163840, DType::kBF16);
    ds.weight_dtype = DType::kFp8E4M3;
    ds.num_experts = 256;
    ds.experts_per_token = 8;
    ds.kv_lora_rank = 512;
    ds.qk_rope_head_dim = 64;
    Architecture dsa;
    dsa.moe_intermediate_size = 2048;
    dsa.shared_experts = 1;
    dsa.first_dense_layers = 3;
    dsa.q_lora_rank = 1536;
    dsa.qk_nope_head_dim = 128;
    dsa.v_head_dim = 128;
    count_params(ds, dsa);
    p.push_back(ds);
    return p;
  }();
  return kPresets;
}

ModelSpec find_model(std::string_view name) {
  std::string known;
  for (const ModelSpec& m : model_presets()) {
    if (ascii_lower(m.name) == ascii_lower(name)) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw_input_error("", 0, cat("unknown model ", quoted(name), ", expected one of: ", known));
}

namespace {

using nlohmann::json;

// Reads one config.json; keys are looked up in the text to give errors a line.
class ConfigReader {
 public:
  ConfigReader(std::string path, std::string text)
      : path_(std::move(path)), text_(std::move(text)) {}

  [[noreturn]] void fail(std::string_view key, const std::string& message) const {
    throw_input_error(path_, line_of_key(key), cat(key, ": ", message));
  }

  // A positive whole number below kMaxDimension; absent keys give fallback, or an error when
  // fallback is 0.
  int32_t dimension(const json& object, std::string_view key, int32_t fallback = 0) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      if (fallback > 0) return fallback;
      throw_input_error(path_, 0,
                        cat("missing key \"", key, "\", expected a positive whole number"));
    }
    if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > kMaxDimension) {
      fail(key,
           cat("expected a whole number in [1, ", kMaxDimension, "], found ", quoted(it->dump())));
    }
    return static_cast<int32_t>(it->get<int64_t>());
  }

  // A positive whole number, or 0 when the key is absent or null.
  int32_t optional_dimension(const json& object, std::string_view key) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return 0;
    return dimension(object, key);
  }

  bool flag(const json& object, std::string_view key, bool fallback) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(key, cat("expected true or false, found ", quoted(it->dump())));
    return it->get<bool>();
  }

  int64_t line_of_key(std::string_view key) const {
    const std::string needle = cat('"', key, '"');
    for (size_t at = text_.find(needle); at != std::string::npos; at = text_.find(needle, at + 1)) {
      size_t next = at + needle.size();
      while (next < text_.size() && (text_[next] == ' ' || text_[next] == '\t' ||
                                     text_[next] == '\r' || text_[next] == '\n')) {
        ++next;
      }
      if (next < text_.size() && text_[next] == ':') return line_of_offset(text_, at);
    }
    return 0;
  }

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }

  static constexpr int64_t kMaxDimension = 1 << 24;

 private:
  std::string path_;
  std::string text_;
};

// The activations' (and the KV cache's, under kv_dtype "auto") dtype as vLLM's dtype "auto" picks
// it: the checkpoint's, except that float32 checkpoints are served in float16. Weights are served
// in that dtype too, or in fp8 when the checkpoint is fp8-quantized (quantization_config).
void read_dtypes(const ConfigReader& reader, const json& config, ModelSpec& m) {
  const char* key = config.contains("torch_dtype") ? "torch_dtype" : "dtype";
  m.dtype = DType::kBF16;
  if (const auto it = config.find(key); it != config.end() && !it->is_null()) {
    if (!it->is_string()) reader.fail(key, cat("expected a string, found ", quoted(it->dump())));
    const std::string dtype = ascii_lower(it->get<std::string>());
    if (dtype == "float16" || dtype == "half" || dtype == "float32" || dtype == "float") {
      m.dtype = DType::kF16;
    } else if (dtype == "bfloat16") {
      m.dtype = DType::kBF16;
    } else {
      reader.fail(key, cat("expected float16, bfloat16 or float32, found ", quoted(it->dump())));
    }
  }
  m.weight_dtype = m.dtype;
  if (const auto q = config.find("quantization_config"); q != config.end() && q->is_object()) {
    const auto method = q->find("quant_method");
    if (method != q->end() && method->is_string() &&
        ascii_lower(method->get<std::string>()) == "fp8") {
      m.weight_dtype = DType::kFp8E4M3;
    }
  }
}

std::string model_name(const std::string& path, const json& config) {
  const auto it = config.find("_name_or_path");
  if (it != config.end() && it->is_string() && !it->get<std::string>().empty()) {
    return it->get<std::string>();
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path().filename();
  return parent.empty() ? std::string("config") : parent.string();
}

}  // namespace

ModelSpec load_hf_config(const std::string& path) {
  ConfigReader reader(path, read_text_file(path));
  if (reader.text().find_first_not_of(" \t\r\n") == std::string::npos) {
    throw_input_error(path, 0, "empty file, expected a JSON object (a Hugging Face config.json)");
  }
  json root;
  try {
    root = json::parse(reader.text());
  } catch (const json::exception& e) {
    // Syntax errors carry a byte position; number overflows do not.
    const auto* syntax = dynamic_cast<const json::parse_error*>(&e);
    std::string what = e.what();
    const size_t tag_end = what.find("] ");
    if (tag_end != std::string::npos) what = what.substr(tag_end + 2);
    throw_input_error(
        path,
        syntax != nullptr && syntax->byte > 0 ? line_of_offset(reader.text(), syntax->byte - 1) : 0,
        "malformed JSON: " + what);
  }
  if (!root.is_object()) {
    throw_input_error(path, 1, "expected a JSON object (a Hugging Face config.json)");
  }
  // Multimodal configs keep the language model's geometry under text_config.
  const json& config = !root.contains("num_hidden_layers") && root.contains("text_config") &&
                               root["text_config"].is_object()
                           ? root["text_config"]
                           : root;

  ModelSpec m;
  m.name = model_name(path, root);
  m.num_layers = reader.dimension(config, "num_hidden_layers");
  m.hidden_size = reader.dimension(config, "hidden_size");
  m.num_heads = reader.dimension(config, "num_attention_heads");
  m.num_kv_heads = reader.dimension(config, "num_key_value_heads", m.num_heads);
  if (m.num_heads % m.num_kv_heads != 0) {
    reader.fail("num_key_value_heads", cat("expected a divisor of num_attention_heads (",
                                           m.num_heads, "), found ", m.num_kv_heads));
  }
  if (!config.contains("head_dim") || config["head_dim"].is_null()) {
    if (m.hidden_size % m.num_heads != 0) {
      reader.fail("num_attention_heads",
                  cat("hidden_size (", m.hidden_size, ") is not a multiple of ", m.num_heads,
                      " heads and there is no head_dim"));
    }
  }
  m.head_dim = reader.dimension(config, "head_dim", m.hidden_size / m.num_heads);
  m.intermediate_size = reader.dimension(config, "intermediate_size");
  m.vocab_size = reader.dimension(config, "vocab_size");
  m.max_model_len = reader.optional_dimension(config, "max_position_embeddings");
  read_dtypes(reader, config, m);

  // Mixture of experts: Mixtral's num_local_experts, DeepSeek's n_routed_experts, Qwen's
  // num_experts; each expert's width moe_intermediate_size (else intermediate_size).
  Architecture a;
  if (const auto t = config.find("model_type"); t != config.end() && t->is_string()) {
    a.qkv_bias = t->get<std::string>().starts_with("qwen2");
  }
  for (const char* key : {"num_local_experts", "n_routed_experts", "num_experts"}) {
    if (m.num_experts == 0) m.num_experts = reader.optional_dimension(config, key);
  }
  if (m.num_experts > 0) {
    m.experts_per_token = reader.dimension(config, "num_experts_per_tok");
    if (m.experts_per_token > m.num_experts) {
      reader.fail("num_experts_per_tok", cat("expected at most the ", m.num_experts,
                                             " experts, found ", m.experts_per_token));
    }
    a.moe_intermediate_size = reader.optional_dimension(config, "moe_intermediate_size");
    if (a.moe_intermediate_size == 0) a.moe_intermediate_size = m.intermediate_size;
    a.shared_experts = reader.optional_dimension(config, "n_shared_experts");
    a.first_dense_layers =
        std::min(reader.optional_dimension(config, "first_k_dense_replace"), m.num_layers);
  }
  // Multi-head latent attention (DeepSeek-V2/V3): the cache holds the latent and the rope key.
  m.kv_lora_rank = reader.optional_dimension(config, "kv_lora_rank");
  if (m.is_mla()) {
    m.qk_rope_head_dim = reader.dimension(config, "qk_rope_head_dim");
    a.qk_nope_head_dim = reader.dimension(config, "qk_nope_head_dim");
    a.v_head_dim = reader.dimension(config, "v_head_dim");
    a.q_lora_rank = reader.optional_dimension(config, "q_lora_rank");
  }
  // Sliding-window attention (Mistral v0.1, Gemma, Qwen with use_sliding_window): the scenario
  // refuses a context longer than the window (core/config/scenario.cpp).
  if (reader.flag(config, "use_sliding_window", true)) {
    m.sliding_window = reader.optional_dimension(config, "sliding_window");
  }

  a.tied_embeddings = reader.flag(root.contains("tie_word_embeddings") ? root : config,
                                  "tie_word_embeddings", false);
  // Each dimension is below 2^24, but their products may not be: bound the estimate first.
  const double experts = std::max(1, m.num_experts + a.shared_experts);
  const double mlp_width = m.num_experts > 0 ? a.moe_intermediate_size : m.intermediate_size;
  const double approx =
      static_cast<double>(m.num_layers) *
          (4.0 * m.hidden_size * m.num_heads * m.head_dim +
           3.0 * m.hidden_size * mlp_width * experts + 4.0 * m.hidden_size * m.intermediate_size) +
      2.0 * m.vocab_size * m.hidden_size;
  if (approx > 1e15 || static_cast<double>(m.num_layers) * m.num_kv_heads * m.head_dim > 1e12) {
    throw_input_error(path, 0, "implausible geometry: more than 10^15 parameters");
  }
  count_params(m, a);
  return m;
}

}  // namespace tinyserve
