// Hostile scenario input (issue 11): keys deep enough to overflow toml++'s stack, the one rule for
// --set values, byte order marks, and the host memory a workload will take.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/base/errors.h"
#include "core/config/model.h"
#include "core/config/scenario.h"
#include "core/workload/trace.h"
#include "core/workload/workload.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;
using tinyserve::testing::TempDir;

namespace {

const std::string kBase =
    "name = \"t\"\ndescription = \"a test\"\n[hardware]\nnum_gpu_blocks = 1024\n[workload]\n"
    "num_requests = 5\n";

// The message of the InputError loading text (with overrides) gives, or "" when it loads.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  const auto e = input_error([&] { parse_scenario(text, "s.toml", overrides); });
  return e ? e->what() : "";
}

std::string parts(int64_t n, const std::string& part = "a") {
  std::string key = part;
  key.reserve(static_cast<size_t>(n) * (part.size() + 1));
  for (int64_t i = 1; i < n; ++i) key += "." + part;
  return key;
}

const char* kTooDeep =
    "key \"a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a...\" has more than 16 parts, expected at most 16 "
    "parts and 256 characters";

}  // namespace

TEST_CASE("keys of more than 16 parts or 256 characters are refused before toml++ reads them") {
  // A dotted key of 500,000 parts and a table header of 2,000,000 overflowed toml++'s stack.
  CHECK(error_of(kBase + parts(500'000) + " = 1\n") == std::string("s.toml:7: ") + kTooDeep);
  CHECK(error_of(kBase + "[" + parts(2'000'000) + "]\n") == std::string("s.toml:7: ") + kTooDeep);
  CHECK(error_of(kBase + "[[" + parts(100'000) + "]]\n") == std::string("s.toml:7: ") + kTooDeep);
  CHECK(error_of(kBase + "x = { y = 1, " + parts(17) + " = 2 }\n") ==
        std::string("s.toml:7: ") + kTooDeep);
  CHECK(
      error_of(kBase + "\"a\" . 'a' .a.a.a.a.a.a.a.a.a.a.a.a.a.a.a = 1\n")
          .starts_with("s.toml:7: key \"\\\"a\\\" . 'a' .a.a.a.a.a.a.a.a.a.a.a.a.a.a...\" has more "
                       "than 16 parts"));
  CHECK(error_of(kBase + std::string(257, 'k') + " = 1\n") ==
        "s.toml:7: key \"" + std::string(64, 'k') +
            "...\" is longer than 256 "
            "characters, expected at most 16 parts and 256 characters");
  CHECK(error_of(kBase + "[" + parts(16, std::string(20, 'b')) + "]\n")
            .ends_with(
                "is longer than 256 characters, expected at most 16 parts and 256 characters"));
  // The same limits for --set keys, and for keys inside a --set value.
  CHECK(error_of(kBase, {parts(65'000) + "=1"}) == "--set " + parts(40) + "....: " + kTooDeep);
  CHECK(error_of(kBase, {std::string(300, 'x') + "=1"})
            .ends_with("is longer than 256 characters, "
                       "expected at most 16 parts and "
                       "256 characters"));
  CHECK(error_of(kBase, {"workload.x={" + parts(17) + " = 1}"}).find(kTooDeep) !=
        std::string::npos);
}

TEST_CASE("keys within the limits, dotted values and long strings read as they did") {
  const std::string long_text(1000, 'x');
  CHECK(error_of("name = \"t\"\ndescription = \"" + long_text +
                 " a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r\"\n"
                 "hardware.num_gpu_blocks = 1024\n[workload . arrival]\nrate = 1.5\nprocess = "
                 "\"poisson\"\n"
                 "[\"workload\".prompt]\ndistribution = 'fixed'\nvalue = 12 # "
                 "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q\n") == "");
  // Sixteen parts are within the limit: the key is then just unknown.
  CHECK(error_of(kBase + parts(16, "z") + " = 1.5\n")
            .starts_with("s.toml:7: workload.z: unknown key"));
  CHECK(error_of(kBase, {parts(16, "z") + "=1"})
            .starts_with("--set " + parts(16, "z") + "=1: unknown key"));
  // A long string in a multi-line array is a value, not a header, whatever its line starts with.
  CHECK(error_of(kBase + "x = [\n[\"" + long_text + "\"],\n]\n")
            .starts_with("s.toml:7: workload.x: unknown key"));
}

TEST_CASE("a --set value is one TOML value and nothing else, or a word taken as text") {
  const auto block_size = [](const std::string& value) {
    return parse_scenario(kBase, "s.toml", {"cache.block_size=" + value})
        .engine.geometry.block_size;
  };
  CHECK(block_size("32") == 32);
  CHECK(block_size(" 32 ") == 32);
  CHECK(block_size("0x20") == 32);  // TOML's own forms, as in a file
  CHECK(block_size("+32") == 32);
  CHECK(error_of(kBase, {"cache.block_size=16 # comment"}) ==
        "--set cache.block_size=16 # comment: a comment after the value, expected the value alone");
  CHECK(error_of(kBase, {"cache.block_size=16\nfoo = 1"}) ==
        "--set cache.block_size=16\\x0afoo = 1: a line break in the value, expected one value on "
        "one line");
  CHECK(
      error_of(kBase, {"cache.block_size=1e400"}) ==
      "--set cache.block_size=1e400: malformed value (Error while parsing floating-point: '1e400' "
      "could not be interpreted as a value), expected one TOML value such as 16, 0.5, true, "
      "\"text\" "
      "or [1, 2]");
  CHECK(error_of(kBase, {"cache.block_size=16 17"})
            .starts_with("--set cache.block_size=16 17: malformed value ("));
  CHECK(error_of(kBase, {"name=\"unterminated"})
            .starts_with("--set name=\"unterminated: malformed value ("));
  CHECK(error_of(kBase, {"cache.block_size=[1, 2"})
            .starts_with("--set cache.block_size=[1, 2: malformed value ("));
  CHECK(error_of(kBase, {"cache.block_size=many"}) ==
        "--set cache.block_size=many: expected an integer, found a string");
  // Words are text, as they are.
  CHECK(parse_scenario(kBase, "s.toml", {"name=../../x"}).name == "../../x");
  CHECK(parse_scenario(kBase, "s.toml", {"description=two words"}).description == "two words");
  CHECK(parse_scenario(kBase, "s.toml", {"description=a # b"}).description == "a # b");
  CHECK(
      parse_scenario(kBase, "s.toml", {"scheduler.semantics=vllm-v0", "cache.allocator=contiguous"})
          .engine.paged() == false);
  CHECK(parse_scenario(kBase, "s.toml", {"name=\"quoted # not a comment\""}).name ==
        "quoted # not a comment");
  // A long override is cut in messages, which stay one line.
  CHECK(error_of(kBase, {"cache.block_size=" + std::string(200, '9')})
            .starts_with("--set cache.block_size=" + std::string(63, '9') +
                         "...: malformed value ("));
}

TEST_CASE("an unknown key in a table a --set creates names the --set, not the file") {
  CHECK(error_of(kBase, {"a.b=1"})
            .starts_with("--set a.b=1: unknown key (known here: attention, cache, "));
  CHECK(error_of(kBase, {"scheduler.bogus.x=1"})
            .starts_with("--set scheduler.bogus.x=1: unknown key"));
  // A table of the file keeps naming the file.
  CHECK(error_of(kBase + "[bogus]\nx = 1\n", {"bogus.y=2"})
            .starts_with("s.toml:7: bogus: unknown key"));
}

TEST_CASE("a leading UTF-8 byte order mark is accepted in scenarios, traces and model configs") {
  const std::string bom = "\xEF\xBB\xBF";
  CHECK(error_of(bom + kBase) == "");
  CHECK(parse_scenario(bom + kBase, "s.toml").name == "t");
  CHECK(
      error_of(bom + "name = \"t\"\n[x\n").starts_with("s.toml:2: malformed TOML"));  // lines kept
  const auto mooncake = parse_mooncake_trace(
      bom + "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [1]}\n",
      "m.jsonl");
  REQUIRE(mooncake.size() == 1);
  CHECK(mooncake[0].prompt_len() == 10);
  const auto azure = parse_azure_trace(bom +
                                           "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                           "2023-11-16 18:15:46.6805900,374,44\n",
                                       "a.csv");
  REQUIRE(azure.size() == 1);
  CHECK(azure[0].output_len == 44);
  TempDir dir;
  const ModelSpec model = load_hf_config(
      dir.write("config.json", bom + R"({"hidden_size": 4096, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
        "vocab_size": 128256, "max_position_embeddings": 8192})"));
  CHECK(model.num_kv_heads == 8);
}

TEST_CASE(
    "a synthetic workload's host memory is estimated from its lengths before it is generated") {
  WorkloadConfig c;
  c.num_requests = 2000;
  c.prompt_len.kind = LengthKind::kFixed;
  c.prompt_len.value = 300;
  c.output_len.kind = LengthKind::kFixed;
  c.output_len.value = 20;
  c.system_prompt.length = 1000;
  const auto counted = [](const WorkloadConfig& config) {
    int64_t bytes = 0;
    for (const RequestSpec& r : generate_workload(config, 7)) bytes += request_host_bytes(r);
    return static_cast<double>(bytes);
  };
  CHECK(expected_host_bytes(c) == 2000 * (kRequestHostBytes + kTokenHostBytes * 1320));
  CHECK(static_cast<double>(expected_host_bytes(c)) == counted(c));
  // Drawn lengths: the expectation is within a few percent of what is drawn.
  for (const LengthKind kind : {LengthKind::kUniform, LengthKind::kZipf, LengthKind::kMix}) {
    CAPTURE(static_cast<int>(kind));
    c.prompt_len = seed_mix();
    c.prompt_len.kind = kind;
    c.prompt_len.zipf_exponent = 1.2;
    c.system_prompt.length = 0;
    const double expected = static_cast<double>(expected_host_bytes(c));
    CHECK(expected == doctest::Approx(counted(c)).epsilon(0.05));
  }
  // Ten million requests of a ten-million-token system prompt: hundreds of terabytes.
  c.num_requests = 10'000'000;
  c.system_prompt.length = 10'000'000;
  CHECK(expected_host_bytes(c) > int64_t{400} * 1'000'000'000'000);
}
