#include "core/config/model.h"

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

namespace {

ModelSpec preset(std::string name, int32_t layers, int32_t heads, int32_t kv_heads,
                 int32_t head_dim, int32_t hidden, int32_t intermediate, int32_t vocab,
                 int32_t max_len, int64_t params) {
  ModelSpec m;
  m.name = std::move(name);
  m.num_layers = layers;
  m.num_heads = heads;
  m.num_kv_heads = kv_heads;
  m.head_dim = head_dim;
  m.hidden_size = hidden;
  m.intermediate_size = intermediate;
  m.vocab_size = vocab;
  m.dtype_bytes = 2;
  m.max_model_len = max_len;
  m.num_params = params;
  return m;
}

}  // namespace

int64_t estimate_num_params(const ModelSpec& model, bool tied_embeddings) {
  const int64_t hidden = model.hidden_size;
  const int64_t q_dim = int64_t{model.num_heads} * model.head_dim;
  const int64_t kv_dim = int64_t{model.num_kv_heads} * model.head_dim;
  const int64_t attention = hidden * q_dim * 2 + hidden * kv_dim * 2;  // q, o; k, v
  const int64_t mlp = 3 * hidden * model.intermediate_size;            // gate, up, down
  const int64_t norms = 2 * hidden;
  const int64_t embeddings = int64_t{model.vocab_size} * hidden * (tied_embeddings ? 1 : 2);
  return model.num_layers * (attention + mlp + norms) + embeddings + hidden;
}

// Geometries and parameter counts from each model's config.json and model card on Hugging Face.
const std::vector<ModelSpec>& model_presets() {
  static const std::vector<ModelSpec> kPresets = {
      // The seed's attention tests: one layer of 32 heads x 128, fp16, and only the KV cache on the
      // GPU (no weights), which is what its max-concurrency experiment measures.
      preset("seed-1layer", 1, 32, 32, 128, 4096, 11008, 32000, 4096, 0),
      // meta-llama/Llama-2-7b-hf
      preset("Llama-2-7B", 32, 32, 32, 128, 4096, 11008, 32000, 4096, 6'738'415'616),
      // meta-llama/Meta-Llama-3-8B
      preset("Llama-3-8B", 32, 32, 8, 128, 4096, 14336, 128256, 8192, 8'030'261'248),
      // mistralai/Mistral-7B-v0.1 (its 4096-token sliding window is not modelled: the KV cache
      // holds every token, as in vLLM without sliding-window block freeing)
      preset("Mistral-7B", 32, 32, 8, 128, 4096, 14336, 32000, 32768, 7'241'732'096),
      // Qwen/Qwen2.5-7B
      preset("Qwen2.5-7B", 28, 28, 4, 128, 3584, 18944, 152064, 131072, 7'615'616'512),
      // meta-llama/Meta-Llama-3-70B
      preset("Llama-3-70B", 80, 64, 8, 128, 8192, 28672, 128256, 8192, 70'553'706'496),
  };
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

// Bytes per weight and KV element under vLLM's dtype "auto": the checkpoint's dtype, except that
// float32 checkpoints are served in float16.
int32_t dtype_bytes(const ConfigReader& reader, const json& config) {
  const char* key = config.contains("torch_dtype") ? "torch_dtype" : "dtype";
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return 2;
  if (!it->is_string()) reader.fail(key, cat("expected a string, found ", quoted(it->dump())));
  const std::string dtype = ascii_lower(it->get<std::string>());
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "half" || dtype == "float32" ||
      dtype == "float") {
    return 2;
  }
  if (dtype == "float8_e4m3fn" || dtype == "float8_e5m2") return 1;
  reader.fail(
      key, cat("expected float16, bfloat16, float32 or float8_e4m3fn, found ", quoted(it->dump())));
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
  m.max_model_len = reader.dimension(config, "max_position_embeddings");
  m.dtype_bytes = dtype_bytes(reader, config);

  bool tied = false;
  const json& tie_source = root.contains("tie_word_embeddings") ? root : config;
  if (const auto it = tie_source.find("tie_word_embeddings"); it != tie_source.end()) {
    if (!it->is_boolean()) {
      reader.fail("tie_word_embeddings", cat("expected true or false, found ", quoted(it->dump())));
    }
    tied = it->get<bool>();
  }
  // Each dimension is below 2^24, but their products may not be: bound the estimate first.
  const double approx =
      static_cast<double>(m.num_layers) * (4.0 * m.hidden_size * m.num_heads * m.head_dim +
                                           3.0 * m.hidden_size * m.intermediate_size) +
      2.0 * m.vocab_size * m.hidden_size;
  if (approx > 1e15 || static_cast<double>(m.num_layers) * m.num_kv_heads * m.head_dim > 1e12) {
    throw_input_error(path, 0, "implausible geometry: more than 10^15 parameters");
  }
  m.num_params = estimate_num_params(m, tied);
  return m;
}

}  // namespace tinyserve
