#include <doctest/doctest.h>

#include <sstream>

#include "core/config/model.h"
#include "core/config/scenario.h"
#include "core/engine/engine.h"
#include "gpu/tools/calibrate.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

TEST_SUITE("gpu") {
  TEST_CASE("a quick calibration of one model measures every grid point, slower for more work") {
    if (skip_without_gpu()) return;
    gpu::CalibrateOptions options;
    options.models = {"Llama-3-8B"};
    options.quick = true;
    options.repetitions = 3;
    std::ostringstream log;
    const GpuProfile p = gpu::calibrate(options, log);
    INFO(log.str());
    CHECK(!p.gpu.empty());
    CHECK(p.launch_us > 0);
    CHECK(p.launch_us < 100);
    CHECK(p.copy_gb_s > 10);
    CHECK(p.swap_gb_s > 0.1);
    CHECK(p.gemms.size() == 5);  // QKV, O, gate/up, down, LM head
    for (const GemmTable& t : p.gemms) {
      CAPTURE(t.n);
      CAPTURE(t.k);
      REQUIRE(t.tokens.size() == t.us.size());
      for (double us : t.us) CHECK(us > 0);
      CHECK(t.us.back() > t.us.front());  // 1,024 tokens take longer than one
    }
    REQUIRE(p.decodes.size() == 1);
    for (const DecodeRow& r : p.decodes[0].rows) {
      CAPTURE(r.batch);
      REQUIRE(!r.us.empty());
      CHECK(r.us.back() > r.us.front());  // a longer context reads more
    }
    REQUIRE(p.prefills.size() == 1);
    for (const PrefillRow& r : p.prefills[0].rows) {
      CAPTURE(r.chunks);
      CAPTURE(r.prefix);
      REQUIRE(r.length.size() > 4);
      CHECK(r.us.back() > 2 * r.us.front());
    }
    // What calibrate writes, the cost model reads back.
    const GpuProfile q = parse_gpu_profile(gpu_profile_toml(p), "calibrated.toml");
    CHECK(q.gemms.size() == p.gemms.size());
    CHECK(q.decode_us(p.decodes[0].shape, 8, 8 * 1024) > 0);
  }

  TEST_CASE(
      "the step measurer times a scenario's steps: attention per kind, GEMMs per token count") {
    if (skip_without_gpu()) return;
    const std::string path = find_scenario("shared_prefix");
    Scenario sc = load_scenario(
        path, {"hardware.num_gpu_blocks=4096", "engine.max_steps=40", "cost.profile=none"});
    auto created = gpu::StepMeasurer::create(sc.engine.geometry, sc.engine.cost.shapes, 3);
    REQUIRE_MESSAGE(created.ok(), created.status.error);
    gpu::StepMeasurer* m = created.value.get();
    Engine engine(sc.engine, load_requests(sc), std::move(created.value));
    int64_t prefills = 0, decodes = 0;
    while (!engine.done()) {
      engine.step();
      const StepWork& w = engine.last_work();
      const StepMetrics& s = engine.last();
      if (w.prefill_chunks > 0) {
        CHECK(s.prefill_attention_ms > 0);
        ++prefills;
      }
      if (w.decode_seqs > 0) {
        CHECK(s.decode_attention_ms > 0);
        ++decodes;
      }
    }
    CHECK(prefills > 0);
    CHECK(decodes > 0);
    const double one = m->gemm_ms(1);
    const double many = m->gemm_ms(4096);
    CHECK(one > 0);
    CHECK(many > 4 * one);
    CHECK(m->gemm_ms(4096) == many);  // measured once per token count
    CHECK(m->lm_head_ms(256) > 0);
    CHECK(m->gemm_ms(0) == 0);
  }
}
