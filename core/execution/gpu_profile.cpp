#include "core/execution/gpu_profile.h"

#define TOML_HEADER_ONLY 1
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <span>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"
#include "core/text/toml_text.h"

namespace tinyserve {

namespace {

// Piecewise-linear interpolation of ys over increasing xs, clamped to the end values.
double interpolate(std::span<const double> xs, std::span<const double> ys, double x) {
  if (x <= xs.front()) return ys.front();
  if (x >= xs.back()) return ys.back();
  const auto hi = static_cast<size_t>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  const size_t lo = hi - 1;
  const double f = (x - xs[lo]) / (xs[hi] - xs[lo]);
  return ys[lo] + f * (ys[hi] - ys[lo]);
}

double log2d(double x) {
  return std::log2(std::max(x, 1e-300));
}

std::vector<double> log_of(std::span<const int32_t> v) {
  std::vector<double> out;
  out.reserve(v.size());
  for (int32_t x : v) out.push_back(log2d(x));
  return out;
}

// How far two attention shapes are apart; the nearest measured shape stands in for a missing one.
double shape_distance(const AttentionShape& a, const AttentionShape& b) {
  const double group_a = static_cast<double>(a.num_heads) / std::max(a.num_kv_heads, 1);
  const double group_b = static_cast<double>(b.num_heads) / std::max(b.num_kv_heads, 1);
  double d = std::abs(log2d(group_a) - log2d(group_b)) +
             std::abs(log2d(a.head_dim) - log2d(b.head_dim)) +
             0.5 * std::abs(log2d(a.num_kv_heads) - log2d(b.num_kv_heads)) +
             0.1 * std::abs(log2d(a.block_size) - log2d(b.block_size));
  if (dtype_size(a.dtype) != dtype_size(b.dtype)) d += 10;
  if (a.dtype != b.dtype) d += 0.01;
  return d;
}

template <typename Table>
const Table* nearest_table(const std::vector<Table>& tables, const AttentionShape& shape) {
  const Table* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (const Table& t : tables) {
    const double d = t.shape == shape ? -1 : shape_distance(t.shape, shape);
    if (d < best_d) {
      best_d = d;
      best = &t;
    }
  }
  return best;
}

// log2 of tokens per microsecond (decode) or pairs per microsecond (prefill) at x of one row.
double row_log_rate(std::span<const int32_t> xs, std::span<const double> us,
                    std::span<const double> work, double log_x) {
  std::vector<double> lx = log_of(xs), lr(us.size());
  for (size_t i = 0; i < us.size(); ++i) lr[i] = log2d(work[i] / us[i]);
  return interpolate(lx, lr, log_x);
}

}  // namespace

double GpuProfile::gemm_us(DType dtype, double m, int32_t n, int32_t k, int32_t groups) const {
  if (m <= 0 || gemms.empty()) return 0;
  const GemmTable* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (const GemmTable& t : gemms) {
    double d = std::abs(log2d(t.n) - log2d(n)) + std::abs(log2d(t.k) - log2d(k)) +
               std::abs(log2d(t.groups) - log2d(groups)) + ((t.groups > 1) != (groups > 1) ? 4 : 0);
    if (t.dtype != dtype) d += 0.01;
    if (d < best_d) {
      best_d = d;
      best = &t;
    }
  }
  const GemmTable& t = *best;
  std::vector<double> xs(t.tokens.begin(), t.tokens.end());
  double us = m > xs.back() ? t.us.back() * m / xs.back() : interpolate(xs, t.us, m);
  us *= static_cast<double>(n) * k * groups / (static_cast<double>(t.n) * t.k * t.groups);
  return us;
}

double GpuProfile::decode_us(const AttentionShape& shape, int64_t batch, int64_t context_sum,
                             int64_t context_max, int64_t shared_tokens) const {
  if (batch <= 0) return 0;
  const DecodeTable* table = nearest_table(decodes, shape);
  if (table == nullptr || table->rows.empty()) return -1;
  // Tokens read per microsecond by `b` sequences of `mean` tokens each.
  const auto rate = [&](double b, double mean) {
    std::vector<double> keys, rates;
    for (const DecodeRow& r : table->rows) {
      std::vector<double> work(r.context.size());
      for (size_t i = 0; i < work.size(); ++i)
        work[i] = static_cast<double>(r.batch) * r.context[i];
      keys.push_back(log2d(r.batch));
      rates.push_back(row_log_rate(r.context, r.us, work, log2d(mean)));
    }
    return std::exp2(interpolate(keys, rates, log2d(b)));
  };
  const auto b = static_cast<double>(batch);
  const double read =
      std::max(1.0, static_cast<double>(context_sum) -
                        (1 - table->shared_read) * static_cast<double>(shared_tokens));
  double us = read / rate(b, read / b);
  if (context_max > 0) {
    us = std::max(us, static_cast<double>(context_max) / rate(1, static_cast<double>(context_max)));
  }
  // Bytes read per token scale a shape the profile lacks.
  const auto bytes = [](const AttentionShape& s) {
    return static_cast<double>(s.num_kv_heads) * s.head_dim * dtype_size(s.dtype);
  };
  return us * bytes(shape) / bytes(table->shape);
}

double GpuProfile::prefill_us(const AttentionShape& shape, int64_t chunks, int64_t tokens,
                              int64_t pairs) const {
  if (chunks <= 0 || tokens <= 0) return 0;
  const PrefillTable* table = nearest_table(prefills, shape);
  if (table == nullptr || table->rows.empty()) return -1;
  // The step as `chunks` equal chunks: mean length, and the mean prefix that gives its pairs.
  const double length = static_cast<double>(tokens) / static_cast<double>(chunks);
  const double prefix =
      std::max(0.0, static_cast<double>(pairs) / static_cast<double>(tokens) - (length + 1) / 2);
  // Rows grouped by chunks; within a group by prefix.
  std::vector<double> chunk_keys, chunk_rates;
  for (size_t i = 0; i < table->rows.size();) {
    const int32_t c = table->rows[i].chunks;
    std::vector<double> prefix_keys, prefix_rates;
    for (; i < table->rows.size() && table->rows[i].chunks == c; ++i) {
      const PrefillRow& r = table->rows[i];
      std::vector<double> work(r.length.size());
      for (size_t j = 0; j < work.size(); ++j) {
        const double q = r.length[j];
        work[j] = static_cast<double>(c) * (q * r.prefix + q * (q + 1) / 2);
      }
      prefix_keys.push_back(r.prefix);
      prefix_rates.push_back(row_log_rate(r.length, r.us, work, log2d(length)));
    }
    chunk_keys.push_back(log2d(c));
    chunk_rates.push_back(interpolate(prefix_keys, prefix_rates, prefix));
  }
  const double rate =
      std::exp2(interpolate(chunk_keys, chunk_rates, log2d(static_cast<double>(chunks))));
  const auto flops = [](const AttentionShape& s) {
    return static_cast<double>(s.num_heads) * s.head_dim;
  };
  return static_cast<double>(pairs) / rate * flops(shape) / flops(table->shape);
}

// ---------------------------------------------------------------------------------------------
// TOML

namespace {

class ProfileReader {
 public:
  explicit ProfileReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const toml::node* node, std::string_view key,
                         const std::string& message) const {
    const int64_t line = node != nullptr ? static_cast<int64_t>(node->source().begin.line) : 0;
    throw_input_error(path_, line, cat(key, ": ", message));
  }

  const toml::node* get(const toml::table& t, std::string_view key, bool required) const {
    const toml::node* n = t.get(key);
    if (n == nullptr && required) fail(&t, key, "missing");
    return n;
  }

  std::string string(const toml::table& t, std::string_view key, bool required = false) const {
    const toml::node* n = get(t, key, required);
    if (n == nullptr) return {};
    if (!n->is_string()) fail(n, key, "expected a string");
    return std::string(n->as_string()->get());
  }

  double number(const toml::table& t, std::string_view key, bool required = false) const {
    const toml::node* n = get(t, key, required);
    if (n == nullptr) return 0;
    const std::optional<double> v = n->value<double>();
    if (!v || !std::isfinite(*v) || *v < 0) fail(n, key, "expected a number >= 0");
    return *v;
  }

  int32_t positive(const toml::table& t, std::string_view key, bool required = true,
                   int32_t def = 0) const {
    const toml::node* n = get(t, key, required);
    if (n == nullptr) return def;
    const auto* i = n->as_integer();
    if (i == nullptr || i->get() < 1 || i->get() > (int64_t{1} << 30)) {
      fail(n, key, "expected a whole number in [1, 2^30]");
    }
    return static_cast<int32_t>(i->get());
  }

  int32_t whole(const toml::table& t, std::string_view key) const {
    const toml::node* n = get(t, key, true);
    const auto* i = n->as_integer();
    if (i == nullptr || i->get() < 0 || i->get() > (int64_t{1} << 30)) {
      fail(n, key, "expected a whole number in [0, 2^30]");
    }
    return static_cast<int32_t>(i->get());
  }

  DType dtype(const toml::table& t) const {
    const std::string name = string(t, "dtype", true);
    DType d;
    if (!parse_dtype(name, d) ||
        (d != DType::kF16 && d != DType::kBF16 && d != DType::kF32 && !is_fp8(d))) {
      fail(t.get("dtype"), "dtype",
           cat("expected f16, bf16, f32, fp8_e4m3 or fp8_e5m2, found ", quoted(name)));
    }
    return d;
  }

  // A grid: increasing positive integers, and as many positive times.
  void grid(const toml::table& t, std::string_view xkey, std::vector<int32_t>& xs,
            std::vector<double>& us) const {
    const toml::node* xn = get(t, xkey, true);
    const toml::node* un = get(t, "us", true);
    const auto* xa = xn->as_array();
    const auto* ua = un->as_array();
    if (xa == nullptr || xa->empty()) fail(xn, xkey, "expected a non-empty array of whole numbers");
    if (ua == nullptr) fail(un, "us", "expected an array of microseconds");
    for (const toml::node& e : *xa) {
      const auto* i = e.as_integer();
      if (i == nullptr || i->get() < 1 || i->get() > (int64_t{1} << 30) ||
          (!xs.empty() && i->get() <= xs.back())) {
        fail(&e, xkey, "expected increasing whole numbers in [1, 2^30]");
      }
      xs.push_back(static_cast<int32_t>(i->get()));
    }
    for (const toml::node& e : *ua) {
      const std::optional<double> v = e.value<double>();
      if (!v || !std::isfinite(*v) || *v <= 0) fail(&e, "us", "expected times > 0 (microseconds)");
      us.push_back(*v);
    }
    if (us.size() != xs.size()) {
      fail(un, "us", cat("expected ", xs.size(), " times (one per ", xkey, "), found ", us.size()));
    }
  }

  AttentionShape shape(const toml::table& t) const {
    AttentionShape s;
    s.dtype = dtype(t);
    s.num_heads = positive(t, "num_heads");
    s.num_kv_heads = positive(t, "num_kv_heads");
    s.head_dim = positive(t, "head_dim");
    s.block_size = positive(t, "block_size");
    if (s.num_heads % s.num_kv_heads != 0) {
      fail(t.get("num_kv_heads"), "num_kv_heads", "expected a divisor of num_heads");
    }
    return s;
  }

  // The array of tables under key, possibly absent.
  const toml::array* tables(const toml::table& t, std::string_view key) const {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    const auto* a = n->as_array();
    if (a == nullptr || !a->is_array_of_tables())
      fail(n, key, "expected an array of tables ([[...]])");
    return a;
  }

  void reject_unknown(const toml::table& t, std::initializer_list<std::string_view> known,
                      std::string_view where) const {
    for (const auto& [k, v] : t) {
      if (std::find(known.begin(), known.end(), k.str()) == known.end()) {
        fail(&v, cat(where, where.empty() ? "" : ".", k.str()), "unknown key");
      }
    }
  }

 private:
  std::string path_;
};

void append_number(std::string& out, double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out += s;
  // TOML floats need a fraction or an exponent.
  if (s.find_first_of(".eE") == std::string_view::npos && s.find("inf") == std::string_view::npos &&
      s.find("nan") == std::string_view::npos) {
    out += ".0";
  }
}

template <typename T>
void append_array(std::string& out, std::string_view key, const std::vector<T>& v,
                  std::string_view indent) {
  out += cat(indent, key, " = [");
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ", ";
    if constexpr (std::is_floating_point_v<T>) {
      append_number(out, v[i]);
    } else {
      out += std::to_string(v[i]);
    }
  }
  out += "]\n";
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void append_shape(std::string& out, const AttentionShape& s) {
  out += cat("dtype = \"", dtype_name(s.dtype), "\"\nnum_heads = ", s.num_heads,
             "\nnum_kv_heads = ", s.num_kv_heads, "\nhead_dim = ", s.head_dim,
             "\nblock_size = ", s.block_size, "\n");
}

}  // namespace

GpuProfile parse_gpu_profile(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(ascii_toml(text, path), path);
  } catch (const toml::parse_error& e) {
    throw_input_error(path, static_cast<int64_t>(e.source().begin.line),
                      cat("malformed TOML: ", e.description()));
  }
  const ProfileReader r(path);
  r.reject_unknown(root,
                   {"gpu", "device", "date", "command", "notes", "launch_us", "kernel_gap_us",
                    "copy_gb_s", "swap_gb_s", "gemm", "decode", "prefill"},
                   "");
  GpuProfile p;
  p.gpu = r.string(root, "gpu", true);
  p.device = r.string(root, "device");
  p.date = r.string(root, "date");
  p.command = r.string(root, "command");
  p.notes = r.string(root, "notes");
  p.launch_us = r.number(root, "launch_us");
  p.kernel_gap_us = r.number(root, "kernel_gap_us");
  p.copy_gb_s = r.number(root, "copy_gb_s");
  p.swap_gb_s = r.number(root, "swap_gb_s");
  if (const toml::array* a = r.tables(root, "gemm")) {
    for (const toml::node& n : *a) {
      const toml::table& t = *n.as_table();
      r.reject_unknown(t, {"dtype", "n", "k", "groups", "tokens", "us"}, "gemm");
      GemmTable g;
      g.dtype = r.dtype(t);
      g.n = r.positive(t, "n");
      g.k = r.positive(t, "k");
      g.groups = r.positive(t, "groups", false, 1);
      r.grid(t, "tokens", g.tokens, g.us);
      p.gemms.push_back(std::move(g));
    }
  }
  if (const toml::array* a = r.tables(root, "decode")) {
    for (const toml::node& n : *a) {
      const toml::table& t = *n.as_table();
      r.reject_unknown(
          t, {"dtype", "num_heads", "num_kv_heads", "head_dim", "block_size", "shared_read", "row"},
          "decode");
      DecodeTable d;
      d.shape = r.shape(t);
      if (t.contains("shared_read")) {
        d.shared_read = r.number(t, "shared_read");
        if (d.shared_read > 1)
          r.fail(t.get("shared_read"), "shared_read", "expected a number in [0, 1]");
      }
      if (const toml::array* rows = r.tables(t, "row")) {
        for (const toml::node& rn : *rows) {
          const toml::table& rt = *rn.as_table();
          r.reject_unknown(rt, {"batch", "context", "us"}, "decode.row");
          DecodeRow row;
          row.batch = r.positive(rt, "batch");
          if (!d.rows.empty() && row.batch <= d.rows.back().batch) {
            r.fail(rt.get("batch"), "decode.row.batch", "expected rows by increasing batch");
          }
          r.grid(rt, "context", row.context, row.us);
          d.rows.push_back(std::move(row));
        }
      }
      if (d.rows.empty()) r.fail(&t, "decode.row", "expected at least one row");
      p.decodes.push_back(std::move(d));
    }
  }
  if (const toml::array* a = r.tables(root, "prefill")) {
    for (const toml::node& n : *a) {
      const toml::table& t = *n.as_table();
      r.reject_unknown(t, {"dtype", "num_heads", "num_kv_heads", "head_dim", "block_size", "row"},
                       "prefill");
      PrefillTable pt;
      pt.shape = r.shape(t);
      if (const toml::array* rows = r.tables(t, "row")) {
        for (const toml::node& rn : *rows) {
          const toml::table& rt = *rn.as_table();
          r.reject_unknown(rt, {"chunks", "prefix", "length", "us"}, "prefill.row");
          PrefillRow row;
          row.chunks = r.positive(rt, "chunks");
          row.prefix = r.whole(rt, "prefix");
          if (!pt.rows.empty()) {
            const PrefillRow& last = pt.rows.back();
            if (row.chunks < last.chunks ||
                (row.chunks == last.chunks && row.prefix <= last.prefix)) {
              r.fail(rt.get("chunks"), "prefill.row",
                     "expected rows by increasing chunks, then increasing prefix");
            }
          }
          r.grid(rt, "length", row.length, row.us);
          pt.rows.push_back(std::move(row));
        }
      }
      if (pt.rows.empty()) r.fail(&t, "prefill.row", "expected at least one row");
      p.prefills.push_back(std::move(pt));
    }
  }
  return p;
}

GpuProfile read_gpu_profile(const std::string& path) {
  return parse_gpu_profile(read_text_file(path), path);
}

std::string gpu_profile_toml(const GpuProfile& p) {
  std::string out =
      "# A TinyServe GPU profile: median times of the parts of a step, measured by `tinyserve\n"
      "# calibrate` and read by the calibrated cost model (cost.profile; docs/cost_model.md).\n"
      "# Times are microseconds of one layer (attention) or one launch (GEMMs).\n";
  out += cat("gpu = ", toml_string(p.gpu), "\ndevice = ", toml_string(p.device),
             "\ndate = ", toml_string(p.date), "\ncommand = ", toml_string(p.command), "\n");
  if (!p.notes.empty()) out += cat("notes = ", toml_string(p.notes), "\n");
  out +=
      "# One empty kernel launch, back to back; what a layer's GEMMs in sequence take over\n"
      "# their times alone, per kernel; block copies on the device and to pinned host memory.\n"
      "launch_us = ";
  append_number(out, p.launch_us);
  out += "\nkernel_gap_us = ";
  append_number(out, p.kernel_gap_us);
  out += "\ncopy_gb_s = ";
  append_number(out, p.copy_gb_s);
  out += "\nswap_gb_s = ";
  append_number(out, p.swap_gb_s);
  out += "\n";
  if (!p.gemms.empty()) {
    out +=
        "\n# Y[m, n] = X[m, k] W[n, k]^T with cuBLAS (dummy random weights), `groups` of them in\n"
        "# one strided-batched launch (MoE experts); tokens = m of each group.\n";
  }
  for (const GemmTable& g : p.gemms) {
    out += cat("[[gemm]]\ndtype = \"", dtype_name(g.dtype), "\"\nn = ", g.n, "\nk = ", g.k,
               "\ngroups = ", g.groups, "\n");
    append_array(out, "tokens", g.tokens, "");
    append_array(out, "us", g.us, "");
    out += "\n";
  }
  if (!p.decodes.empty()) {
    out +=
        "# Paged decode attention (the executor's kernel), one layer: `batch` sequences of\n"
        "# `context` tokens each, blocks scattered over the pool, L2 flushed before each run;\n"
        "# shared_read: a block re-read by another sequence of the batch, over its first read.\n";
  }
  for (const DecodeTable& d : p.decodes) {
    out += "[[decode]]\n";
    append_shape(out, d.shape);
    out += "shared_read = ";
    append_number(out, d.shared_read);
    out += "\n";
    for (const DecodeRow& r : d.rows) {
      out += cat("  [[decode.row]]\n  batch = ", r.batch, "\n");
      append_array(out, "context", r.context, "  ");
      append_array(out, "us", r.us, "  ");
    }
    out += "\n";
  }
  if (!p.prefills.empty()) {
    out +=
        "# Paged prefill attention, one layer: `chunks` chunks of `length` tokens, each after\n"
        "# `prefix` cached tokens (causal within the chunk), in one launch.\n";
  }
  for (const PrefillTable& t : p.prefills) {
    out += "[[prefill]]\n";
    append_shape(out, t.shape);
    for (const PrefillRow& r : t.rows) {
      out += cat("  [[prefill.row]]\n  chunks = ", r.chunks, "\n  prefix = ", r.prefix, "\n");
      append_array(out, "length", r.length, "  ");
      append_array(out, "us", r.us, "  ");
    }
    out += "\n";
  }
  return out;
}

}  // namespace tinyserve
