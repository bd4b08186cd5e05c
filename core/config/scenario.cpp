#include "core/config/scenario.h"

#define TOML_HEADER_ONLY 1
// toml++ asserts in debug builds on conditions it goes on to report as parse errors (fuzzing hit
// one on a NUL byte in a key): let the errors through as they are in release builds.
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/config/scenario_keys.h"
#include "core/execution/gpu_profile.h"
#include "core/text/text_file.h"
#include "core/text/toml_text.h"
#include "core/workload/request_file.h"

namespace tinyserve {

namespace fs = std::filesystem;

namespace {

struct Context {
  std::string file;
  std::map<std::string, std::string> overrides;  // dotted key -> "--set key=value"
};

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

// Reads one table through the key table (core/config/scenario_keys.h), tracking the keys it
// consumed so that unknown ones can be reported.
class Reader {
 public:
  Reader(const toml::table* table, std::string prefix, const Context& ctx)
      : table_(table), prefix_(std::move(prefix)), ctx_(ctx) {}

  bool has(const KeySpec& k) const { return table_ && table_->contains(leaf(k)); }
  const std::string& file() const { return ctx_.file; }
  // The key was given by --set rather than by the file.
  bool overridden(const KeySpec& k) const { return ctx_.overrides.contains(std::string(k.key)); }

  int64_t integer(const KeySpec& k, std::optional<int64_t> def = std::nullopt) {
    const toml::node* node = get(k);
    if (!node) return def.value_or(static_cast<int64_t>(k.def));
    const auto v = node->value_exact<int64_t>();
    if (!v) fail(node, k, cat("expected an integer, found ", type_name(*node)));
    const auto lo = static_cast<int64_t>(k.lo), hi = static_cast<int64_t>(k.hi);
    if (*v < lo || *v > hi) {
      fail(node, k, cat("expected an integer in [", lo, ", ", hi, "], found ", *v));
    }
    return *v;
  }

  int32_t int32(const KeySpec& k, std::optional<int64_t> def = std::nullopt) {
    assert(k.hi <= INT32_MAX);
    return static_cast<int32_t>(integer(k, def));
  }

  double number(const KeySpec& k, std::optional<double> def = std::nullopt) {
    const toml::node* node = get(k);
    if (!node) return def.value_or(k.def);
    std::optional<double> v;
    if (node->is_integer()) v = static_cast<double>(*node->value<int64_t>());
    if (node->is_floating_point()) v = *node->value<double>();
    if (!v) fail(node, k, cat("expected a number, found ", type_name(*node)));
    if (!(*v >= k.lo && *v <= k.hi)) {
      fail(node, k, cat("expected a number in [", k.lo, ", ", k.hi, "], found ", *v));
    }
    return *v;
  }

  bool boolean(const KeySpec& k) {
    const toml::node* node = get(k);
    if (!node) return k.def != 0;
    if (!node->is_boolean()) fail(node, k, cat("expected true or false, found ", type_name(*node)));
    return *node->value<bool>();
  }

  std::string string(const KeySpec& k, std::string_view def) {
    const toml::node* node = get(k);
    if (!node) return std::string(def);
    if (!node->is_string()) fail(node, k, cat("expected a string, found ", type_name(*node)));
    return *node->value<std::string>();
  }
  std::string string(const KeySpec& k) { return string(k, k.text_def); }

  // A path relative to the scenario file, or to the current directory when given by --set.
  std::string path(const KeySpec& k) {
    fs::path p = string(k, "");
    if (!p.empty() && p.is_relative() && !overridden(k)) p = fs::path(ctx_.file).parent_path() / p;
    return p.empty() ? std::string() : p.lexically_normal().string();
  }

  std::string choice(const KeySpec& k, std::string_view def) {
    const toml::node* node = get(k);
    const std::string v = string(k, def);
    if (std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end()) {
      std::string list;
      for (std::string_view a : k.choices) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(node, k, cat("expected one of ", list, ", found \"", v, "\""));
    }
    return v;
  }
  std::string choice(const KeySpec& k) { return choice(k, k.text_def); }

  template <typename E>
  E named(const KeySpec& k, std::span<const Named<E>> names) {
    return *parse_named(names, choice(k));
  }

  Reader table(std::string_view key) {
    read_.insert(std::string(key));
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (node && !node->is_table())
      fail(node, key, cat("expected a table, found ", type_name(*node)));
    return Reader(node ? node->as_table() : nullptr, path_of(key), ctx_);
  }

  // Throws for the first key of this table that nobody read.
  void reject_unknown() const {
    if (!table_) return;
    for (auto&& [k, v] : *table_) {
      if (!read_.contains(std::string(k.str()))) {
        std::string known;
        for (const std::string& r : read_) known += (known.empty() ? "" : ", ") + r;
        fail(&v, k.str(), cat("unknown key", known.empty() ? "" : " (known here: " + known + ")"));
      }
    }
  }

  [[noreturn]] void fail(const toml::node* node, std::string_view leaf,
                         const std::string& what) const {
    const std::string full = path_of(leaf);
    if (const auto it = ctx_.overrides.find(full); it != ctx_.overrides.end()) {
      throw InputError(it->second, 0, what);
    }
    const int64_t line = node ? static_cast<int64_t>(node->source().begin.line) : 0;
    throw InputError(ctx_.file, line, full + ": " + what);
  }
  [[noreturn]] void fail(const toml::node* node, const KeySpec& k, const std::string& what) const {
    fail(node, leaf(k), what);
  }
  [[noreturn]] void fail(const KeySpec& k, const std::string& what) const {
    fail(table_ ? table_->get(leaf(k)) : nullptr, leaf(k), what);
  }

 private:
  std::string_view leaf(const KeySpec& k) const {
    assert(k.key == path_of(k.leaf()));  // the spec belongs to this table
    return k.leaf();
  }
  const toml::node* get(const KeySpec& k) {
    const std::string_view key = leaf(k);
    read_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }
  std::string path_of(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  const toml::table* table_;
  std::string prefix_;
  const Context& ctx_;
  std::set<std::string> read_;
};

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw InputError(path, 0, "is a directory, expected a scenario .toml file");
  if (fs::exists(path, ec) && !fs::is_regular_file(path, ec)) {
    throw InputError(path, 0, "is not a regular file, expected a scenario .toml file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, 0, cat("cannot open: ", std::strerror(errno)));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

toml::table parse_text(const std::string& text, const std::string& path) {
  const std::string ascii =
      ascii_toml(text, path);  // toml++ sees ASCII only: core/text/toml_text.h
  try {
    return toml::parse(ascii, path);
  } catch (const toml::parse_error& e) {
    throw InputError(path, static_cast<int64_t>(e.source().begin.line),
                     cat("malformed TOML: ", e.description()));
  }
}

// An override as messages name it: "--set KEY=VALUE", control bytes escaped, cut at 80 bytes.
std::string override_origin(const std::string& text) {
  constexpr size_t kMax = 80;
  std::string shown;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (shown.size() >= kMax && (c & 0xC0) != 0x80) {
      shown += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      shown += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      shown += static_cast<char>(c);
    }
  }
  return "--set " + shown;
}

// A value that begins as TOML syntax does (a number, a quote, an array, an inline table) is
// meant as TOML, so when it is not valid TOML it is an error rather than text.
bool looks_like_toml(const std::string& value) {
  const size_t i = value.find_first_not_of(" \t");
  if (i == std::string::npos) return false;
  const char c = value[i];
  const auto digit = [](char d) { return d >= '0' && d <= '9'; };
  if (digit(c) || c == '"' || c == '\'' || c == '[' || c == '{') return true;
  return (c == '+' || c == '-' || c == '.') && i + 1 < value.size() && digit(value[i + 1]);
}

// --set KEY=VALUE. KEY is a dotted key (at most kMaxKeyParts parts, kMaxKeyChars characters).
// VALUE is one TOML value as a scenario file writes it (42, 0.5, true, "text", [1, 2]), alone on
// its line: a comment or a line break after it is refused. A VALUE that is not TOML is text (a
// string) unless it begins as TOML does (a digit, a sign or dot before a digit, a quote, '[', '{'),
// which is an error saying what toml++ found wrong.
void apply_override(toml::table& root, const std::string& text, Context& ctx) {
  const std::string origin = override_origin(text);
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(origin, 0, "expected key=value");
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  size_t cut = 0;  // past kMaxKeyParts parts, the key is shown up to its last allowed part
  int64_t parts = 1;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
    if (++parts == kMaxKeyParts + 1) cut = dot;
  }
  const std::string shown = parts > kMaxKeyParts ? key.substr(0, cut) + "..." : key;
  if (const std::string e = key_limit_error(shown, parts, static_cast<int64_t>(key.size()));
      !e.empty()) {
    throw InputError(origin, 0, e);
  }
  if (key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos) {
    throw InputError(origin, 0, "expected a dotted key such as scheduler.max_num_seqs");
  }
  if (value.find_first_of("\r\n") != std::string::npos) {
    throw InputError(origin, 0, "a line break in the value, expected one value on one line");
  }
  toml::table* table = &root;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    const std::string part = key.substr(start, dot - start);
    toml::node* node = table->get(part);
    if (!node) {
      table->insert(part, toml::table{});
      node = table->get(part);
      ctx.overrides.emplace(key.substr(0, dot), origin);  // errors about this table name it
    }
    if (!node->is_table()) throw InputError(origin, 0, cat(key.substr(0, dot), " is not a table"));
    table = node->as_table();
    start = dot + 1;
  }
  const std::string leaf = key.substr(start);
  const auto set = [&](auto&& v) {
    table->insert_or_assign(leaf, std::forward<decltype(v)>(v));
    ctx.overrides[key] = origin;
    // A model is a preset or a config.json: setting one replaces the other.
    if (key == "model.config" || key == "model.preset") {
      table->erase(key == "model.config" ? "preset" : "config");
    }
  };
  std::string not_toml;  // why the value is not one TOML value
  try {
    const std::string ascii = ascii_toml("v = " + value, "v");
    toml::table parsed = toml::parse(ascii);
    toml::node* node = parsed.get("v");
    const auto after = static_cast<size_t>(node->source().end.column) - 1;
    const size_t rest = ascii.find_first_not_of(" \t", std::min(after, ascii.size()));
    if (rest != std::string::npos) {
      throw InputError(origin, 0,
                       ascii[rest] == '#' ? "a comment after the value, expected the value alone"
                                          : "text after the value, expected the value alone");
    }
    set(std::move(*node));
    return;
  } catch (const toml::parse_error& e) {
    not_toml = std::string(e.description());
  } catch (const InputError& e) {
    if (e.file() != "v") throw;
    const std::string what = e.what();
    not_toml = what.substr(std::min(what.find(": ") + 2, what.size()));
  }
  if (looks_like_toml(value)) {
    throw InputError(origin, 0,
                     cat("malformed value (", not_toml,
                         "), expected one TOML value such as 16, 0.5, true, \"text\" or [1, 2]"));
  }
  set(value);  // a word: text
}

struct LengthKeys {
  const KeySpec &distribution, &value, &min, &max, &exponent, &long_min, &long_max, &long_fraction;
};

#define TINYSERVE_LENGTH_KEYS_OF(part)                                              \
  LengthKeys {                                                                      \
    keys::k_##part##_distribution, keys::k_##part##_value, keys::k_##part##_min,    \
        keys::k_##part##_max, keys::k_##part##_exponent, keys::k_##part##_long_min, \
        keys::k_##part##_long_max, keys::k_##part##_long_fraction                   \
  }

LengthDist read_length(Reader r, const LengthKeys& k) {
  LengthDist d;
  const std::string kind = r.choice(k.distribution);
  if (kind == "fixed") {
    d.kind = LengthKind::kFixed;
    d.value = r.int32(k.value);
  } else if (kind == "uniform" || kind == "zipf") {
    d.kind = kind == "zipf" ? LengthKind::kZipf : LengthKind::kUniform;
    d.min = r.int32(k.min);
    d.max = r.int32(k.max);
    if (d.max < d.min) r.fail(k.max, cat("expected max >= min (", d.min, "), found ", d.max));
    if (kind == "zipf") d.zipf_exponent = r.number(k.exponent);
  } else {
    d.kind = LengthKind::kMix;
    const LengthDist mix = seed_mix();
    d.min = r.int32(k.min, mix.min);
    d.max = r.int32(k.max, mix.max);
    d.long_min = r.int32(k.long_min, mix.long_min);
    d.long_max = r.int32(k.long_max, mix.long_max);
    d.long_fraction = r.number(k.long_fraction, mix.long_fraction);
    if (d.max < d.min || d.long_max < d.long_min) {
      r.fail(k.max, "expected max >= min and long_max >= long_min");
    }
  }
  r.reject_unknown();
  return d;
}

DType read_dtype(const std::string& name) {
  DType d = DType::kBF16;
  const bool known = parse_dtype(name, d);
  assert(known);
  (void)known;
  return d;
}

// [model]: a preset or a config.json, its context limit and dtype.
void read_model(Reader model, Scenario& sc) {
  const bool has_preset = model.has(keys::kModelPreset), has_config = model.has(keys::kModelConfig);
  if (has_preset && has_config) {
    model.fail(keys::kModelConfig, "expected either preset or config, not both");
  }
  if (has_config) {
    sc.model = load_hf_config(model.path(keys::kModelConfig));
  } else {
    try {
      sc.model = find_model(model.string(keys::kModelPreset));
    } catch (const InputError& e) {
      model.fail(keys::kModelPreset, e.what());
    }
  }
  const std::string dtype = model.choice(keys::kModelDtype);
  if (dtype != "auto") {
    sc.model.dtype = read_dtype(dtype);
    if (!is_fp8(sc.model.weight_dtype)) sc.model.weight_dtype = sc.model.dtype;
  }
  if (sc.model.max_model_len == 0 && !model.has(keys::kMaxModelLen)) {
    model.fail(keys::kMaxModelLen, cat("expected a value: ", sc.model.name,
                                       "'s config.json gives no max_position_embeddings"));
  }
  sc.model.max_model_len = model.int32(keys::kMaxModelLen, sc.model.max_model_len);
  if (sc.model.sliding_window > 0 && sc.model.sliding_window < sc.model.max_model_len) {
    model.fail(keys::kMaxModelLen,
               cat(sc.model.max_model_len, " tokens, but ", sc.model.name,
                   "'s config.json sets sliding_window = ", sc.model.sliding_window,
                   ": sliding-window attention is not modelled; expected model.max_model_len <= ",
                   sc.model.sliding_window));
  }
  model.reject_unknown();
}

// [hardware]: a preset or custom GPU, with any of its figures replaced.
void read_gpu(Reader& hw, Scenario& sc) {
  const std::string name = hw.string(keys::kGpu);
  const bool custom = ascii_lower(name) == "custom";
  if (custom) {
    for (const KeySpec* k : {&keys::kGpuMemory, &keys::kGpuBandwidth, &keys::kGpuFlops}) {
      if (!hw.has(*k)) hw.fail(*k, "expected a value for a custom GPU (hardware.gpu = \"custom\")");
    }
    sc.gpu = GpuSpec{};
    sc.gpu.name = "custom";
  } else {
    try {
      sc.gpu = find_gpu(name);
    } catch (const InputError& e) {
      hw.fail(keys::kGpu, e.what());
    }
  }
  bool modified = false;
  auto figure = [&](const KeySpec& k, double& field, double unit) {
    if (!hw.has(k)) return;
    field = hw.number(k) * unit;
    modified = true;
  };
  double memory = static_cast<double>(sc.gpu.memory_bytes);
  figure(keys::kGpuMemory, memory, 1073741824.0);
  sc.gpu.memory_bytes = static_cast<int64_t>(memory);
  figure(keys::kGpuBandwidth, sc.gpu.memory_bandwidth, 1e9);
  figure(keys::kGpuFlops, sc.gpu.fp16_flops, 1e12);
  figure(keys::kGpuPcie, sc.gpu.pcie_bandwidth, 1e9);
  if (modified && !custom) sc.gpu.name += " (modified)";
}

// Profiles read once per process (the GUI and the fuzzers load scenarios over and over), keyed
// by path and modification time.
std::shared_ptr<const GpuProfile> cached_profile(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const GpuProfile>> cache;
  std::error_code ec;
  const auto stamp = fs::last_write_time(path, ec);
  const std::string key = cat(path, '@', ec ? 0 : stamp.time_since_epoch().count());
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (const auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto profile = std::make_shared<const GpuProfile>(read_gpu_profile(path));
  const std::lock_guard<std::mutex> lock(mutex);
  return cache.emplace(key, std::move(profile)).first->second;
}

// cost.profile: "none", "auto" (the GPU preset's profile under assets/gpu_profiles, looked for
// beside the scenario's folder, then in the source tree) or a path.
std::shared_ptr<const GpuProfile> read_profile(Reader& cost, const GpuSpec& gpu) {
  const std::string value = cost.string(keys::kProfile);
  if (value == "none") return nullptr;
  std::string path;
  if (value == "auto") {
    const fs::path file = ascii_lower(gpu.name) + ".toml";
    std::vector<fs::path> dirs = {fs::path(cost.file()).parent_path() / ".." / "assets" /
                                  "gpu_profiles"};
#ifdef TINYSERVE_SOURCE_DIR
    dirs.push_back(fs::path(TINYSERVE_SOURCE_DIR) / "assets" / "gpu_profiles");
#endif
    std::error_code ec;
    for (const fs::path& dir : dirs) {
      if (fs::is_regular_file(dir / file, ec)) {
        path = (dir / file).lexically_normal().string();
        break;
      }
    }
    if (path.empty()) return nullptr;
  } else {
    path = cost.path(keys::kProfile);
    if (path.empty()) cost.fail(keys::kProfile, "expected auto, none or a profile's path");
  }
  try {
    return cached_profile(path);
  } catch (const InputError& e) {
    cost.fail(keys::kProfile, e.what());
  }
}

}  // namespace

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_scenario(read_file(path), path, overrides);
}

Scenario parse_scenario(const std::string& text, const std::string& path,
                        const std::vector<std::string>& overrides) {
  Context ctx{path, {}};
  toml::table root = parse_text(text, path);
  for (const std::string& o : overrides) apply_override(root, o, ctx);

  Scenario sc;
  sc.path = path;
  Reader top(&root, "", ctx);
  sc.name = top.string(keys::kName);
  if (sc.name.empty()) top.fail(keys::kName, "expected a non-empty string naming the scenario");
  sc.description = top.string(keys::kDescription);
  if (sc.description.empty()) top.fail(keys::kDescription, "expected a one-line description");
  sc.seed = static_cast<uint64_t>(top.integer(keys::kSeed));

  read_model(top.table("model"), sc);
  const ModelSpec& m = sc.model;

  // The semantics first: the cache's defaults depend on it.
  Reader sched = top.table("scheduler");
  SchedulerConfig& s = sc.engine.scheduler;
  s.semantics = sched.named<Semantics>(keys::kSemantics, kSemanticsNames);
  const bool v1 = s.semantics == Semantics::kVllmV1;

  // [cache]
  Reader cache = top.table("cache");
  const bool paged = cache.choice(keys::kAllocator) == "paged";
  const auto reservation = cache.named<Reservation>(keys::kReservation, kReservationNames);
  const int32_t block_size = cache.int32(keys::kBlockSize);
  const std::string kv_dtype = cache.choice(keys::kKvDtype);
  const auto free_list = *parse_named<FreeListPolicy>(
      kFreeListPolicyNames, cache.choice(keys::kFreeList, v1 ? "lru" : "lifo"));
  const bool prefix = cache.boolean(keys::kPrefixCaching);
  const double watermark = cache.number(keys::kWatermark, v1 ? 0.0 : 0.01);
  if (v1 && !paged) {
    cache.fail(keys::kAllocator,
               "\"contiguous\", but vllm-v1 semantics allocate paged blocks chunk by chunk; "
               "contiguous baselines run under scheduler.semantics = \"vllm-v0\"");
  }
  if (!paged && prefix) {
    cache.fail(
        keys::kPrefixCaching,
        "true, but the contiguous allocator (cache.allocator = \"contiguous\") has no prefix "
        "cache");
  }
  cache.reject_unknown();

  // [hardware]
  Reader hw = top.table("hardware");
  read_gpu(hw, sc);
  sc.num_gpus = hw.int32(keys::kNumGpus);
  sc.gpu_memory_utilization = hw.number(keys::kGpuUtil);
  const int64_t fixed_blocks = hw.integer(keys::kNumGpuBlocks);
  const double swap_gib = hw.number(keys::kSwapSpace);
  hw.reject_unknown();

  // [scheduler]
  s.async_scheduling = sched.boolean(keys::kAsyncScheduling);
  s.max_num_seqs = sched.int32(keys::kMaxNumSeqs);
  s.max_num_batched_tokens = sched.int32(keys::kMaxBatchedTokens);
  s.chunked_prefill = sched.boolean(keys::kChunkedPrefill);
  s.preemption = sched.named<PreemptionMode>(keys::kPreemption, kPreemptionModeNames);
  s.victim = sched.named<VictimPolicy>(keys::kVictim, kVictimPolicyNames);
  if (s.max_num_batched_tokens < s.max_num_seqs) {
    sched.fail(keys::kMaxBatchedTokens,
               cat("expected >= max_num_seqs (", s.max_num_seqs,
                   ") so every running sequence can decode, found ", s.max_num_batched_tokens));
  }
  if (!s.chunked_prefill && s.max_num_batched_tokens < m.max_model_len) {
    sched.fail(keys::kMaxBatchedTokens,
               cat("expected >= model.max_model_len (", m.max_model_len,
                   ") without chunked prefill, found ", s.max_num_batched_tokens));
  }
  if (v1 && s.preemption == PreemptionMode::kSwap) {
    sched.fail(keys::kPreemption,
               "\"swap\", but vllm-v1 semantics recompute (vLLM 0.33 has no swap); swapping runs "
               "under scheduler.semantics = \"vllm-v0\"");
  }
  if (v1 && s.victim != VictimPolicy::kNewest) {
    sched.fail(keys::kVictim,
               "\"lowest-priority\", but vllm-v1 semantics preempt the newest request (vLLM's "
               "FCFS policy); priorities run under scheduler.semantics = \"vllm-v0\"");
  }
  if (!v1 && s.async_scheduling) {
    sched.fail(keys::kAsyncScheduling, "true, but asynchronous scheduling is vllm-v1's");
  }
  if (!paged && s.preemption == PreemptionMode::kSwap) {
    sched.fail(keys::kPreemption,
               "\"swap\", but the contiguous allocator (cache.allocator = \"contiguous\") cannot "
               "swap; expected \"recompute\"");
  }
  sched.reject_unknown();

  // [workload]
  Reader wl = top.table("workload");
  const std::string source = wl.choice(keys::kSource);
  WorkloadConfig& w = sc.workload;
  w.num_requests = wl.int32(keys::kNumRequests, source == "synthetic" ? 200 : 0);
  w.n = wl.int32(keys::kSamples);
  w.beam_width = wl.int32(keys::kBeamWidth);
  if (w.n > 1 && w.beam_width > 1) wl.fail(keys::kBeamWidth, "expected n = 1 with beam search");
  if (v1 && w.beam_width > 1) {
    wl.fail(keys::kBeamWidth, cat(w.beam_width,
                                  ", but vllm-v1 semantics have no beam search (vLLM 0.33 runs it "
                                  "outside the engine); beams fork with copy-on-write under "
                                  "scheduler.semantics = \"vllm-v0\""));
  }
  w.num_priorities = wl.int32(keys::kPriorities);
  // A load knob for every arrival process: multiplies the arrival rate (divides trace time).
  const double rate_scale = wl.number(keys::kRateScale);
  if (source == "synthetic") {
    sc.source = WorkloadSource::kSynthetic;
    if (w.num_requests < 1) wl.fail(keys::kNumRequests, "expected at least 1 request");
    Reader arrival = wl.table("arrival");
    const std::string process = arrival.choice(keys::kArrival);
    w.arrival.kind = process == "poisson" ? ArrivalKind::kPoisson
                     : process == "gamma" ? ArrivalKind::kGamma
                                          : ArrivalKind::kAllAtOnce;
    w.arrival.rate = arrival.number(keys::kArrivalRate) * rate_scale;
    if (rate_scale != 1.0 && w.arrival.kind == ArrivalKind::kAllAtOnce) {
      wl.fail(keys::kRateScale, "all-at-once arrivals have no rate to scale");
    }
    w.arrival.shape = arrival.number(keys::kArrivalShape);
    arrival.reject_unknown();
    w.prompt_len = read_length(wl.table("prompt"), TINYSERVE_LENGTH_KEYS_OF(prompt));
    w.output_len = read_length(wl.table("output"), TINYSERVE_LENGTH_KEYS_OF(output));
    Reader sys = wl.table("system_prompt");
    w.system_prompt.length = sys.int32(keys::kSystemLength);
    w.system_prompt.count = sys.int32(keys::kSystemCount);
    sys.reject_unknown();
    if (const std::string e = workload_error(w, "prompt", "output"); !e.empty()) {
      throw InputError(path, 0, "workload." + e);
    }
  } else {
    sc.source = source == "azure"      ? WorkloadSource::kAzure
                : source == "mooncake" ? WorkloadSource::kMooncake
                                       : WorkloadSource::kRequests;
    sc.trace_path = wl.path(keys::kTrace);
    if (sc.trace_path.empty()) wl.fail(keys::kTrace, "expected the path of the trace file");
    sc.trace.max_requests = w.num_requests;
    sc.trace.time_scale = wl.number(keys::kTimeScale) / rate_scale;
  }
  wl.reject_unknown();

  // [engine]
  Reader eng = top.table("engine");
  sc.backend = eng.choice(keys::kBackend);
  sc.kernel = eng.choice(keys::kKernel);
  sc.engine.clock = eng.named<ClockMode>(keys::kClock, kClockModeNames);
  if (s.async_scheduling && sc.backend != "accounting") {
    eng.fail(keys::kBackend, cat("\"", sc.backend,
                                 "\", but asynchronous scheduling (scheduler.async_scheduling) "
                                 "is modelled with the accounting backend only"));
  }
  const int32_t gpu_layers = eng.int32(keys::kGpuLayers);
  if (gpu_layers > std::max(m.num_layers, 1)) {
    eng.fail(keys::kGpuLayers,
             cat("expected at most the model's ", m.num_layers, " layers, found ", gpu_layers));
  }
  sc.engine.max_steps = eng.integer(keys::kMaxSteps);
  sc.engine.check_invariants = eng.boolean(keys::kCheckInvariants);
  eng.reject_unknown();

  // [attention]: query-aware block selection for the decodes, the executed K/V's pattern.
  Reader att = top.table("attention");
  const bool structured_kv = att.choice(keys::kKvPattern) == "structured";
  Reader sel = att.table("selection");
  SelectionSettings& selection = sc.engine.selection;
  selection.budget_tokens = sel.int32(keys::kSelectionBudgetTokens);
  selection.budget_ratio = static_cast<float>(sel.number(keys::kSelectionBudgetRatio));
  selection.group_score =
      sel.choice(keys::kSelectionGroupScore) == "sum" ? GroupScore::kSum : GroupScore::kMax;
  sel.reject_unknown();
  att.reject_unknown();
  if (selection.budget_tokens > 0 && selection.budget_ratio > 0.0f) {
    sel.fail(keys::kSelectionBudgetRatio, "expected budget_tokens or budget_ratio, not both");
  }
  if (selection.enabled() && !paged) {
    sel.fail(
        selection.budget_tokens > 0 ? keys::kSelectionBudgetTokens : keys::kSelectionBudgetRatio,
        "selection reads blocks of a paged cache, but cache.allocator = \"contiguous\"");
  }

  // [metrics]: the fragmentation formula's parameters (docs/metrics.md).
  Reader met = top.table("metrics");
  FragmentationParams& f = sc.engine.fragmentation;
  f.a = met.number(keys::kFragA);
  f.b = met.number(keys::kFragB);
  f.c = met.number(keys::kFragC);
  f.sigma = met.number(keys::kSigma);
  f.temporal_decay = met.number(keys::kTemporalDecay);
  f.gpu_latency = met.number(keys::kGpuLatency);
  f.cpu_latency = met.number(keys::kCpuLatency);
  met.reject_unknown();

  // [cost]: the roofline's efficiencies, or a measured GPU profile.
  Reader cost = top.table("cost");
  CostModel& cm = sc.engine.cost;
  cm.mem_efficiency = cost.number(keys::kMemEfficiency);
  cm.compute_efficiency = cost.number(keys::kComputeEfficiency);
  cm.step_overhead_s = cost.number(keys::kStepOverhead) * 1e-3;
  cm.profile = read_profile(cost, sc.gpu);
  cost.reject_unknown();
  top.reject_unknown();

  // The geometry, resolved once: everything downstream reads sc.engine.geometry.
  KvGeometry& g = sc.engine.geometry;
  g.model_layers = std::max(m.num_layers, 1);
  g.num_layers = gpu_layers;
  g.num_heads = m.num_heads;
  g.num_kv_heads = m.num_kv_heads;
  g.head_dim = m.head_dim;
  g.kv_latent_dim = m.is_mla() ? m.kv_lora_rank + m.qk_rope_head_dim : 0;
  g.dtype = kv_dtype == "auto" ? m.dtype : read_dtype(kv_dtype);
  g.block_size = block_size;
  g.seed = sc.seed;
  g.synthetic = structured_kv ? SyntheticPattern::kStructured : SyntheticPattern::kUniform;
  g.key_bounds = selection.enabled();
  if (selection.enabled()) {
    const KeySpec& budget =
        selection.budget_tokens > 0 ? keys::kSelectionBudgetTokens : keys::kSelectionBudgetRatio;
    if (is_fp8(g.dtype)) {
      sel.fail(budget, cat("selection's key bounds of ", dtype_name(g.dtype),
                           " caches are not supported yet; use cache.kv_dtype fp16 or bf16"));
    }
    if (g.kv_latent_dim > 0) {
      sel.fail(budget,
               "selection scores per-KV-head key bounds; MLA caches (a latent vector "
               "per token) have none");
    }
  }
  int64_t gpu_blocks = fixed_blocks;
  if (gpu_blocks == 0) {
    try {
      gpu_blocks =
          kv_capacity(m, sc.gpu, block_size, sc.gpu_memory_utilization, sc.num_gpus, g.dtype)
              .num_blocks;
    } catch (const InputError& e) {
      throw InputError(path, 0, cat("hardware: ", e.what()));
    }
    if (gpu_blocks > static_cast<int64_t>(keys::kMaxBlocks)) {
      throw InputError(path, 0,
                       cat("hardware: the KV cache would hold ", gpu_blocks,
                           " blocks, more than the simulator's limit of ",
                           static_cast<int64_t>(keys::kMaxBlocks),
                           "; set hardware.num_gpu_blocks or a larger cache.block_size"));
    }
  }
  const auto block_bytes = static_cast<double>(g.model_block_bytes());
  const int64_t cpu_blocks =
      block_bytes > 0 ? static_cast<int64_t>(swap_gib * 1073741824.0 / block_bytes) : 0;
  g.num_gpu_blocks = static_cast<int32_t>(gpu_blocks);
  g.num_cpu_blocks =
      static_cast<int32_t>(std::min(cpu_blocks, static_cast<int64_t>(keys::kMaxBlocks)));
  // As vLLM at start-up: the pool must hold one request of the longest length served (vLLM counts
  // the null block in, so under vllm-v1 such a request would find one block short).
  const int64_t needed = (int64_t{m.max_model_len} + block_size - 1) / block_size;
  if (needed > gpu_blocks) {
    throw InputError(path, 0,
                     cat("the KV pool (", gpu_blocks, " blocks of ", block_size,
                         " tokens) cannot hold one request of model.max_model_len = ",
                         m.max_model_len, " tokens (", needed,
                         " blocks), as vLLM refuses to start; lower model.max_model_len or give "
                         "the pool more memory or blocks"));
  }

  // The engine's configuration.
  EngineConfig& e = sc.engine;
  e.name = sc.name;
  e.seed = sc.seed;
  e.max_model_len = m.max_model_len;
  if (paged) {
    e.allocator = PagedOptions{free_list, prefix, watermark};
  } else {
    e.allocator = ContiguousOptions{reservation, watermark};
  }
  const double gpus = sc.num_gpus;
  cm.weight_bytes = static_cast<double>(m.weight_bytes());
  cm.flops_per_token = 2.0 * static_cast<double>(m.active_params);
  cm.attention_flops_per_pair = m.attention_flops_per_pair();
  cm.mem_bandwidth = sc.gpu.memory_bandwidth * gpus;
  cm.peak_flops = sc.gpu.fp16_flops * gpus;
  cm.pcie_bandwidth = sc.gpu.pcie_bandwidth * gpus;
  cm.shapes = model_shapes(m, sc.num_gpus);
  cm.num_gpus = sc.num_gpus;
  return sc;
}

std::vector<RequestSpec> load_requests(const Scenario& sc, TraceStats* stats) {
  std::vector<RequestSpec> requests;
  switch (sc.source) {
    case WorkloadSource::kSynthetic:
      requests = generate_workload(sc.workload, sc.seed);
      break;
    case WorkloadSource::kAzure:
      requests = read_azure_trace(sc.trace_path, sc.trace, stats);
      break;
    case WorkloadSource::kMooncake:
      requests = read_mooncake_trace(sc.trace_path, sc.trace, stats);
      break;
    case WorkloadSource::kRequests:
      return read_request_file(sc.trace_path, sc.trace.max_requests);
  }
  if (sc.source != WorkloadSource::kSynthetic) {
    for (RequestSpec& r : requests) {
      r.n = sc.workload.n;
      r.beam_width = sc.workload.beam_width;
    }
  }
  return requests;
}

namespace {

std::vector<fs::path> scenario_dirs(const std::string& executable_dir) {
  std::vector<fs::path> dirs = {"scenarios"};
  if (!executable_dir.empty()) {
    dirs.push_back(fs::path(executable_dir) / ".." / ".." / "scenarios");
    dirs.push_back(fs::path(executable_dir) / ".." / "scenarios");
  }
#ifdef TINYSERVE_SOURCE_DIR
  dirs.push_back(fs::path(TINYSERVE_SOURCE_DIR) / "scenarios");
#endif
  return dirs;
}

}  // namespace

std::string find_scenario(const std::string& name_or_path, const std::string& executable_dir) {
  std::error_code ec;
  // A path (a separator or .toml in it) is taken as it is: load_scenario reports why it cannot be
  // opened. Anything else is a scenario name, whatever exists in the current directory.
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".toml")) {
    return name_or_path;
  }
  std::set<std::string> looked;
  for (const fs::path& dir : scenario_dirs(executable_dir)) {
    const fs::path candidate = (dir / (name_or_path + ".toml")).lexically_normal();
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
    looked.insert(fs::weakly_canonical(candidate, ec).string());
  }
  std::string where;
  for (const std::string& l : looked) where += (where.empty() ? "" : ", ") + l;
  throw InputError(
      name_or_path, 0,
      cat("no such scenario (looked for ", where, "); `tinyserve scenarios` lists them"));
}

std::vector<std::string> list_scenarios(const std::string& executable_dir) {
  std::error_code ec;
  for (const fs::path& dir : scenario_dirs(executable_dir)) {
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".toml")
        files.push_back(entry.path().lexically_normal().string());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) return files;
  }
  return {};
}

}  // namespace tinyserve
