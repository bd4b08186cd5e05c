// Readers of real request traces: the Azure LLM inference CSVs (arrival, prompt and output
// lengths) and the Mooncake JSONL files, whose 512-token hash_ids become shared prompt content.
// Every malformed input is an InputError naming the file, the 1-based line and what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/workload/request.h"

namespace tinyserve {

// Tokens named by one Mooncake hash id.
inline constexpr int32_t kMooncakeBlockTokens = 512;

struct TraceOptions {
  int64_t max_requests = 0;  // read at most this many rows (0: all); later lines are not read
  double time_scale = 1.0;   // arrival = offset from the first row x time_scale (< 1: denser)
};

struct TraceStats {
  int64_t requests = 0;       // rows turned into requests
  int64_t hash_mismatch = 0;  // Mooncake rows whose input_length disagrees with their hash_ids
                              // (none in the shipped traces; see read_mooncake_trace)
};

// Header TIMESTAMP,ContextTokens,GeneratedTokens (any order, names case-insensitive); timestamps
// "YYYY-MM-DD HH:MM:SS[.fraction]" in non-decreasing order. Each request's prompt is one segment
// of content unique to its row.
std::vector<RequestSpec> read_azure_trace(const std::string& path, const TraceOptions& options = {},
                                          TraceStats* stats = nullptr);

// One JSON object per line with timestamp (ms, non-decreasing), input_length, output_length and
// hash_ids; other keys are ignored. Hash id i covers prompt tokens [512 i, 512 (i + 1)) and becomes
// one segment whose content derives from the id alone, so requests sharing leading ids share those
// tokens; the last segment holds the remainder of input_length. A row is consistent when
// 512 (len - 1) < input_length <= 512 len. Otherwise input_length wins: ids past the tokens are
// dropped, and tokens past the ids form one last segment of content unique to the row; the row
// counts in hash_mismatch.
std::vector<RequestSpec> read_mooncake_trace(const std::string& path,
                                             const TraceOptions& options = {},
                                             TraceStats* stats = nullptr);

// The same on text already in memory; origin names it in errors.
std::vector<RequestSpec> parse_azure_trace(std::string_view text, const std::string& origin,
                                           const TraceOptions& options = {},
                                           TraceStats* stats = nullptr);
std::vector<RequestSpec> parse_mooncake_trace(std::string_view text, const std::string& origin,
                                              const TraceOptions& options = {},
                                              TraceStats* stats = nullptr);

}  // namespace tinyserve
