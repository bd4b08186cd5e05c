#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <unordered_set>

#include "core/base/rng.h"
#include "core/memory/prefix_cache.h"
#include "core/workload/trace.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;
using tinyserve::testing::source_path;
using tinyserve::testing::TempDir;

namespace {

const std::string kAzureConv = source_path("assets/traces/AzureLLMInferenceTrace_conv.csv");
const std::string kAzureCode = source_path("assets/traces/AzureLLMInferenceTrace_code.csv");
const std::string kMooncakeConv = source_path("assets/traces/mooncake_conversation_trace.jsonl");
const std::string kMooncakeSynth = source_path("assets/traces/mooncake_synthetic_trace.jsonl");

const char* const kAzureHead =
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:15:46.6805900,374,44\n"
    "2023-11-16 18:15:50.9951690,396,109\n"
    "2023-11-16 18:15:51.2224670,879,55\n";

const char* const kMooncakeHead =
    "{\"timestamp\": 0, \"input_length\": 1100, \"output_length\": 5, \"hash_ids\": [0, 1, 2]}\n"
    "{\"timestamp\": 10, \"input_length\": 600, \"output_length\": 7, \"hash_ids\": [0, 3]}\n"
    "{\"timestamp\": 2500, \"input_length\": 512, \"output_length\": 1, \"hash_ids\": [4]}\n";

int64_t total_prompt(const std::vector<RequestSpec>& requests) {
  int64_t sum = 0;
  for (const RequestSpec& r : requests) sum += r.prompt_len();
  return sum;
}

int64_t total_output(const std::vector<RequestSpec>& requests) {
  int64_t sum = 0;
  for (const RequestSpec& r : requests) sum += r.output_len;
  return sum;
}

// Fraction of prompt tokens that continue a prefix some earlier request already had, from the
// segments alone: a segment counts when the chain of contents up to it was seen before.
double repeated_prefix_fraction(const std::vector<RequestSpec>& requests) {
  std::unordered_set<uint64_t> seen;
  int64_t repeated = 0, total = 0;
  std::vector<uint64_t> chain;
  for (const RequestSpec& r : requests) {
    chain.clear();
    uint64_t h = 0;
    bool continuing = true;
    for (const PromptSegment& s : r.prompt) {
      h = hash_combine(h, s.content);
      chain.push_back(h);
      continuing = continuing && seen.count(h) > 0;
      if (continuing) repeated += s.length;
      total += s.length;
    }
    seen.insert(chain.begin(), chain.end());
  }
  return static_cast<double>(repeated) / static_cast<double>(total);
}

// Runs a reader on content written to a file; returns the error it throws.
template <typename Reader>
std::optional<InputError> error_for(Reader reader, const std::string& content,
                                    std::string* path_out = nullptr) {
  TempDir dir;
  const std::string path = dir.write("trace", content);
  if (path_out != nullptr) *path_out = path;
  return input_error([&] { reader(path, TraceOptions{}, nullptr); });
}

void check_error(const std::optional<InputError>& e, int64_t line, const std::string& part) {
  REQUIRE_MESSAGE(e, "expected an error containing ", part);
  CHECK_MESSAGE(e->line() == line, std::string(e->what()));
  CHECK_MESSAGE(std::string(e->what()).find(part) != std::string::npos, std::string(e->what()));
  CHECK_MESSAGE(std::string(e->what()).find('\n') == std::string::npos, std::string(e->what()));
}

}  // namespace

// ---- Azure ---------------------------------------------------------------------------------

TEST_CASE("the Azure conversation trace has 19,366 requests with the published statistics") {
  TraceStats stats;
  const std::vector<RequestSpec> r = read_azure_trace(kAzureConv, {}, &stats);
  REQUIRE(r.size() == 19'366);
  CHECK(stats.requests == 19'366);
  CHECK(r[0].id == 0);
  CHECK(r[0].arrival == 0.0);
  CHECK(r[0].prompt_len() == 374);
  CHECK(r[0].output_len == 44);
  CHECK(r[1].arrival == doctest::Approx(4.314579).epsilon(1e-9));
  CHECK(r[1].prompt_len() == 396);
  CHECK(r[1].output_len == 109);
  CHECK(r.back().id == 19'365);
  CHECK(r.back().arrival == doctest::Approx(3501.721937).epsilon(1e-9));
  CHECK(r.back().prompt_len() == 197);
  CHECK(r.back().output_len == 183);
  CHECK(total_prompt(r) == 22'361'870);  // mean 1,155
  CHECK(total_output(r) == 4'088'665);   // mean 211
  std::set<uint64_t> contents;
  for (const RequestSpec& q : r) {
    REQUIRE(q.prompt.size() == 1);
    contents.insert(q.prompt[0].content);
    CHECK(q.n == 1);
    CHECK(q.beam_width == 1);
  }
  CHECK(contents.size() == r.size());
}

TEST_CASE("the Azure code trace has 8,819 requests") {
  const std::vector<RequestSpec> r = read_azure_trace(kAzureCode);
  REQUIRE(r.size() == 8'819);
  CHECK(r[0].prompt_len() == 4808);
  CHECK(r[0].output_len == 10);
  CHECK(r[1].arrival == doctest::Approx(0.052).epsilon(1e-9));
  CHECK(r.back().arrival == doctest::Approx(3435.948056).epsilon(1e-9));
  CHECK(total_prompt(r) == 18'059'974);  // mean 2,048
  CHECK(total_output(r) == 245'896);     // mean 28
}

TEST_CASE("trace options limit the rows and scale time") {
  TraceOptions options;
  options.max_requests = 100;
  options.time_scale = 0.5;
  const std::vector<RequestSpec> r = read_azure_trace(kAzureConv, options);
  REQUIRE(r.size() == 100);
  CHECK(r[1].arrival == doctest::Approx(4.314579 / 2).epsilon(1e-9));
}

TEST_CASE("the test slice of the Azure trace reads as the head of the whole trace") {
  const std::vector<RequestSpec> slice =
      read_azure_trace(source_path("tests/data/azure_conv_head.csv"));
  TraceOptions head;
  head.max_requests = 50;
  const std::vector<RequestSpec> whole = read_azure_trace(kAzureConv, head);
  REQUIRE(slice.size() == 50);
  for (size_t i = 0; i < slice.size(); ++i) {
    CHECK(slice[i].arrival == whole[i].arrival);
    CHECK(slice[i].prompt_len() == whole[i].prompt_len());
    CHECK(slice[i].output_len == whole[i].output_len);
  }
}

TEST_CASE("Azure rows tolerate CRLF, a byte-order mark, blank lines and reordered columns") {
  TempDir dir;
  const std::vector<RequestSpec> r =
      read_azure_trace(dir.write("t.csv",
                                 "\xEF\xBB\xBFGeneratedTokens,TIMESTAMP,ContextTokens\r\n"
                                 "44,2023-11-16 18:15:46.6805900,374\r\n\r\n"
                                 "109,2023-11-16 18:15:50.9951690,396\r\n"
                                 "1,2023-11-16T18:15:51,2\n\n"));
  REQUIRE(r.size() == 3);
  CHECK(r[0].prompt_len() == 374);
  CHECK(r[0].output_len == 44);
  CHECK(r[1].arrival == doctest::Approx(4.314579));
  CHECK(r[2].arrival == doctest::Approx(4.31941));
}

TEST_CASE("Azure timestamps far apart in years do not overflow") {
  TempDir dir;
  const std::vector<RequestSpec> r = read_azure_trace(
      dir.write("t.csv",
                "TIMESTAMP,ContextTokens,GeneratedTokens\n0001-01-01 00:00:00,1,1\n"
                "9999-12-31 23:59:59.999999999,1,1\n"));
  REQUIRE(r.size() == 2);
  // 3,652,058 days and 86,399.999999999 seconds.
  CHECK(r[1].arrival == doctest::Approx(3'652'058.0 * 86'400 + 86'399.999999999));
}

TEST_CASE("a malformed Azure row names the file and the line") {
  const auto azure = [](const std::string& path, const TraceOptions& o, TraceStats* s) {
    read_azure_trace(path, o, s);
  };
  const std::string header = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  const std::string good = "2023-11-16 18:15:46.6805900,374,44\n";
  std::string path;
  const auto e = error_for(azure, header + good + "2023-11-16 18:15:47.0,12\n", &path);
  check_error(e, 3, "expected 3 comma-separated fields");
  CHECK(e->file() == path);
  CHECK(std::string(e->what()).find(path + ":3: ") == 0);

  check_error(error_for(azure, header + good + good + "2023-11-16 18:15:47.0,1,2,3\n"), 4,
              "found 4");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,abc,2\n"), 2,
              "ContextTokens: expected a whole number of tokens >= 1, found \"abc\"");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,10,-3\n"), 2,
              "GeneratedTokens: expected a whole number of tokens >= 1, found a negative number");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,0,3\n"), 2, "found 0");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,12.5,3\n"), 2, "found \"12.5\"");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,,3\n"), 2, "found nothing");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.0,99999999999,3\n"), 2,
              "which is above 2147483647");
  check_error(error_for(azure, header + good + "\n" + "2023-13-16 18:15:47.0,1,3\n"), 4,
              "TIMESTAMP: expected a date and time");
  check_error(error_for(azure, header + "2023-02-29 18:15:47.0,1,3\n"), 2, "TIMESTAMP");
  check_error(error_for(azure, header + "2023-11-16 24:00:00,1,3\n"), 2, "TIMESTAMP");
  check_error(error_for(azure, header + "2023-11-16 18:15:47.1234567890,1,3\n"), 2, "TIMESTAMP");
  check_error(error_for(azure, header + "1700158546.68,1,3\n"), 2, "TIMESTAMP");
  check_error(error_for(azure, header + good + "2023-11-16 18:15:46.6805899,1,3\n"), 3,
              "expected times in non-decreasing order");
  check_error(error_for(azure, "TIMESTAMP,ContextTokens\n" + good), 1, "expected the header");
  check_error(error_for(azure, "TIMESTAMP,ContextTokens,GeneratedTokens,Extra\n" + good), 1,
              "expected the header");
  check_error(error_for(azure, "TIMESTAMP,ContextTokens,ContextTokens\n" + good), 1,
              "expected the header");
  check_error(error_for(azure, good), 1, "expected the header");
  check_error(error_for(azure, ""), 0, "empty file");
  check_error(error_for(azure, "\n \n"), 0, "empty file");
  check_error(error_for(azure, header), 0, "no rows after the header");
}

TEST_CASE("a trace path that is missing, a directory or not a file is an input error") {
  TempDir dir;
  check_error(input_error([&] { read_azure_trace(dir.path("none.csv")); }), 0, "no such file");
  check_error(input_error([&] { read_mooncake_trace(dir.path("")); }), 0, "is a directory");
  check_error(input_error([&] { read_azure_trace("/dev/null"); }), 0, "not a regular file");
  check_error(input_error([&] { read_azure_trace(""); }), 0, "no file name");
}

TEST_CASE("trace options out of range are input errors") {
  TraceOptions o;
  o.time_scale = 0.0;
  check_error(input_error([&] { read_azure_trace(kAzureConv, o); }), 0, "time_scale");
  o = {};
  o.max_requests = -1;
  check_error(input_error([&] { read_mooncake_trace(kMooncakeConv, o); }), 0, "max_requests");
}

// ---- Mooncake ------------------------------------------------------------------------------

TEST_CASE("the Mooncake conversation trace has 12,031 requests whose hash ids become segments") {
  TraceStats stats;
  const std::vector<RequestSpec> r = read_mooncake_trace(kMooncakeConv, {}, &stats);
  REQUIRE(r.size() == 12'031);
  CHECK(stats.hash_mismatch == 0);
  // {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, ..., 13]}
  CHECK(r[0].arrival == 0.0);
  CHECK(r[0].prompt_len() == 6758);
  CHECK(r[0].output_len == 500);
  REQUIRE(r[0].prompt.size() == 14);
  for (size_t i = 0; i + 1 < 14; ++i) CHECK(r[0].prompt[i].length == 512);
  CHECK(r[0].prompt[13].length == 6758 - 13 * 512);
  // The second request starts with hash id 0 too, then goes its own way.
  REQUIRE(r[1].prompt.size() == 15);
  CHECK(r[1].prompt[0].content == r[0].prompt[0].content);
  CHECK(r[1].prompt[1].content != r[0].prompt[1].content);
  CHECK(r.back().arrival == doctest::Approx(3536.999));
  CHECK(total_prompt(r) == 144'793'823);
  CHECK(total_output(r) == 4'122'048);
  // The README: about 37% of prompt tokens repeat an earlier request's prefix.
  CHECK(repeated_prefix_fraction(r) == doctest::Approx(0.3736).epsilon(0.002));
}

TEST_CASE("the Mooncake synthetic trace has 3,993 requests and shares about 65% of tokens") {
  const std::vector<RequestSpec> r = read_mooncake_trace(kMooncakeSynth);
  REQUIRE(r.size() == 3'993);
  CHECK(r[0].prompt_len() == 40160);
  CHECK(r[0].output_len == 6);
  CHECK(r[0].prompt.size() == 79);
  CHECK(r[2].arrival == doctest::Approx(0.040));
  CHECK(r.back().arrival == doctest::Approx(1022.025));
  CHECK(total_prompt(r) == 61'194'628);
  CHECK(repeated_prefix_fraction(r) == doctest::Approx(0.6512).epsilon(0.002));
}

TEST_CASE("requests sharing leading hash ids share token ids and block hashes at any block size") {
  TempDir dir;
  const std::vector<RequestSpec> r = read_mooncake_trace(dir.write("t.jsonl", kMooncakeHead));
  REQUIRE(r.size() == 3);
  std::vector<TokenId> a, b, c;
  append_prompt_tokens(r[0], a);
  append_prompt_tokens(r[1], b);
  append_prompt_tokens(r[2], c);
  CHECK(a.size() == 1100);
  CHECK(b.size() == 600);
  CHECK(std::equal(a.begin(), a.begin() + 512, b.begin()));
  CHECK(!std::equal(a.begin() + 512, a.begin() + 600, b.begin() + 512));
  CHECK(!std::equal(a.begin(), a.begin() + 512, c.begin()));
  for (int32_t block_size : {16, 32, 100, 512}) {
    std::vector<BlockHash> ha, hb;
    hash_chain(a, block_size, static_cast<int32_t>(a.size()) / block_size, ha);
    hash_chain(b, block_size, static_cast<int32_t>(b.size()) / block_size, hb);
    size_t common = 0;
    while (common < hb.size() && ha[common] == hb[common]) ++common;
    CHECK_MESSAGE(common == static_cast<size_t>(512 / block_size), "block size ", block_size);
  }
  CHECK(r[1].arrival == doctest::Approx(0.010));
  CHECK(r[2].arrival == doctest::Approx(2.5));
}

TEST_CASE("Mooncake rows whose length disagrees with their hash ids follow input_length") {
  TempDir dir;
  TraceStats stats;
  const std::vector<RequestSpec> r = read_mooncake_trace(
      dir.write("t.jsonl",
                "{\"timestamp\": 0, \"input_length\": 1300, \"output_length\": 1, "
                "\"hash_ids\": [7]}\n"
                "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 1, "
                "\"hash_ids\": [7, 8, 9, 10]}\n"
                "{\"timestamp\": 0, \"input_length\": 30, \"output_length\": 1, \"hash_ids\": []}\n"
                "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 1, "
                "\"hash_ids\": [7, 8]}\n"),
      {}, &stats);
  CHECK(stats.hash_mismatch == 3);
  REQUIRE(r[0].prompt.size() == 2);  // id 7, then 788 tokens of its own
  CHECK(r[0].prompt[1].length == 788);
  REQUIRE(r[1].prompt.size() == 2);  // ids 7 and 8 (88 tokens); 9 and 10 dropped
  CHECK(r[1].prompt[1].length == 88);
  CHECK(r[1].prompt[0].content == r[0].prompt[0].content);
  CHECK(r[0].prompt[1].content != r[1].prompt[1].content);
  REQUIRE(r[2].prompt.size() == 1);
  CHECK(r[2].prompt_len() == 30);
  CHECK(r[3].prompt.size() == 2);
}

TEST_CASE("a malformed Mooncake line names the file, the line and the column") {
  const auto mooncake = [](const std::string& path, const TraceOptions& o, TraceStats* s) {
    read_mooncake_trace(path, o, s);
  };
  const std::string good =
      "{\"timestamp\": 5, \"input_length\": 600, \"output_length\": 7, \"hash_ids\": [0, 3]}\n";
  auto row = [](const std::string& ts, const std::string& in, const std::string& out,
                const std::string& ids) {
    return "{\"timestamp\": " + ts + ", \"input_length\": " + in + ", \"output_length\": " + out +
           ", \"hash_ids\": " + ids + "}\n";
  };
  std::string path;
  const auto e =
      error_for(mooncake, good + good + "{\"timestamp\": 5, \"input_length\": 6\n", &path);
  check_error(e, 3, "column 35: expected ',' or '}'");
  CHECK(e->file() == path);

  check_error(error_for(mooncake, good + "\n" + row("5", "\"600\"", "1", "[]")), 3,
              "input_length: expected a whole number of tokens >= 1, found a string");
  check_error(error_for(mooncake, row("5", "0", "1", "[]")), 1, "input_length: expected");
  check_error(
      error_for(mooncake, row("5", "10", "-1", "[]")), 1,
      "output_length: expected a whole number of tokens >= 1, found the negative number -1");
  check_error(error_for(mooncake, row("5", "10.5", "1", "[]")), 1, "found the fraction 10.5");
  check_error(error_for(mooncake, row("5", "3000000000", "1", "[]")), 1, "which is too large");
  check_error(error_for(mooncake, row("5", "1e3", "1", "[]")), 1, "found the fraction 1e3");
  check_error(error_for(mooncake, row("5", "10", "1", "{}")), 1,
              "hash_ids: expected an array of whole numbers, found an object");
  check_error(error_for(mooncake, row("5", "10", "1", "[1, -2]")), 1,
              "hash_ids: expected a whole number >= 0, found the negative number -2");
  check_error(error_for(mooncake, row("5", "10", "1", "[18446744073709551616]")), 1,
              "which is too large");
  check_error(error_for(mooncake, row("5", "10", "1", "[1, \"a\"]")), 1, "found a string");
  check_error(error_for(mooncake, row("5", "10", "1", "[1 2]")), 1, "expected ',' or ']'");
  check_error(error_for(mooncake, row("\"now\"", "10", "1", "[]")), 1,
              "timestamp: expected milliseconds >= 0, found a string");
  check_error(error_for(mooncake, row("-4", "10", "1", "[]")), 1, "the negative number -4");
  check_error(error_for(mooncake, good + row("4", "10", "1", "[]")), 2,
              "expected times in non-decreasing order, found 4 ms after 5 ms");
  check_error(
      error_for(mooncake, "{\"timestamp\": 5, \"input_length\": 6, \"output_length\": 1}\n"), 1,
      "missing key \"hash_ids\"");
  check_error(error_for(mooncake, "{\"timestamp\": 5, \"timestamp\": 6}\n"), 1, "duplicate key");
  check_error(error_for(mooncake, good + "[1, 2]\n"), 2, "expected a JSON object '{'");
  check_error(error_for(mooncake, good + good + "{} {}\n"), 3, "expected the end of the line");
  check_error(error_for(mooncake, "{\"timestamp: 5}\n"), 1, "unterminated string");
  check_error(error_for(mooncake, "{timestamp: 5}\n"), 1, "expected a string");
  check_error(error_for(mooncake, ""), 0, "empty file");
  check_error(error_for(mooncake, "\n\n  \n"), 0, "no requests");
}

TEST_CASE("unknown Mooncake keys are skipped whatever their value, nesting within reason") {
  TempDir dir;
  const std::vector<RequestSpec> r = read_mooncake_trace(dir.write(
      "t.jsonl",
      "{\"session\": {\"a\": [1, 2.5e3, \"x\\\"y\\u00e9\", true, false, null, {}]}, "
      "\"timestamp\": 1.5, \"input_length\": 3, \"output_length\": 2, \"hash_ids\": [9]}\n"));
  REQUIRE(r.size() == 1);
  CHECK(r[0].prompt_len() == 3);
  const std::string deep = "{\"x\": " + std::string(100, '[') + std::string(100, ']') +
                           ", \"timestamp\": 0, \"input_length\": 3, \"output_length\": 2, "
                           "\"hash_ids\": []}\n";
  const auto mooncake = [](const std::string& path, const TraceOptions& o, TraceStats* s) {
    read_mooncake_trace(path, o, s);
  };
  check_error(error_for(mooncake, deep), 1, "nested too deeply");
  check_error(error_for(mooncake, std::string(100'000, '[')), 1, "expected a JSON object");
  check_error(error_for(mooncake, "{\"x\": " + std::string(100'000, '[')), 1, "nested too deeply");
}

TEST_CASE("corrupted traces give input errors, never a crash or another exception") {
  // Random byte edits of valid inputs: each run must return or throw InputError.
  const std::string azure = std::string(kAzureHead) + "2023-11-16 18:15:52.0,1,2\n";
  const std::string mooncake = kMooncakeHead;
  Rng rng(99);
  TempDir dir;
  int errors = 0, other = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const bool is_azure = trial % 2 == 0;
    std::string text = is_azure ? azure : mooncake;
    const int edits = 1 + static_cast<int>(rng.below(4));
    for (int k = 0; k < edits; ++k) {
      const size_t at = rng.below(text.size());
      switch (rng.below(3)) {
        case 0:
          text[at] = static_cast<char>(rng.below(256));
          break;
        case 1:
          text.erase(at, 1);
          break;
        default:
          text.insert(at, 1, "{}[],:\"0-9.e\n\r\\ "[rng.below(17)]);
      }
    }
    const std::string path = dir.write("fuzz", text);
    try {
      if (is_azure) {
        read_azure_trace(path);
      } else {
        read_mooncake_trace(path);
      }
    } catch (const InputError&) {
      ++errors;
    } catch (...) {
      ++other;
    }
  }
  CHECK(other == 0);
  CHECK(errors > 1000);
}
