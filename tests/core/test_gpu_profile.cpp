#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/execution/gpu_profile.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

// A synthetic GPU whose parts take known times: GEMMs are a launch plus the larger of reading
// the weights and the arithmetic; attention is a launch plus its work at a saturating rate.
double gemm_truth(double m, double n, double k, double groups = 1) {
  return 4 + std::max(2 * n * k * groups / 3e6, 2 * m * n * k * groups / 600e6);
}
double decode_truth(double batch, double context) {
  return 5 + batch * context * 4096 / 2.5e6 + 0.01 * batch;
}
double prefill_truth(double chunks, double length, double prefix) {
  const double pairs = chunks * (length * prefix + length * (length + 1) / 2);
  return 8 + pairs * 16384 / 400e6;
}

AttentionShape shape(int heads = 32, int kv_heads = 8, DType dtype = DType::kBF16) {
  AttentionShape a;
  a.dtype = dtype;
  a.num_heads = heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = 128;
  a.block_size = 16;
  return a;
}

GpuProfile synthetic_profile() {
  GpuProfile p;
  p.gpu = "testgpu";
  p.device = "Test GPU";
  p.date = "2026-11-28";
  p.command = "tinyserve calibrate --gpu-name testgpu";
  p.launch_us = 2.5;
  p.copy_gb_s = 1200;
  p.swap_gb_s = 20;
  for (auto [n, k] : {std::pair{6144, 4096}, std::pair{4096, 4096}, std::pair{28672, 4096}}) {
    GemmTable t;
    t.n = n;
    t.k = k;
    for (int m = 1; m <= 16384; m *= 2) {
      t.tokens.push_back(m);
      t.us.push_back(gemm_truth(m, n, k));
    }
    p.gemms.push_back(t);
  }
  GemmTable experts;
  experts.n = 28672;
  experts.k = 4096;
  experts.groups = 8;
  for (int m = 1; m <= 4096; m *= 2) {
    experts.tokens.push_back(m);
    experts.us.push_back(gemm_truth(m, 28672, 4096, 8));
  }
  p.gemms.push_back(experts);
  DecodeTable d;
  d.shape = shape();
  for (int b = 1; b <= 256; b *= 4) {
    DecodeRow r;
    r.batch = b;
    for (int c = 16; c <= 65536 && b * c <= (1 << 21); c *= 4) {
      r.context.push_back(c);
      r.us.push_back(decode_truth(b, c));
    }
    d.rows.push_back(r);
  }
  p.decodes.push_back(d);
  PrefillTable t;
  t.shape = shape();
  for (int n : {1, 4, 16}) {
    for (int prefix : {0, 1024, 8192}) {
      PrefillRow r;
      r.chunks = n;
      r.prefix = prefix;
      for (int q = 1; q <= 16384 / n; q *= 2) {
        r.length.push_back(q);
        r.us.push_back(prefill_truth(n, q, prefix));
      }
      t.rows.push_back(r);
    }
  }
  p.prefills.push_back(t);
  return p;
}

double pairs_of(double chunks, double length, double prefix) {
  return chunks * (length * prefix + length * (length + 1) / 2);
}

}  // namespace

TEST_CASE("a profile's lookups give its measured times at its grid points") {
  const GpuProfile p = synthetic_profile();
  for (const GemmTable& t : p.gemms) {
    for (size_t i = 0; i < t.tokens.size(); ++i) {
      CHECK(p.gemm_us(DType::kBF16, t.tokens[i], t.n, t.k, t.groups) == doctest::Approx(t.us[i]));
    }
  }
  for (const DecodeRow& r : p.decodes[0].rows) {
    for (size_t i = 0; i < r.context.size(); ++i) {
      CHECK(p.decode_us(shape(), r.batch, int64_t{r.batch} * r.context[i]) ==
            doctest::Approx(r.us[i]).epsilon(1e-9));
    }
  }
  for (const PrefillRow& r : p.prefills[0].rows) {
    for (size_t i = 0; i < r.length.size(); ++i) {
      const double q = r.length[i];
      const auto pairs = static_cast<int64_t>(pairs_of(r.chunks, q, r.prefix));
      CHECK(p.prefill_us(shape(), r.chunks, int64_t{r.chunks} * r.length[i], pairs) ==
            doctest::Approx(r.us[i]).epsilon(1e-9));
    }
  }
}

TEST_CASE("between grid points the lookups stay close to smooth times") {
  const GpuProfile p = synthetic_profile();
  for (double m : {3.0, 5.0, 100.0, 300.0, 1000.0, 5000.0, 12000.0}) {
    CHECK(p.gemm_us(DType::kBF16, m, 6144, 4096) ==
          doctest::Approx(gemm_truth(m, 6144, 4096)).epsilon(0.12));
  }
  for (auto [b, c] : {std::pair{2, 100}, std::pair{8, 3000}, std::pair{64, 1500},
                      std::pair{100, 700}, std::pair{200, 5000}}) {
    CHECK(p.decode_us(shape(), b, int64_t{b} * c) ==
          doctest::Approx(decode_truth(b, c)).epsilon(0.1));
  }
  for (auto [n, q, prefix] :
       {std::tuple{1, 300, 0}, std::tuple{1, 3000, 500}, std::tuple{2, 1000, 4000},
        std::tuple{8, 200, 2000}, std::tuple{4, 2500, 6000}}) {
    const auto pairs = static_cast<int64_t>(pairs_of(n, q, prefix));
    CHECK(p.prefill_us(shape(), n, int64_t{n} * q, pairs) ==
          doctest::Approx(prefill_truth(n, q, prefix)).epsilon(0.1));
  }
}

TEST_CASE("beyond the grid a lookup scales the edge's rate by the work") {
  const GpuProfile p = synthetic_profile();
  // 32k tokens: twice the last point's time.
  CHECK(p.gemm_us(DType::kBF16, 32768, 6144, 4096) ==
        doctest::Approx(2 * gemm_truth(16384, 6144, 4096)));
  // Batch 1024 at the largest row's rate; a context past the row's end at its last rate.
  const double edge = decode_truth(256, 4096) / (256.0 * 4096);
  CHECK(p.decode_us(shape(), 1024, 1024 * 4096) == doctest::Approx(edge * 1024 * 4096));
  // More chunks than the grid's: the last group's rate for the whole work.
  const double pairs = pairs_of(64, 256, 1024);
  const double rate = pairs_of(16, 256, 1024) / prefill_truth(16, 256, 1024);
  CHECK(p.prefill_us(shape(), 64, 64 * 256, static_cast<int64_t>(pairs)) ==
        doctest::Approx(pairs / rate));
  CHECK(p.decode_us(shape(), 0, 0) == 0);
  CHECK(p.prefill_us(shape(), 0, 0, 0) == 0);
  CHECK(p.gemm_us(DType::kBF16, 0, 6144, 4096) == 0);
}

TEST_CASE("a shape the profile lacks scales from the nearest measured one by its work") {
  const GpuProfile p = synthetic_profile();
  // 4096 x 4096 measured; 4096 x 8192 takes twice as long at every m.
  for (double m : {1.0, 64.0, 4096.0}) {
    CHECK(p.gemm_us(DType::kBF16, m, 4096, 8192) ==
          doctest::Approx(2 * p.gemm_us(DType::kBF16, m, 4096, 4096)));
  }
  // fp16 falls back to the bf16 tables; routed experts use the grouped table, not a dense one.
  CHECK(p.gemm_us(DType::kF16, 64, 6144, 4096) == p.gemm_us(DType::kBF16, 64, 6144, 4096));
  CHECK(p.gemm_us(DType::kBF16, 64, 28672, 4096, 8) ==
        doctest::Approx(gemm_truth(64, 28672, 4096, 8)));
  // Twice the KV heads read twice the bytes; twice the query heads do twice the prefill work.
  CHECK(p.decode_us(shape(32, 16), 8, 8 * 1024) ==
        doctest::Approx(2 * p.decode_us(shape(), 8, 8 * 1024)));
  CHECK(p.prefill_us(shape(64, 16), 1, 512, 512 * 513 / 2) ==
        doctest::Approx(2 * p.prefill_us(shape(), 1, 512, 512 * 513 / 2)));
  // No table at all: negative, the cost model's cue to fall back.
  GpuProfile empty;
  CHECK(empty.decode_us(shape(), 4, 400) < 0);
  CHECK(empty.prefill_us(shape(), 1, 10, 55) < 0);
}

TEST_CASE("a profile round-trips through its TOML form") {
  GpuProfile p = synthetic_profile();
  p.notes = "a \"quoted\" note\\";
  const std::string text = gpu_profile_toml(p);
  const GpuProfile q = parse_gpu_profile(text, "p.toml");
  CHECK(q.gpu == p.gpu);
  CHECK(q.device == p.device);
  CHECK(q.date == p.date);
  CHECK(q.command == p.command);
  CHECK(q.notes == p.notes);
  CHECK(q.launch_us == p.launch_us);
  CHECK(q.copy_gb_s == p.copy_gb_s);
  CHECK(q.swap_gb_s == p.swap_gb_s);
  REQUIRE(q.gemms.size() == p.gemms.size());
  for (size_t i = 0; i < p.gemms.size(); ++i) {
    CHECK(q.gemms[i].n == p.gemms[i].n);
    CHECK(q.gemms[i].k == p.gemms[i].k);
    CHECK(q.gemms[i].groups == p.gemms[i].groups);
    CHECK(q.gemms[i].tokens == p.gemms[i].tokens);
    CHECK(q.gemms[i].us == p.gemms[i].us);  // shortest round-trip formatting: exact
  }
  REQUIRE(q.decodes.size() == 1);
  CHECK(q.decodes[0].shape == p.decodes[0].shape);
  REQUIRE(q.decodes[0].rows.size() == p.decodes[0].rows.size());
  CHECK(q.decodes[0].rows[1].context == p.decodes[0].rows[1].context);
  CHECK(q.decodes[0].rows[1].us == p.decodes[0].rows[1].us);
  REQUIRE(q.prefills.size() == 1);
  REQUIRE(q.prefills[0].rows.size() == p.prefills[0].rows.size());
  CHECK(q.prefills[0].rows[4].chunks == p.prefills[0].rows[4].chunks);
  CHECK(q.prefills[0].rows[4].prefix == p.prefills[0].rows[4].prefix);
  CHECK(q.prefills[0].rows[4].us == p.prefills[0].rows[4].us);
  CHECK(gpu_profile_toml(q) == text);
}

TEST_CASE("a malformed profile is refused naming the file, the line and the field") {
  const std::string good = gpu_profile_toml(synthetic_profile());
  const auto error_of = [](const std::string& text) {
    return input_error([&] { parse_gpu_profile(text, "bad.toml"); });
  };
  CHECK(!error_of(good));
  const auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const size_t at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    return t;
  };
  auto e = error_of(replace("gpu = \"testgpu\"", ""));
  REQUIRE(e);
  CHECK(std::string(e->what()).find("gpu: missing") != std::string::npos);
  e = error_of(replace("tokens = [1, 2, 4", "tokens = [2, 1, 4"));
  REQUIRE(e);
  CHECK(e->file() == "bad.toml");
  CHECK(e->line() > 0);
  CHECK(std::string(e->what()).find("increasing") != std::string::npos);
  e = error_of(replace("us = [", "us = [-1.0, "));
  REQUIRE(e);
  CHECK(std::string(e->what()).find("times > 0") != std::string::npos);
  e = error_of(replace("dtype = \"bf16\"", "dtype = \"int4\""));
  REQUIRE(e);
  CHECK(std::string(e->what()).find("int4") != std::string::npos);
  e = error_of(replace("launch_us", "launch_ms"));
  REQUIRE(e);
  CHECK(std::string(e->what()).find("launch_ms: unknown key") != std::string::npos);
  e = error_of(replace("  batch = 4\n", "  batch = 1\n"));
  REQUIRE(e);
  CHECK(std::string(e->what()).find("increasing batch") != std::string::npos);
  e = error_of("gpu = \"x\"\n[[gemm]\n");
  REQUIRE(e);
  CHECK(std::string(e->what()).find("malformed TOML") != std::string::npos);
  TempDir dir;
  CHECK(input_error([&] { read_gpu_profile(dir.path("none.toml")); }));
  CHECK(read_gpu_profile(dir.write("p.toml", good)).gpu == "testgpu");
}
