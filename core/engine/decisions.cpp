#include "core/engine/decisions.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/base/errors.h"
#include "core/base/strings.h"
#include "core/text/text_file.h"

namespace tinyserve {

uint64_t scheduled_digest(std::vector<std::pair<int64_t, int64_t>>& pairs) {
  std::sort(pairs.begin(), pairs.end());
  uint64_t h = kFnvOffset;
  auto put = [&](int64_t v) {
    auto u = static_cast<uint64_t>(v);
    for (int i = 0; i < 8; ++i) {
      h ^= (u >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  };
  for (const auto& [id, n] : pairs) {
    put(id);
    put(n);
  }
  return h;
}

namespace {

std::string hex16(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string ids(const std::vector<int64_t>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += cat(i ? "," : "", v[i]);
  return out + "]";
}

}  // namespace

std::string decisions_json(const StepDecisions& d) {
  return cat("{\"step\":", d.step, ",\"decode_reqs\":", d.decode_reqs,
             ",\"prefill_tokens\":", d.prefill_tokens, ",\"running\":", d.running,
             ",\"waiting\":", d.waiting, ",\"scheduled_digest\":\"", hex16(d.scheduled_digest),
             "\",\"admitted\":", ids(d.admitted), ",\"preempted\":", ids(d.preempted),
             ",\"finished\":", ids(d.finished), ",\"blocks_in_use\":", d.blocks_in_use,
             ",\"blocks_in_use_end\":", d.blocks_in_use_end,
             ",\"prefix_queries\":", d.prefix_queries, ",\"prefix_hits\":", d.prefix_hits,
             ",\"evicted_blocks\":", d.evicted_blocks, "}");
}

std::vector<StepDecisions> read_decisions(const std::string& path) {
  std::vector<StepDecisions> out;
  const std::string text = read_text_file(path);
  int64_t number = 0;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    try {
      const nlohmann::json j = nlohmann::json::parse(line);
      StepDecisions d;
      d.step = j.at("step").get<int64_t>();
      d.decode_reqs = j.at("decode_reqs").get<int32_t>();
      d.prefill_tokens = j.at("prefill_tokens").get<int64_t>();
      d.running = j.at("running").get<int32_t>();
      d.waiting = j.at("waiting").get<int32_t>();
      d.scheduled_digest = std::stoull(j.at("scheduled_digest").get<std::string>(), nullptr, 16);
      d.admitted = j.at("admitted").get<std::vector<int64_t>>();
      d.preempted = j.at("preempted").get<std::vector<int64_t>>();
      d.finished = j.at("finished").get<std::vector<int64_t>>();
      d.blocks_in_use = j.at("blocks_in_use").get<int32_t>();
      d.blocks_in_use_end = j.at("blocks_in_use_end").get<int32_t>();
      d.prefix_queries = j.at("prefix_queries").get<int64_t>();
      d.prefix_hits = j.at("prefix_hits").get<int64_t>();
      d.evicted_blocks = j.at("evicted_blocks").get<int64_t>();
      out.push_back(std::move(d));
    } catch (const std::exception& e) {
      throw_input_error(path, number, cat("expected a decision record: ", e.what()));
    }
  }
  return out;
}

std::span<const char* const> decision_columns() {
  static constexpr const char* kColumns[] = {
      "step",        "decode_reqs",      "prefill_tokens",    "running",
      "waiting",     "scheduled_digest", "admitted",          "preempted",
      "finished",    "blocks_in_use",    "blocks_in_use_end", "prefix_queries",
      "prefix_hits", "evicted_blocks"};
  return kColumns;
}

namespace {

std::vector<std::string> differing_columns(const StepDecisions& a, const StepDecisions& b) {
  std::vector<std::string> out;
  auto check = [&](bool same, const char* name) {
    if (!same) out.emplace_back(name);
  };
  check(a.step == b.step, "step");
  check(a.decode_reqs == b.decode_reqs, "decode_reqs");
  check(a.prefill_tokens == b.prefill_tokens, "prefill_tokens");
  check(a.running == b.running, "running");
  check(a.waiting == b.waiting, "waiting");
  check(a.scheduled_digest == b.scheduled_digest, "scheduled_digest");
  check(a.admitted == b.admitted, "admitted");
  check(a.preempted == b.preempted, "preempted");
  check(a.finished == b.finished, "finished");
  check(a.blocks_in_use == b.blocks_in_use, "blocks_in_use");
  check(a.blocks_in_use_end == b.blocks_in_use_end, "blocks_in_use_end");
  check(a.prefix_queries == b.prefix_queries, "prefix_queries");
  check(a.prefix_hits == b.prefix_hits, "prefix_hits");
  check(a.evicted_blocks == b.evicted_blocks, "evicted_blocks");
  return out;
}

}  // namespace

DecisionsComparison compare_decisions(std::span<const StepDecisions> expected,
                                      std::span<const StepDecisions> actual, int context) {
  DecisionsComparison c;
  c.expected_steps = static_cast<int64_t>(expected.size());
  c.actual_steps = static_cast<int64_t>(actual.size());
  const size_t n = std::min(expected.size(), actual.size());
  for (size_t i = 0; i < n; ++i) {
    if (expected[i] == actual[i]) {
      ++c.identical_steps;
    } else if (c.first_divergence < 0) {
      c.first_divergence = static_cast<int64_t>(i);
    }
  }
  if (c.first_divergence < 0 && expected.size() != actual.size()) {
    c.first_divergence = static_cast<int64_t>(n);
  }
  if (c.first_divergence < 0) return c;
  const auto at = static_cast<size_t>(c.first_divergence);
  c.report = cat("first divergence at record ", at, " of ", expected.size(), " expected (",
                 actual.size(), " actual)");
  if (at < n) {
    std::string cols;
    for (const std::string& col : differing_columns(expected[at], actual[at])) {
      cols += (cols.empty() ? "" : ", ") + col;
    }
    c.report += cat(", step ", expected[at].step, ": ", cols);
  }
  c.report += "\n";
  const size_t from = at > static_cast<size_t>(context) ? at - static_cast<size_t>(context) : 0;
  const size_t to =
      std::min(std::max(expected.size(), actual.size()), at + static_cast<size_t>(context) + 1);
  for (size_t i = from; i < to; ++i) {
    const char* mark = i == at ? ">>" : "  ";
    c.report +=
        cat(mark, " vllm      ", i < expected.size() ? decisions_json(expected[i]) : "-", "\n",
            mark, " tinyserve ", i < actual.size() ? decisions_json(actual[i]) : "-", "\n");
  }
  return c;
}

}  // namespace tinyserve
