#include "core/config/scenario.h"

#define TOML_HEADER_ONLY 1
// toml++ asserts in debug builds on conditions it goes on to report as parse errors (fuzzing hit
// one on a NUL byte in a key): let the errors through as they are in release builds.
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/toml_text.h"

namespace tinyserve {

namespace fs = std::filesystem;

namespace {

struct Context {
  std::string file;
  std::map<std::string, std::string> overrides;  // dotted key -> "--set key=value"
};

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

// Reads one table, tracking the keys it consumed so that unknown ones can be reported.
class Reader {
 public:
  Reader(const toml::table* table, std::string prefix, const Context& ctx)
      : table_(table), prefix_(std::move(prefix)), ctx_(ctx) {}

  bool has(std::string_view key) const { return table_ && table_->contains(key); }

  int64_t integer(std::string_view key, int64_t def, int64_t lo, int64_t hi) {
    const toml::node* node = get(key);
    if (!node) return def;
    const auto v = node->value_exact<int64_t>();
    if (!v) fail(node, key, cat("expected an integer, found ", type_name(*node)));
    if (*v < lo || *v > hi) {
      fail(node, key, cat("expected an integer in [", lo, ", ", hi, "], found ", *v));
    }
    return *v;
  }

  int32_t int32(std::string_view key, int64_t def, int64_t lo, int64_t hi) {
    return static_cast<int32_t>(integer(key, def, lo, std::min<int64_t>(hi, INT32_MAX)));
  }

  double number(std::string_view key, double def, double lo, double hi) {
    const toml::node* node = get(key);
    if (!node) return def;
    std::optional<double> v;
    if (node->is_integer()) v = static_cast<double>(*node->value<int64_t>());
    if (node->is_floating_point()) v = *node->value<double>();
    if (!v) fail(node, key, cat("expected a number, found ", type_name(*node)));
    if (!(*v >= lo && *v <= hi)) fail(node, key, cat("expected a number in [", lo, ", ", hi, "], found ", *v));
    return *v;
  }

  bool boolean(std::string_view key, bool def) {
    const toml::node* node = get(key);
    if (!node) return def;
    if (!node->is_boolean()) fail(node, key, cat("expected true or false, found ", type_name(*node)));
    return *node->value<bool>();
  }

  std::string string(std::string_view key, const std::string& def) {
    const toml::node* node = get(key);
    if (!node) return def;
    if (!node->is_string()) fail(node, key, cat("expected a string, found ", type_name(*node)));
    return *node->value<std::string>();
  }

  std::string choice(std::string_view key, const std::string& def,
                     std::initializer_list<std::string_view> allowed) {
    const toml::node* node = get(key);
    const std::string v = string(key, def);
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(node, key, cat("expected one of ", list, ", found \"", v, "\""));
    }
    return v;
  }

  Reader table(std::string_view key) {
    const toml::node* node = get(key);
    if (node && !node->is_table()) fail(node, key, cat("expected a table, found ", type_name(*node)));
    return Reader(node ? node->as_table() : nullptr, path(key), ctx_);
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

  void expect(std::string_view key, const std::vector<std::string_view>& known) {
    for (std::string_view k : known) read_.insert(std::string(k));
    (void)key;
  }

  [[noreturn]] void fail(const toml::node* node, std::string_view key, const std::string& what) const {
    const std::string full = path(key);
    if (const auto it = ctx_.overrides.find(full); it != ctx_.overrides.end()) {
      throw InputError(it->second, 0, what);
    }
    const int64_t line = node ? static_cast<int64_t>(node->source().begin.line) : 0;
    throw InputError(ctx_.file, line, full + ": " + what);
  }

 private:
  const toml::node* get(std::string_view key) {
    read_.insert(std::string(key));
    return table_ ? table_->get(key) : nullptr;
  }
  std::string path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }

  const toml::table* table_;
  std::string prefix_;
  const Context& ctx_;
  std::set<std::string> read_;
};

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path, 0, "is a directory, expected a scenario .toml file");
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
  const std::string ascii = ascii_toml(text, path);  // toml++ sees ASCII only: core/text/toml_text.h
  try {
    return toml::parse(ascii, path);
  } catch (const toml::parse_error& e) {
    throw InputError(path, static_cast<int64_t>(e.source().begin.line),
                     cat("malformed TOML: ", e.description()));
  }
}

void apply_override(toml::table& root, const std::string& text, Context& ctx) {
  const std::string origin = "--set " + text;
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(origin, 0, "expected key=value");
  const std::string key = text.substr(0, eq);
  const std::string value = text.substr(eq + 1);
  if (key.front() == '.' || key.back() == '.' || key.find("..") != std::string::npos) {
    throw InputError(origin, 0, "expected a dotted key such as scheduler.max_num_seqs");
  }
  toml::table* table = &root;
  size_t start = 0;
  for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', start)) {
    const std::string part = key.substr(start, dot - start);
    toml::node* node = table->get(part);
    if (!node) {
      table->insert(part, toml::table{});
      node = table->get(part);
    }
    if (!node->is_table()) throw InputError(origin, 0, cat(key.substr(0, dot), " is not a table"));
    table = node->as_table();
    start = dot + 1;
  }
  const std::string leaf = key.substr(start);
  // The value in TOML syntax (42, 0.5, true, "text", [1, 2]); a bare word is a string, and so is
  // non-ASCII text outside quotes (core/text/toml_text.h).
  try {
    toml::table parsed = toml::parse(ascii_toml("v = " + value, origin));
    table->insert_or_assign(leaf, std::move(*parsed.get("v")));
  } catch (const toml::parse_error&) {
    table->insert_or_assign(leaf, value);
  } catch (const InputError&) {
    table->insert_or_assign(leaf, value);
  }
  ctx.overrides[key] = origin;
}

LengthDist read_length(Reader r, const LengthDist& def) {
  LengthDist d = def;
  const std::string kind = r.choice("distribution", def.kind == LengthKind::kFixed ? "fixed"
                                                    : def.kind == LengthKind::kUniform ? "uniform"
                                                    : def.kind == LengthKind::kZipf ? "zipf"
                                                                                     : "seed-mix",
                                    {"fixed", "uniform", "zipf", "seed-mix"});
  constexpr int64_t kMaxTokens = 10'000'000;
  if (kind == "fixed") {
    d.kind = LengthKind::kFixed;
    d.value = r.int32("value", d.value, 1, kMaxTokens);
  } else if (kind == "uniform" || kind == "zipf") {
    d.kind = kind == "zipf" ? LengthKind::kZipf : LengthKind::kUniform;
    d.min = r.int32("min", d.min, 1, kMaxTokens);
    d.max = r.int32("max", d.max, 1, kMaxTokens);
    if (d.max < d.min) r.fail(nullptr, "max", cat("expected max >= min (", d.min, "), found ", d.max));
    if (kind == "zipf") d.zipf_exponent = r.number("exponent", d.zipf_exponent, 0.0, 100.0);
  } else {
    d.kind = LengthKind::kMix;
    const LengthDist mix = seed_mix();
    d.min = r.int32("min", mix.min, 1, kMaxTokens);
    d.max = r.int32("max", mix.max, 1, kMaxTokens);
    d.long_min = r.int32("long_min", mix.long_min, 1, kMaxTokens);
    d.long_max = r.int32("long_max", mix.long_max, 1, kMaxTokens);
    d.long_fraction = r.number("long_fraction", mix.long_fraction, 0.0, 1.0);
    if (d.max < d.min || d.long_max < d.long_min) r.fail(nullptr, "max", "expected max >= min and long_max >= long_min");
  }
  r.reject_unknown();
  return d;
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
  sc.name = top.string("name", "");
  if (sc.name.empty()) top.fail(root.get("name"), "name", "expected a non-empty string naming the scenario");
  sc.description = top.string("description", "");
  if (sc.description.empty()) top.fail(root.get("description"), "description", "expected a one-line description");
  sc.seed = static_cast<uint64_t>(top.integer("seed", 0, 0, INT64_MAX));

  // [model]
  Reader model = top.table("model");
  const bool has_preset = model.has("preset"), has_config = model.has("config");
  if (has_preset && has_config) model.fail(nullptr, "config", "expected either preset or config, not both");
  if (has_config) {
    fs::path config = model.string("config", "");
    if (config.is_relative()) config = fs::path(path).parent_path() / config;
    sc.model = load_hf_config(config.string());
  } else {
    const std::string preset = model.string("preset", "llama-3-8b");
    try {
      sc.model = find_model(preset);
    } catch (const InputError& e) {
      model.fail(nullptr, "preset", e.what());
    }
  }
  sc.model.max_model_len = model.int32("max_model_len", sc.model.max_model_len, 1, 10'000'000);
  model.reject_unknown();

  // [cache]
  Reader cache = top.table("cache");
  const std::string allocator = cache.choice("allocator", "paged", {"paged", "contiguous"});
  const std::string reservation = cache.choice("reservation", "max-length", {"max-length", "power-of-two", "exact"});
  const int32_t block_size = cache.int32("block_size", 16, 1, 1024);
  const std::string policy = cache.choice("free_list", "lifo", {"lifo", "fifo", "lru", "best-fit", "random"});
  const bool prefix = cache.boolean("prefix_caching", false);
  const double watermark = cache.number("watermark", 0.01, 0.0, 0.5);
  cache.reject_unknown();

  // [hardware]
  Reader hw = top.table("hardware");
  try {
    sc.gpu = find_gpu(hw.string("gpu", "a100-80gb"));
  } catch (const InputError& e) {
    hw.fail(nullptr, "gpu", e.what());
  }
  sc.num_gpus = hw.int32("num_gpus", 1, 1, 64);
  sc.gpu_memory_utilization = hw.number("gpu_memory_utilization", 0.9, 0.01, 1.0);
  constexpr int64_t kMaxBlocks = 50'000'000;
  const int64_t fixed_blocks = hw.integer("num_gpu_blocks", 0, 0, kMaxBlocks);
  const double swap_gib = hw.number("swap_space_gib", 4.0, 0.0, 4096.0);
  hw.reject_unknown();
  const int64_t block_bytes = sc.model.bytes_per_token() * block_size;
  if (fixed_blocks > 0) {
    sc.num_gpu_blocks = fixed_blocks;
  } else {
    try {
      sc.num_gpu_blocks = kv_capacity(sc.model, sc.gpu, block_size, sc.gpu_memory_utilization, sc.num_gpus).num_blocks;
    } catch (const InputError& e) {
      throw InputError(path, 0, cat("hardware: ", e.what()));
    }
    if (sc.num_gpu_blocks > kMaxBlocks) {
      throw InputError(path, 0, cat("hardware: the KV cache would hold ", sc.num_gpu_blocks,
                                    " blocks, more than the simulator's limit of ", kMaxBlocks,
                                    "; set hardware.num_gpu_blocks or a larger cache.block_size"));
    }
  }
  sc.num_cpu_blocks = block_bytes > 0 ? static_cast<int64_t>(swap_gib * 1073741824.0 / static_cast<double>(block_bytes)) : 0;
  sc.num_cpu_blocks = std::min(sc.num_cpu_blocks, kMaxBlocks);

  // [scheduler]
  Reader sched = top.table("scheduler");
  SchedulerConfig& s = sc.engine.scheduler;
  s.max_num_seqs = sched.int32("max_num_seqs", 256, 1, 1'000'000);
  s.max_num_batched_tokens = sched.int32("max_num_batched_tokens", 2048, 1, 10'000'000);
  s.chunked_prefill = sched.boolean("chunked_prefill", true);
  s.preemption = *parse_preemption_mode(sched.choice("preemption", "recompute", {"recompute", "swap"}));
  s.victim = *parse_victim_policy(sched.choice("victim", "newest", {"newest", "lowest-priority"}));
  if (s.max_num_batched_tokens < s.max_num_seqs) {
    sched.fail(nullptr, "max_num_batched_tokens", cat("expected >= max_num_seqs (", s.max_num_seqs,
                                                       ") so every running sequence can decode, found ",
                                                       s.max_num_batched_tokens));
  }
  if (!s.chunked_prefill && s.max_num_batched_tokens < sc.model.max_model_len) {
    sched.fail(nullptr, "max_num_batched_tokens",
               cat("expected >= model.max_model_len (", sc.model.max_model_len,
                   ") without chunked prefill, found ", s.max_num_batched_tokens));
  }
  sched.reject_unknown();

  // [workload]
  Reader wl = top.table("workload");
  const std::string source = wl.choice("source", "synthetic", {"synthetic", "azure", "mooncake"});
  WorkloadConfig& w = sc.workload;
  w.num_requests = wl.int32("num_requests", source == "synthetic" ? 200 : 0, 0, 10'000'000);
  w.n = wl.int32("n", 1, 1, 64);
  w.beam_width = wl.int32("beam_width", 1, 1, 64);
  if (w.n > 1 && w.beam_width > 1) wl.fail(nullptr, "beam_width", "expected n = 1 with beam search");
  w.num_priorities = wl.int32("priorities", 1, 1, 1000);
  // A load knob for every arrival process: multiplies the arrival rate (divides trace time).
  const double rate_scale = wl.number("rate_scale", 1.0, 1e-6, 1e6);
  if (source == "synthetic") {
    sc.source = WorkloadSource::kSynthetic;
    if (w.num_requests < 1) wl.fail(nullptr, "num_requests", "expected at least 1 request");
    Reader arrival = wl.table("arrival");
    const std::string process = arrival.choice("process", "all-at-once", {"all-at-once", "poisson", "gamma"});
    w.arrival.kind = process == "poisson" ? ArrivalKind::kPoisson
                     : process == "gamma"  ? ArrivalKind::kGamma
                                           : ArrivalKind::kAllAtOnce;
    w.arrival.rate = arrival.number("rate", 10.0, 1e-9, 1e9) * rate_scale;
    if (rate_scale != 1.0 && w.arrival.kind == ArrivalKind::kAllAtOnce) {
      wl.fail(nullptr, "rate_scale", "all-at-once arrivals have no rate to scale");
    }
    w.arrival.shape = arrival.number("shape", 0.25, 1e-3, 1e3);
    arrival.reject_unknown();
    LengthDist prompt_default;
    prompt_default.kind = LengthKind::kUniform;
    w.prompt_len = read_length(wl.table("prompt"), prompt_default);
    LengthDist output_default;
    output_default.kind = LengthKind::kUniform;
    output_default.min = 16;
    output_default.max = 256;
    w.output_len = read_length(wl.table("output"), output_default);
    Reader sys = wl.table("system_prompt");
    w.system_prompt.length = sys.int32("length", 0, 0, 10'000'000);
    w.system_prompt.count = sys.int32("count", 1, 1, 1'000'000);
    sys.reject_unknown();
    if (const std::string e = workload_error(w, "prompt", "output"); !e.empty()) {
      throw InputError(path, 0, "workload." + e);
    }
  } else {
    sc.source = source == "azure" ? WorkloadSource::kAzure : WorkloadSource::kMooncake;
    fs::path trace = wl.string("trace", "");
    if (trace.empty()) wl.fail(nullptr, "trace", "expected the path of the trace file");
    if (trace.is_relative()) trace = fs::path(path).parent_path() / trace;
    sc.trace_path = trace.lexically_normal().string();
    sc.trace.max_requests = w.num_requests;
    sc.trace.time_scale = wl.number("time_scale", 1.0, 1e-9, 1e9) / rate_scale;
    sc.trace.max_model_len = sc.model.max_model_len;
  }
  wl.reject_unknown();

  // [engine]
  Reader eng = top.table("engine");
  sc.backend = eng.choice("backend", "accounting", {"auto", "cuda", "cpu", "accounting"});
  sc.kernel = eng.choice("kernel", "v5", {"v1", "v2", "v3", "v4", "v5"});
  const std::string dtype = eng.choice("dtype", "fp16", {"fp16", "bf16", "fp32"});
  sc.dtype = dtype == "bf16" ? DType::kBF16 : dtype == "fp32" ? DType::kF32 : DType::kF16;
  const std::string clock = eng.choice("clock", "model", {"model", "measured"});
  sc.engine.clock = clock == "measured" ? ClockMode::kMeasured : ClockMode::kModel;
  sc.engine.gpu_layers = eng.int32("gpu_layers", 1, 1, std::max(sc.model.num_layers, 1));
  sc.engine.max_steps = eng.integer("max_steps", 0, 0, INT64_MAX);
  sc.engine.check_invariants = eng.boolean("check_invariants", false);
  eng.reject_unknown();

  // [metrics]: the fragmentation formula's parameters (docs/metrics.md).
  Reader met = top.table("metrics");
  FragmentationParams& f = sc.engine.fragmentation;
  f.a = met.number("a", f.a, 0.0, 1e6);
  f.b = met.number("b", f.b, 0.0, 1e6);
  f.c = met.number("c", f.c, 0.0, 1e6);
  f.sigma = met.number("sigma", f.sigma, 1e-6, 1e6);
  f.temporal_decay = met.number("temporal_decay", f.temporal_decay, 0.0, 0.999999);
  f.gpu_latency = met.number("gpu_latency", f.gpu_latency, 1e-12, 1e12);
  f.cpu_latency = met.number("cpu_latency", f.cpu_latency, 1e-12, 1e12);
  met.reject_unknown();

  // [cost]: the roofline's efficiencies.
  Reader cost = top.table("cost");
  CostModel& cm = sc.engine.cost;
  cm.mem_efficiency = cost.number("mem_efficiency", cm.mem_efficiency, 0.01, 1.0);
  cm.compute_efficiency = cost.number("compute_efficiency", cm.compute_efficiency, 0.01, 1.0);
  cm.step_overhead_s = cost.number("step_overhead_ms", cm.step_overhead_s * 1e3, 0.0, 1e6) * 1e-3;
  cm.pcie_bandwidth = cost.number("pcie_gb_s", cm.pcie_bandwidth / 1e9, 1e-3, 1e6) * 1e9;
  cost.reject_unknown();
  top.reject_unknown();

  // Resolve the engine's configuration.
  EngineConfig& e = sc.engine;
  e.name = sc.name;
  e.seed = sc.seed;
  e.paged = allocator == "paged";
  e.paged_cache.block_size = block_size;
  e.paged_cache.num_gpu_blocks = static_cast<int32_t>(sc.num_gpu_blocks);
  e.paged_cache.num_cpu_blocks = static_cast<int32_t>(sc.num_cpu_blocks);
  e.paged_cache.policy = *parse_free_list_policy(policy);
  e.paged_cache.enable_prefix_caching = prefix;
  e.paged_cache.watermark = watermark;
  e.paged_cache.seed = sc.seed;
  e.paged_cache.check_invariants = kDebugBuild;
  e.contiguous_cache.block_size = block_size;
  e.contiguous_cache.num_blocks = static_cast<int32_t>(sc.num_gpu_blocks);
  e.contiguous_cache.max_model_len = sc.model.max_model_len;
  e.contiguous_cache.reservation = *parse_reservation(reservation);
  e.contiguous_cache.watermark = watermark;
  e.contiguous_cache.check_invariants = kDebugBuild;
  e.model_layers = std::max(sc.model.num_layers, 1);
  const double gpus = sc.num_gpus;
  cm.weight_bytes = static_cast<double>(sc.model.weight_bytes());
  cm.kv_bytes_per_token = static_cast<double>(sc.model.bytes_per_token());
  cm.flops_per_token = 2.0 * static_cast<double>(sc.model.num_params);
  cm.attention_flops_per_context_token = 4.0 * sc.model.num_layers * sc.model.num_heads * sc.model.head_dim;
  cm.block_bytes = static_cast<double>(block_bytes);
  cm.mem_bandwidth = sc.gpu.memory_bandwidth * gpus;
  cm.peak_flops = sc.gpu.fp16_flops * gpus;
  return sc;
}

std::vector<RequestSpec> load_requests(const Scenario& sc, TraceStats* stats) {
  std::vector<RequestSpec> requests;
  switch (sc.source) {
    case WorkloadSource::kSynthetic: requests = generate_workload(sc.workload, sc.seed); break;
    case WorkloadSource::kAzure: requests = read_azure_trace(sc.trace_path, sc.trace, stats); break;
    case WorkloadSource::kMooncake: requests = read_mooncake_trace(sc.trace_path, sc.trace, stats); break;
  }
  if (sc.source != WorkloadSource::kSynthetic) {
    for (RequestSpec& r : requests) {
      r.n = sc.workload.n;
      r.beam_width = sc.workload.beam_width;
    }
  }
  return requests;
}

KvGeometry kv_geometry(const Scenario& sc) {
  KvGeometry g;
  g.num_layers = sc.engine.gpu_layers;
  g.num_heads = sc.model.num_heads;
  g.num_kv_heads = sc.model.num_kv_heads;
  g.head_dim = sc.model.head_dim;
  g.block_size = sc.engine.paged_cache.block_size;
  g.dtype = sc.dtype;
  g.num_gpu_blocks = static_cast<int32_t>(sc.num_gpu_blocks);
  g.num_cpu_blocks = static_cast<int32_t>(sc.num_cpu_blocks);
  g.seed = sc.seed;
  return g;
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
  if (fs::exists(name_or_path, ec)) return name_or_path;
  if (name_or_path.find('/') != std::string::npos || name_or_path.ends_with(".toml")) {
    return name_or_path;  // a path: load_scenario reports why it cannot be opened
  }
  std::set<std::string> looked;
  for (const fs::path& dir : scenario_dirs(executable_dir)) {
    const fs::path candidate = (dir / (name_or_path + ".toml")).lexically_normal();
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
    looked.insert(fs::weakly_canonical(candidate, ec).string());
  }
  std::string where;
  for (const std::string& l : looked) where += (where.empty() ? "" : ", ") + l;
  throw InputError(name_or_path, 0, cat("no such scenario (looked for ", where,
                                        "); `tinyserve scenarios` lists them"));
}

std::vector<std::string> list_scenarios(const std::string& executable_dir) {
  std::error_code ec;
  for (const fs::path& dir : scenario_dirs(executable_dir)) {
    if (!fs::is_directory(dir, ec)) continue;
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".toml") files.push_back(entry.path().lexically_normal().string());
    }
    std::sort(files.begin(), files.end());
    if (!files.empty()) return files;
  }
  return {};
}

}  // namespace tinyserve
