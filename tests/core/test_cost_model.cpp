#include "core/execution/cost_model.h"

#include <doctest/doctest.h>

using namespace tinyserve;

namespace {

// 1 layer of 8 KV heads x 128, fp16: 4,096 bytes per token; 16-token blocks of 65,536 bytes.
KvGeometry geometry() {
  KvGeometry g;
  g.model_layers = 1;
  g.num_layers = 1;
  g.num_kv_heads = 8;
  g.head_dim = 128;
  g.block_size = 16;
  g.dtype = DType::kF16;
  return g;
}

CostModel model() {
  CostModel m;
  m.weight_bytes = 1e9;
  m.flops_per_token = 2e9;
  m.attention_flops_per_pair = 4096;
  m.mem_bandwidth = 1e12;
  m.peak_flops = 100e12;
  m.pcie_bandwidth = 25e9;
  m.mem_efficiency = 0.5;
  m.compute_efficiency = 0.5;
  m.step_overhead_s = 1e-3;
  return m;
}

}  // namespace

TEST_CASE("a decode step is bound by memory: weights plus the K/V it reads and writes") {
  StepWork w;
  w.new_tokens = 4;
  w.context_tokens_read = 4000;
  w.attention_pairs = 4000;
  const StepCost c = estimate_step(model(), geometry(), w);
  const double bytes = 1e9 + 4000 * 4096.0 + 4 * 4096.0;
  CHECK(c.memory_s == doctest::Approx(bytes / 0.5e12));
  CHECK(c.attention_s == doctest::Approx(4000 * 4096.0 / 0.5e12));
  CHECK(c.compute_s == doctest::Approx((4 * 2e9 + 4000 * 4096.0) / 50e12));
  CHECK(c.total_s == doctest::Approx(c.memory_s + 1e-3));
}

TEST_CASE("a long prefill is bound by compute; copies and swaps add their bytes") {
  StepWork w;
  w.new_tokens = 8192;
  w.context_tokens_read = 8192;
  w.attention_pairs = 8192LL * 8193 / 2;
  const StepCost c = estimate_step(model(), geometry(), w);
  CHECK(c.compute_s > c.memory_s);
  CHECK(c.total_s == doctest::Approx(c.compute_s + 1e-3));
  StepWork copies = w;
  copies.copied_blocks = 10;
  copies.swapped_blocks = 5;
  const StepCost d = estimate_step(model(), geometry(), copies);
  CHECK(d.memory_s - c.memory_s == doctest::Approx(2 * 10 * 65536.0 / 0.5e12));
  CHECK(d.swap_s == doctest::Approx(5 * 65536.0 / 25e9));
  CHECK(d.total_s == doctest::Approx(d.compute_s + d.swap_s + 1e-3));
}

TEST_CASE("fp8 halves the K/V bytes the step moves") {
  StepWork w;
  w.new_tokens = 1;
  w.context_tokens_read = 100000;
  KvGeometry fp8 = geometry();
  fp8.dtype = DType::kFp8E4M3;
  const StepCost a = estimate_step(model(), geometry(), w);
  const StepCost b = estimate_step(model(), fp8, w);
  CHECK(b.attention_s * 2 == doctest::Approx(a.attention_s));
}

TEST_CASE("the measured clock replaces the modelled attention, scaled to the model's layers") {
  KvGeometry g = geometry();
  g.model_layers = 32;
  g.num_layers = 2;
  StepWork w;
  w.new_tokens = 8;
  w.context_tokens_read = 200000;
  const StepCost c = estimate_step(model(), g, w);
  // 0.5 ms measured over 2 layers: 8 ms for 32.
  const double s = measured_step_s(model(), g, c, 0.5);
  CHECK(s == doctest::Approx(c.memory_s - c.attention_s + 8e-3 + 1e-3));
  // A kernel slower than the model's bound makes the step slower; never faster than compute.
  CHECK(measured_step_s(model(), g, c, 50.0) > c.total_s);
  CHECK(measured_step_s(model(), g, c, 0.0) >= c.compute_s + 1e-3);
}
