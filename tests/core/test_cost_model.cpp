#include <doctest/doctest.h>

#include "core/execution/cost_model.h"

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

TEST_CASE("the roofline splits its attention into the prefill chunks' and the decodes' reads") {
  StepWork w;
  w.new_tokens = 101;
  w.context_tokens_read = 3000 + 100;
  w.decode_seqs = 1;
  w.decode_context_sum = 3000;
  w.prefill_chunks = 1;
  w.prefill_tokens = 100;
  const StepCost c = estimate_step(model(), geometry(), w);
  CHECK(c.decode_attention_s == doctest::Approx(3000 * 4096.0 / 0.5e12));
  CHECK(c.prefill_attention_s == doctest::Approx(100 * 4096.0 / 0.5e12));
  CHECK(c.prefill_attention_s + c.decode_attention_s == doctest::Approx(c.attention_s));
  CHECK_FALSE(c.calibrated);
}

namespace {

// A profile whose GEMMs take 10 + m us (any shape: one table, scaled by n x k from 1024 x 1024),
// whose decode attention reads 1,000 tokens per us and whose prefill attends 10^6 pairs per us
// (32 heads x 128), launches at 2 us and copies at 100 GB/s, swaps at 10 GB/s.
std::shared_ptr<const GpuProfile> linear_profile() {
  auto p = std::make_shared<GpuProfile>();
  p->gpu = "test";
  p->launch_us = 2;
  p->copy_gb_s = 100;
  p->swap_gb_s = 10;
  GemmTable t;
  t.n = 1024;
  t.k = 1024;
  t.tokens = {1, 16384};
  t.us = {11, 10 + 16384};
  p->gemms.push_back(t);
  AttentionShape a;
  a.dtype = DType::kF16;
  a.num_heads = 32;
  a.num_kv_heads = 8;
  a.head_dim = 128;
  DecodeTable d;
  d.shape = a;
  d.rows.push_back({1, {1000, 100000}, {1, 100}});
  p->decodes.push_back(d);
  PrefillTable pt;
  pt.shape = a;
  pt.rows.push_back({1, 0, {1, 1000}, {1e-6, 1000.0 * 1001 / 2 / 1e6}});
  p->prefills.push_back(pt);
  return p;
}

// 2 layers of 32 heads (8 KV) x 128, fp16; a QKV of 1024 x 1024, an MLP of 2048 x 1024, and an LM
// head of 4096 x 1024.
CostModel calibrated_model() {
  CostModel m = model();
  m.profile = linear_profile();
  m.shapes.dtype = DType::kF16;
  m.shapes.attention_layers = 2;
  m.shapes.num_heads = 32;
  m.shapes.num_kv_heads = 8;
  m.shapes.head_dim = 128;
  m.shapes.gemms = {{"qkv", 1024, 1024, 2, 0, 0}, {"mlp", 2048, 1024, 2, 0, 0}};
  m.shapes.lm_head = {"lm_head", 4096, 1024, 1, 0, 0};
  return m;
}

KvGeometry two_layers() {
  KvGeometry g = geometry();
  g.model_layers = 2;
  g.num_heads = 32;
  return g;
}

}  // namespace

TEST_CASE("the calibrated model adds up the profile's parts of the step") {
  StepWork w;
  w.new_tokens = 104;  // a 100-token chunk (no prefix) and 4 decodes
  w.sampled_tokens = 5;
  w.decode_seqs = 4;
  w.decode_context_sum = 20000;
  w.prefill_chunks = 1;
  w.prefill_tokens = 100;
  w.prefill_pairs = 100 * 101 / 2;
  w.context_tokens_read = 20100;
  const StepCost c = estimate_step(calibrated_model(), two_layers(), w);
  CHECK(c.calibrated);
  // GEMMs: 2 layers x ((10 + 104) + 2 x (10 + 104)) us, the LM head 4 x (10 + 5) us.
  CHECK(c.gemm_s == doctest::Approx((2 * 3 * 114.0 + 4 * 15.0) * 1e-6));
  CHECK(c.decode_attention_s == doctest::Approx(2 * 20.0 * 1e-6));
  CHECK(c.prefill_attention_s == doctest::Approx(2 * 5050 / 1e6 * 1e-6));
  CHECK(c.attention_s == doctest::Approx(c.decode_attention_s + c.prefill_attention_s));
  CHECK(c.total_s == doctest::Approx(c.gemm_s + c.attention_s));
  // The measured clock swaps in the measured attention (1 layer measured, 2 in the model).
  KvGeometry g = two_layers();
  g.num_layers = 1;
  CHECK(measured_step_s(calibrated_model(), g, c, 0.1) ==
        doctest::Approx(c.total_s - c.attention_s + 0.2e-3));
}

TEST_CASE("the calibrated step is never shorter than the launches of its kernels") {
  CostModel m = calibrated_model();
  auto slow = std::make_shared<GpuProfile>(*m.profile);
  slow->launch_us = 1000;
  m.profile = slow;
  StepWork w;
  w.new_tokens = 1;
  w.sampled_tokens = 1;
  w.decode_seqs = 1;
  w.decode_context_sum = 10;
  const StepCost c = estimate_step(m, two_layers(), w);
  // 2 layers x (2 GEMMs + decode attention) + the LM head.
  CHECK(c.overhead_s == doctest::Approx(7 * 1e-3));
  CHECK(c.total_s == doctest::Approx(c.overhead_s));
  CHECK(c.compute_s < c.overhead_s);
}

TEST_CASE("copies and swaps move each GPU's share at the profile's bandwidths") {
  StepWork w;
  w.copied_blocks = 10;
  w.swapped_blocks = 5;
  const KvGeometry g = two_layers();
  const double block = static_cast<double>(g.model_block_bytes());
  const StepCost c = estimate_step(calibrated_model(), g, w);
  CHECK(c.swap_s == doctest::Approx(5 * block / 10e9));
  CHECK(c.total_s == doctest::Approx(10 * block / 100e9 + c.swap_s));
  CostModel two = calibrated_model();
  two.num_gpus = 2;
  CHECK(estimate_step(two, g, w).swap_s == doctest::Approx(c.swap_s / 2));
}

TEST_CASE("routed experts are timed as one grouped launch over the experts the tokens reach") {
  CostModel m = calibrated_model();
  m.shapes.gemms = {{"experts", 1024, 1024, 1, 8, 2}};
  m.shapes.lm_head = {};
  auto p = std::make_shared<GpuProfile>(*m.profile);
  GemmTable grouped = p->gemms[0];
  grouped.groups = 8;
  grouped.us = {100, 100 + 16384};  // 90 us more than dense at every m
  p->gemms.push_back(grouped);
  m.profile = p;
  StepWork w;
  // 40 tokens x 2 experts each over 8 experts: 10 tokens per expert, all 8 reached.
  w.new_tokens = 40;
  CHECK(estimate_step(m, two_layers(), w).gemm_s ==
        doctest::Approx((100 + (10 - 1) * 16384.0 / 16383) * 1e-6));
  // 1 token reaches 2 of the 8 experts: a quarter of the grouped launch at m = 1.
  w.new_tokens = 1;
  CHECK(estimate_step(m, two_layers(), w).gemm_s == doctest::Approx(100 * 0.25 * 1e-6));
}

TEST_CASE(
    "with no kernel for the model's attention the calibrated model reads K/V as the roofline") {
  CostModel m = calibrated_model();
  m.shapes.mla = true;
  StepWork w;
  w.new_tokens = 2;
  w.decode_seqs = 2;
  w.decode_context_sum = 5000;
  w.context_tokens_read = 5000;
  const KvGeometry g = two_layers();
  const StepCost c = estimate_step(m, g, w);
  CHECK(c.decode_attention_s ==
        doctest::Approx(5000.0 * static_cast<double>(g.bytes_per_token()) / 0.5e12));
}
