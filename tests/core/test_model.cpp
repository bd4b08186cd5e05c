#include <doctest/doctest.h>

#include <cmath>

#include "core/config/model.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;
using tinyserve::testing::TempDir;

namespace {

// meta-llama/Meta-Llama-3-8B's config.json as published.
const char* const kLlama3Config = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 8192,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": null,
  "rope_theta": 500000.0,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
}
)";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("every preset's bytes per token is 2 x layers x kv heads x head dim x dtype bytes") {
  CHECK(find_model("seed-1layer").bytes_per_token() == 2 * 1 * 32 * 128 * 2);  // 16 KiB
  CHECK(find_model("Llama-2-7B").bytes_per_token() == 524'288);                // 512 KiB
  CHECK(find_model("Llama-3-8B").bytes_per_token() == 131'072);                // 128 KiB
  CHECK(find_model("Mistral-7B").bytes_per_token() == 131'072);
  CHECK(find_model("Qwen2.5-7B").bytes_per_token() == 57'344);    // 56 KiB
  CHECK(find_model("Llama-3-70B").bytes_per_token() == 327'680);  // 320 KiB
  CHECK(find_model("Mixtral-8x7B").bytes_per_token() == 131'072);
  // MLA: one latent of 512 + 64 rope elements per token and layer, 61 layers, bf16.
  CHECK(find_model("DeepSeek-V3").bytes_per_token() == 61 * 576 * 2);
  CHECK(find_model("Llama-3-8B").kv_bytes_per_token(DType::kFp8E4M3) == 65'536);
  CHECK(model_presets().size() == 8);
}

TEST_CASE("MoE presets hold every expert's weights and spend the routed experts' FLOPs") {
  const ModelSpec mixtral = find_model("Mixtral-8x7B");
  CHECK(mixtral.num_params == 46'702'792'704);  // the model card's 46.7B, exactly
  CHECK(mixtral.active_params == 12'879'925'248);
  const ModelSpec ds = find_model("DeepSeek-V3");
  CHECK(std::abs(static_cast<double>(ds.num_params) / 671e9 - 1.0) < 0.001);   // 671B
  CHECK(std::abs(static_cast<double>(ds.active_params) / 37e9 - 1.0) < 0.02);  // 37B active
  CHECK(ds.weight_bytes() == ds.num_params);                                   // fp8 weights
  const ModelSpec dense = find_model("Llama-3-8B");
  CHECK(dense.active_params == dense.num_params);
}

TEST_CASE("preset parameter counts match the geometry") {
  for (const char* name : {"Llama-2-7B", "Llama-3-8B", "Mistral-7B", "Llama-3-70B"}) {
    const ModelSpec m = find_model(name);
    CHECK_MESSAGE(estimate_num_params(m, false) == m.num_params, name);
  }
  CHECK(find_model("Llama-2-7B").num_params == 6'738'415'616);
  CHECK(find_model("Llama-3-70B").weight_bytes() == 141'107'412'992);
  // Qwen2.5 has biases on q, k and v (3584 + 512 + 512 per layer) that the estimate leaves out.
  const ModelSpec qwen = find_model("Qwen2.5-7B");
  CHECK(qwen.num_params - estimate_num_params(qwen, false) == 28 * 4608);
  CHECK(find_model("seed-1layer").weight_bytes() == 0);
}

TEST_CASE("models are found by name whatever the case, and an unknown name lists the known ones") {
  CHECK(find_model("llama-3-8b").name == "Llama-3-8B");
  CHECK(find_model("QWEN2.5-7B").num_kv_heads == 4);
  const auto e = input_error([] { find_model("gpt-5"); });
  REQUIRE(e);
  CHECK(e->line() == 0);
  CHECK(std::string(e->what()).find("\"gpt-5\"") != std::string::npos);
  CHECK(std::string(e->what()).find("seed-1layer, Llama-2-7B, Llama-3-8B") != std::string::npos);
}

TEST_CASE("a Hugging Face config.json gives the preset's geometry") {
  TempDir dir;
  const ModelSpec m = load_hf_config(dir.write("config.json", kLlama3Config));
  const ModelSpec preset = find_model("Llama-3-8B");
  CHECK(m.num_layers == preset.num_layers);
  CHECK(m.num_heads == preset.num_heads);
  CHECK(m.num_kv_heads == preset.num_kv_heads);
  CHECK(m.head_dim == preset.head_dim);
  CHECK(m.hidden_size == preset.hidden_size);
  CHECK(m.intermediate_size == preset.intermediate_size);
  CHECK(m.vocab_size == preset.vocab_size);
  CHECK(m.max_model_len == preset.max_model_len);
  CHECK(m.dtype == DType::kBF16);
  CHECK(m.num_params == preset.num_params);
  CHECK(m.bytes_per_token() == preset.bytes_per_token());
}

TEST_CASE("config.json defaults: kv heads to heads, head dim to hidden / heads, name to folder") {
  TempDir dir;
  std::string text = replace(kLlama3Config, "\"num_key_value_heads\": 8,\n", "");
  const ModelSpec m = load_hf_config(dir.write("config.json", text));
  CHECK(m.num_kv_heads == 32);
  CHECK(m.head_dim == 128);
  CHECK(m.bytes_per_token() == 524'288);
  CHECK(!m.name.empty());

  std::filesystem::create_directories(dir.path("My-Model"));
  const ModelSpec named = load_hf_config(dir.write("My-Model/config.json", kLlama3Config));
  CHECK(named.name == "My-Model");
  const ModelSpec with_path = load_hf_config(dir.write(
      "c.json",
      replace(kLlama3Config, "{", "{\"_name_or_path\": \"meta-llama/Meta-Llama-3-8B\",")));
  CHECK(with_path.name == "meta-llama/Meta-Llama-3-8B");
}

TEST_CASE("config.json with an explicit head_dim, fp32 weights and tied embeddings") {
  TempDir dir;
  // A Gemma-like geometry: head_dim is not hidden_size / heads.
  std::string text = replace(kLlama3Config, "\"hidden_size\": 4096", "\"hidden_size\": 3072");
  text = replace(text, "\"num_attention_heads\": 32",
                 "\"num_attention_heads\": 16, \"head_dim\": 256");
  text = replace(text, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
  text = replace(text, "\"bfloat16\"", "\"float32\"");
  const ModelSpec m = load_hf_config(dir.write("config.json", text));
  CHECK(m.head_dim == 256);
  CHECK(m.num_kv_heads == 8);
  CHECK(m.dtype == DType::kF16);  // vLLM serves float32 checkpoints in float16
  CHECK(m.bytes_per_token() == 2 * 32 * 8 * 256 * 2);
  // 32 x (3072 x 4096 x 2 + 3072 x 2048 x 2 + 3 x 3072 x 14336 + 2 x 3072) + 128256 x 3072 + 3072
  CHECK(m.num_params ==
        int64_t{32} * (25'165'824 + 12'582'912 + 132'120'576 + 6144) + 394'002'432 + 3072);
}

TEST_CASE("a multimodal config.json is read from its text_config") {
  TempDir dir;
  const std::string text =
      std::string("{\"model_type\": \"llava\", \"text_config\": ") + kLlama3Config + "}";
  CHECK(load_hf_config(dir.write("config.json", text)).num_kv_heads == 8);
}

TEST_CASE("malformed JSON in config.json names the file and the line") {
  TempDir dir;
  const std::string path = dir.write(
      "config.json", replace(kLlama3Config, "\"hidden_size\": 4096,", "\"hidden_size\" 4096,"));
  const auto e = input_error([&] { load_hf_config(path); });
  REQUIRE(e);
  CHECK(e->file() == path);
  CHECK(e->line() == 8);
  CHECK(std::string(e->what()).find("malformed JSON") != std::string::npos);
}

TEST_CASE("a missing key in config.json is named") {
  TempDir dir;
  const std::string path =
      dir.write("config.json", replace(kLlama3Config, "\"num_hidden_layers\": 32,", ""));
  const auto e = input_error([&] { load_hf_config(path); });
  REQUIRE(e);
  CHECK(e->file() == path);
  CHECK(e->line() == 0);
  CHECK(std::string(e->what()).find("missing key \"num_hidden_layers\"") != std::string::npos);
}

TEST_CASE("a config.json value of the wrong type or range names the key and its line") {
  TempDir dir;
  struct Case {
    std::string from, to;
    const char* key;
    int64_t line;
  };
  const Case cases[] = {
      {"\"num_hidden_layers\": 32", "\"num_hidden_layers\": \"32\"", "num_hidden_layers", 14},
      {"\"num_hidden_layers\": 32", "\"num_hidden_layers\": 32.5", "num_hidden_layers", 14},
      {"\"hidden_size\": 4096", "\"hidden_size\": -4096", "hidden_size", 8},
      {"\"vocab_size\": 128256", "\"vocab_size\": 0", "vocab_size", 24},
      {"\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5", "num_key_value_heads", 15},
      {"\"torch_dtype\": \"bfloat16\"", "\"torch_dtype\": \"int3\"", "torch_dtype", 21},
      {"\"torch_dtype\": \"bfloat16\"", "\"torch_dtype\": 16", "torch_dtype", 21},
      {"\"tie_word_embeddings\": false", "\"tie_word_embeddings\": 0", "tie_word_embeddings", 20},
      {"\"intermediate_size\": 14336", "\"intermediate_size\": 99999999999", "intermediate_size",
       10},
  };
  for (const Case& c : cases) {
    const std::string path = dir.write("config.json", replace(kLlama3Config, c.from, c.to));
    const auto e = input_error([&] { load_hf_config(path); });
    REQUIRE_MESSAGE(e, c.to);
    CHECK_MESSAGE(e->line() == c.line, c.to);
    CHECK_MESSAGE(
        std::string(e->what()).find(std::string(c.key) + ": expected") != std::string::npos,
        std::string(e->what()));
  }
}

TEST_CASE("an unreadable config.json is an input error, not a crash") {
  TempDir dir;
  const auto missing = input_error([&] { load_hf_config(dir.path("none.json")); });
  REQUIRE(missing);
  CHECK(std::string(missing->what()).find("no such file") != std::string::npos);
  const auto directory = input_error([&] { load_hf_config(dir.path("")); });
  REQUIRE(directory);
  CHECK(std::string(directory->what()).find("is a directory") != std::string::npos);
  CHECK(input_error([&] { load_hf_config(dir.write("empty.json", "")); }));
  CHECK(input_error([&] { load_hf_config(dir.write("array.json", "[1, 2]")); }));
  CHECK(input_error([&] { load_hf_config(dir.write("cut.json", "{\"hidden_size\": 40")); }));
  CHECK(input_error([&] { load_hf_config(dir.write("big.json", "{\"hidden_size\": 1e999}")); }));
  CHECK(input_error([&] { load_hf_config(dir.write("binary.json", std::string("\0\xff{", 3))); }));
}

namespace {

// mistralai/Mixtral-8x7B-v0.1's config.json (its geometry keys as published).
const char* const kMixtralConfig = R"({
  "architectures": ["MixtralForCausalLM"],
  "hidden_size": 4096,
  "intermediate_size": 14336,
  "max_position_embeddings": 32768,
  "model_type": "mixtral",
  "num_attention_heads": 32,
  "num_experts_per_tok": 2,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "num_local_experts": 8,
  "sliding_window": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "vocab_size": 32000
}
)";

// deepseek-ai/DeepSeek-V3's config.json (its geometry keys as published).
const char* const kDeepSeekV3Config = R"({
  "architectures": ["DeepseekV3ForCausalLM"],
  "first_k_dense_replace": 3,
  "hidden_size": 7168,
  "intermediate_size": 18432,
  "kv_lora_rank": 512,
  "max_position_embeddings": 163840,
  "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048,
  "n_routed_experts": 256,
  "n_shared_experts": 1,
  "num_attention_heads": 128,
  "num_experts_per_tok": 8,
  "num_hidden_layers": 61,
  "num_key_value_heads": 128,
  "q_lora_rank": 1536,
  "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "v_head_dim": 128,
  "vocab_size": 129280
}
)";

}  // namespace

TEST_CASE("a Mixtral config.json holds every expert's weights, not a dense 7B") {
  TempDir dir;
  const ModelSpec m = load_hf_config(dir.write("config.json", kMixtralConfig));
  const ModelSpec preset = find_model("Mixtral-8x7B");
  CHECK(m.num_experts == 8);
  CHECK(m.experts_per_token == 2);
  CHECK(m.num_params == preset.num_params);
  CHECK(m.active_params == preset.active_params);
  CHECK(m.weight_bytes() == 2 * 46'702'792'704);
  CHECK(m.sliding_window == 0);
}

TEST_CASE("a DeepSeek-V3 config.json caches MLA's latent, not K and V per head") {
  TempDir dir;
  const ModelSpec m = load_hf_config(dir.write("config.json", kDeepSeekV3Config));
  CHECK(m.is_mla());
  CHECK(m.bytes_per_token() == 70'272);  // 61 layers x (512 + 64) x 2 bytes, not 1.7 MB
  CHECK(m.weight_dtype == DType::kFp8E4M3);
  CHECK(m.num_params == find_model("DeepSeek-V3").num_params);
  CHECK(m.active_params == find_model("DeepSeek-V3").active_params);
  // Decode attends in the latent space: (512 + 64) for scores plus 512 for values, per head.
  CHECK(m.attention_flops_per_pair() == 2.0 * 61 * 128 * (576 + 512));
}

TEST_CASE("config.json: sliding windows are recorded, max_position_embeddings may be absent") {
  TempDir dir;
  std::string text = replace(kLlama3Config, "\"max_position_embeddings\": 8192,\n", "");
  CHECK(load_hf_config(dir.write("a.json", text)).max_model_len == 0);
  text = replace(kLlama3Config, "\"rope_scaling\": null,", "\"sliding_window\": 4096,");
  CHECK(load_hf_config(dir.write("b.json", text)).sliding_window == 4096);
  const std::string off = replace(text, "\"use_cache\": true,", "\"use_sliding_window\": false,");
  CHECK(load_hf_config(dir.write("c.json", off)).sliding_window == 0);
}

TEST_CASE("a dense model's layers are QKV, O, gate/up and down, then the LM head") {
  const ModelShapes s = model_shapes(find_model("llama-3-8b"));
  REQUIRE(s.gemms.size() == 4);
  const auto is = [](const WeightGemm& g, const char* name, int32_t n, int32_t k) {
    return g.name == name && g.n == n && g.k == k && g.layers == 32 && !g.routed();
  };
  CHECK(is(s.gemms[0], "qkv", (32 + 2 * 8) * 128, 4096));
  CHECK(is(s.gemms[1], "o", 4096, 4096));
  CHECK(is(s.gemms[2], "gate_up", 2 * 14336, 4096));
  CHECK(is(s.gemms[3], "down", 4096, 14336));
  CHECK(s.lm_head.n == 128256);
  CHECK(s.lm_head.k == 4096);
  CHECK(s.dtype == DType::kBF16);
  CHECK(s.attention_layers == 32);
  CHECK(s.num_kv_heads == 8);
  // Every weight of a layer and the LM head: the preset's parameters less the embeddings and
  // norms.
  const ModelSpec m = find_model("llama-3-8b");
  int64_t params = int64_t{s.lm_head.n} * s.lm_head.k;
  for (const WeightGemm& g : s.gemms) params += int64_t{g.n} * g.k * g.layers;
  CHECK(params == m.num_params - int64_t{m.vocab_size} * m.hidden_size -
                      (2 * int64_t{m.num_layers} + 1) * m.hidden_size);
  CHECK(model_shapes(find_model("llama-2-7b")).dtype == DType::kF16);
}

TEST_CASE("tensor parallelism splits output features, input features and heads evenly") {
  const ModelShapes one = model_shapes(find_model("llama-3-70b"));
  const ModelShapes four = model_shapes(find_model("llama-3-70b"), 4);
  CHECK(four.gemms[0].n * 4 == one.gemms[0].n);  // QKV: output features
  CHECK(four.gemms[0].k == one.gemms[0].k);
  CHECK(four.gemms[1].k * 4 == one.gemms[1].k);  // O: input features
  CHECK(four.gemms[3].k * 4 == one.gemms[3].k);  // down
  CHECK(four.lm_head.n * 4 == one.lm_head.n);
  CHECK(four.num_heads == 16);
  CHECK(four.num_kv_heads == 2);
}

TEST_CASE("MoE layers route each token through experts_per_token of the experts") {
  const ModelShapes s = model_shapes(find_model("mixtral-8x7b"));
  std::vector<std::string> names;
  for (const WeightGemm& g : s.gemms) names.push_back(g.name);
  CHECK(names == std::vector<std::string>{"qkv", "o", "router", "experts_gate_up", "experts_down"});
  CHECK(s.gemms[3].routed());
  CHECK(s.gemms[3].experts == 8);
  CHECK(s.gemms[3].experts_per_token == 2);
  CHECK(s.gemms[3].n == 2 * 14336);
  // DeepSeek-V3: MLA projections, 3 dense layers, 58 MoE layers with a shared expert; fp8
  // weights timed as bf16.
  const ModelShapes d = model_shapes(find_model("deepseek-v3"));
  CHECK(d.mla);
  CHECK(d.dtype == DType::kBF16);
  int32_t dense = 0, moe = 0;
  for (const WeightGemm& g : d.gemms) {
    if (g.name == "gate_up") dense = g.layers;
    if (g.name == "experts_down") moe = g.layers;
  }
  CHECK(dense == 3);
  CHECK(moe == 58);
  // The model without weights has no GEMMs.
  CHECK(model_shapes(find_model("seed-1layer")).empty());
}
