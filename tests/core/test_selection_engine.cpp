// Query-aware selection in the engine (issue 13): the attention.selection key, the plan and the
// cost model's charge, and metrics.csv's columns.
#include <doctest/doctest.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/errors.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "core/engine/step_metrics.h"
#include "core/execution/cost_model.h"
#include "core/execution/selection.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;
using tinyserve::testing::TempDir;

namespace {

const std::string kBase =
    "name = \"t\"\ndescription = \"d\"\n[hardware]\nnum_gpu_blocks = 4096\n"
    "[model]\nmax_model_len = 8192\n";

Scenario parse(const std::string& text, const std::vector<std::string>& overrides = {}) {
  TempDir dir;
  return parse_scenario(text, dir.path("s.toml"), overrides);
}

// The error message of a scenario text, or "" when it loads.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  TempDir dir;
  const auto e = input_error([&] { parse_scenario(text, dir.path("s.toml"), overrides); });
  return e ? std::string(e->what()) : std::string();
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) out.push_back(cell);
  return out;
}

// 4 layers of 8 KV heads x 128, fp16, blocks of 16: 16,384 bytes per token; bounds of 4,096
// bytes per block and layer.
KvGeometry geometry() {
  KvGeometry g;
  g.model_layers = 4;
  g.num_layers = 1;
  g.num_heads = 32;
  g.num_kv_heads = 8;
  g.head_dim = 128;
  g.block_size = 16;
  g.dtype = DType::kF16;
  return g;
}

CostModel roofline() {
  CostModel m;
  m.weight_bytes = 1e9;
  m.flops_per_token = 2e9;
  m.attention_flops_per_pair = 4096;
  m.mem_bandwidth = 1e12;
  m.peak_flops = 100e12;
  m.mem_efficiency = 0.5;
  m.compute_efficiency = 0.5;
  return m;
}

// Two decodes of 32,000 and 1,000 tokens and a 500-token chunk at the start of its prompt.
StepWork work() {
  StepWork w;
  w.new_tokens = 502;
  w.decode_seqs = 2;
  w.decode_context_sum = 33000;
  w.decode_context_max = 32000;
  w.decode_blocks = 2000 + 63;
  w.context_tokens_read = 33000 + 500;
  w.attention_pairs = 33000 + 500 * 501 / 2;
  w.prefill_chunks = 1;
  w.prefill_tokens = 500;
  w.prefill_pairs = 500 * 501 / 2;
  w.sampled_tokens = 2;
  return w;
}

// The same step with selection at a budget of 2048 tokens: 128 blocks of 32,000 (its last one
// whole) and all 63 of 1,000 (its last holding 8 tokens).
StepWork selected_work() {
  StepWork w = work();
  SelectionSettings s;
  s.budget_tokens = 2048;
  CHECK(selected_block_count(s, 32000, 16) == 128);
  CHECK(selected_block_count(s, 1000, 16) == 63);
  w.selection = true;
  w.decode_selected_blocks = 128 + 63;
  w.decode_selected_sum = 2048 + 1000;
  w.decode_selected_max = 2048;
  w.attention_pairs = 2048 + 1000 + 500 * 501 / 2;
  return w;
}

}  // namespace

TEST_CASE("attention.selection is off by default and leaves the geometry without key bounds") {
  const Scenario s = parse(kBase);
  CHECK_FALSE(s.engine.selection.enabled());
  CHECK_FALSE(s.engine.geometry.key_bounds);
  CHECK(s.engine.geometry.synthetic == SyntheticPattern::kUniform);
}

TEST_CASE("attention.selection reads a budget in tokens or as a ratio, as a table or by --set") {
  const Scenario a = parse(kBase + "[attention]\nselection = { budget_tokens = 2048 }\n");
  CHECK(a.engine.selection.enabled());
  CHECK(a.engine.selection.budget_tokens == 2048);
  CHECK(a.engine.selection.budget_ratio == 0.0f);
  CHECK(a.engine.selection.group_score == GroupScore::kMax);
  CHECK(a.engine.geometry.key_bounds);

  const Scenario b =
      parse(kBase + "[attention.selection]\nbudget_ratio = 0.25\ngroup_score = \"sum\"\n");
  CHECK(b.engine.selection.budget_ratio == 0.25f);
  CHECK(b.engine.selection.budget_tokens == 0);
  CHECK(b.engine.selection.group_score == GroupScore::kSum);
  CHECK(b.engine.geometry.key_bounds);

  const Scenario c =
      parse(kBase, {"attention.selection.budget_tokens=1024", "attention.kv_pattern=structured"});
  CHECK(c.engine.selection.budget_tokens == 1024);
  CHECK(c.engine.geometry.synthetic == SyntheticPattern::kStructured);
}

TEST_CASE("attention.selection refuses what it cannot do, saying why") {
  CHECK(error_of(kBase + "[attention]\nselection = { budget_tokens = 64, budget_ratio = 0.5 }\n")
            .find("attention.selection.budget_ratio: expected budget_tokens or budget_ratio, "
                  "not both") != std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget_ratio = 1.5 }\n")
            .find("expected a number in [0, 1]") != std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget_tokens = -1 }\n")
            .find("expected an integer in [0,") != std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget = 64 }\n").find("unknown key") !=
        std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget_tokens = 64 }\n",
                 {"scheduler.semantics=vllm-v0", "cache.allocator=contiguous"})
            .find("selection reads blocks of a paged cache") != std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget_tokens = 64 }\n",
                 {"cache.kv_dtype=fp8_e4m3"})
            .find("key bounds of fp8_e4m3 caches are not supported yet") != std::string::npos);
  CHECK(error_of(kBase + "[attention]\nselection = { budget_tokens = 64 }\n",
                 {"model.preset=deepseek-v3", "hardware.num_gpu_blocks=100000"})
            .find("MLA caches") != std::string::npos);
  // Off, the same settings load.
  CHECK(error_of(kBase, {"cache.kv_dtype=fp8_e4m3"}) == "");
}

TEST_CASE("with selection the cost model charges the selected blocks and the key bounds") {
  const KvGeometry g = geometry();
  const double token_bytes = 4 * 2 * 8 * 128 * 2.0;
  const double bounds_bytes = 4 * 8 * 2 * 128 * 2.0;  // per block, every layer
  REQUIRE(g.bytes_per_token() == token_bytes);
  const StepCost full = estimate_step(roofline(), g, work());
  const StepCost sel = estimate_step(roofline(), g, selected_work());
  CHECK(full.decode_blocks_full == 2063);
  CHECK(full.decode_blocks_read == 2063);
  CHECK(full.decode_bytes_read == full.decode_bytes_full);
  CHECK(full.decode_bytes_full == doctest::Approx(33000 * token_bytes));
  CHECK(sel.decode_blocks_full == 2063);
  CHECK(sel.decode_blocks_read == 191);
  CHECK(sel.decode_bytes_full == full.decode_bytes_full);
  CHECK(sel.decode_bytes_read == doctest::Approx(3048 * token_bytes + 2063 * bounds_bytes));
  CHECK(sel.decode_attention_s == doctest::Approx(sel.decode_bytes_read / 0.5e12));
  CHECK(sel.prefill_attention_s == doctest::Approx(full.prefill_attention_s));
  CHECK(sel.decode_attention_s < full.decode_attention_s / 4);
  CHECK(sel.memory_s ==
        doctest::Approx(full.memory_s - (full.decode_bytes_read - sel.decode_bytes_read) / 0.5e12));
  CHECK(sel.compute_s < full.compute_s);
  CHECK(sel.total_s < full.total_s);
}

TEST_CASE("without selection the selection counts change nothing the cost model charges") {
  StepWork w = work();
  w.decode_selected_blocks = 5;  // ignored while selection is off
  w.decode_selected_sum = 80;
  w.decode_selected_max = 80;
  for (const StepWork& x : {w}) {
    const StepCost a = estimate_step(roofline(), geometry(), work());
    const StepCost b = estimate_step(roofline(), geometry(), x);
    CHECK(a.total_s == b.total_s);
    CHECK(a.attention_s == b.attention_s);
    CHECK(a.decode_attention_s == b.decode_attention_s);
    CHECK(b.decode_bytes_read == b.decode_bytes_full);
  }
}

TEST_CASE("the engine's plans carry the selection, and metrics.csv its columns only when on") {
  const std::string text =
      "name = \"t\"\ndescription = \"d\"\nseed = 3\n[model]\nmax_model_len = 8192\n"
      "[hardware]\ngpu = \"h100\"\n[workload]\nnum_requests = 6\n"
      "[workload.prompt]\ndistribution = \"fixed\"\nvalue = 6000\n"
      "[workload.output]\ndistribution = \"fixed\"\nvalue = 40\n";
  const auto run = [&](const std::vector<std::string>& overrides, std::vector<StepMetrics>& rows) {
    Scenario s = parse(text, overrides);
    Engine e(s.engine, load_requests(s), std::make_unique<AccountingBackend>());
    while (!e.done()) {
      e.step();
      rows.push_back(e.last());
    }
    return s;
  };
  std::vector<StepMetrics> off, on;
  run({}, off);
  const Scenario s = run({"attention.selection.budget_tokens=1024"}, on);
  REQUIRE(off.size() == on.size());  // the cost model changes time, not the schedule here
  int64_t sparse_steps = 0;
  for (size_t i = 0; i < on.size(); ++i) {
    CAPTURE(i);
    CHECK(off[i].decode_blocks_read == off[i].decode_blocks_full);
    CHECK(off[i].decode_bytes_read == off[i].decode_bytes_full);
    CHECK(on[i].decode_blocks_full == off[i].decode_blocks_full);
    CHECK(on[i].decode_blocks_read <= on[i].decode_blocks_full);
    if (on[i].decode_tokens > 0) {
      // 6,000-token contexts at a budget of 1,024: 64 of 375+ blocks per decode.
      CHECK(on[i].decode_blocks_read == 64 * on[i].decode_tokens);
      CHECK(on[i].decode_bytes_read < on[i].decode_bytes_full / 3);
      CHECK(on[i].modelled_attention_ms < off[i].modelled_attention_ms);
      ++sparse_steps;
    }
  }
  CHECK(sparse_steps > 30);

  // metrics.csv: the four columns only with selection on, one cell per column.
  CHECK(metrics_csv_header(false) == metrics_csv_header());
  const std::vector<std::string> header = split(metrics_csv_header(true));
  REQUIRE(header.size() == split(metrics_csv_header()).size() + 4);
  CHECK(header[header.size() - 4] == "decode_blocks_full");
  CHECK(header.back() == "decode_bytes_read");
  const StepMetrics& m = on.back();
  std::string row, plain;
  append_metrics_csv_row(m, row, true);
  append_metrics_csv_row(m, plain);
  REQUIRE(row.back() == '\n');
  row.pop_back();
  const std::vector<std::string> cells = split(row);
  REQUIRE(cells.size() == header.size());
  CHECK(cells[header.size() - 4] == std::to_string(m.decode_blocks_full));
  CHECK(cells[header.size() - 3] == std::to_string(m.decode_blocks_read));
  CHECK(row.starts_with(plain.substr(0, plain.size() - 1) + ","));
}
