#include "core/config/scenario_keys.h"

#include <cmath>

#include "core/base/strings.h"

namespace tinyserve {

namespace {

using namespace keys;

constexpr const KeySpec* kAll[] = {&kName,
                                   &kDescription,
                                   &kSeed,
                                   &kModelPreset,
                                   &kModelConfig,
                                   &kMaxModelLen,
                                   &kModelDtype,
                                   &kGpu,
                                   &kGpuMemory,
                                   &kGpuBandwidth,
                                   &kGpuFlops,
                                   &kGpuPcie,
                                   &kNumGpus,
                                   &kGpuUtil,
                                   &kNumGpuBlocks,
                                   &kSwapSpace,
                                   &kAllocator,
                                   &kReservation,
                                   &kBlockSize,
                                   &kKvDtype,
                                   &kFreeList,
                                   &kPrefixCaching,
                                   &kWatermark,
                                   &kSemantics,
                                   &kAsyncScheduling,
                                   &kMaxNumSeqs,
                                   &kMaxBatchedTokens,
                                   &kChunkedPrefill,
                                   &kPreemption,
                                   &kVictim,
                                   &kSource,
                                   &kNumRequests,
                                   &kTrace,
                                   &kTimeScale,
                                   &kRateScale,
                                   &kSamples,
                                   &kBeamWidth,
                                   &kPriorities,
                                   &kArrival,
                                   &kArrivalRate,
                                   &kArrivalShape,
                                   &kSystemLength,
                                   &kSystemCount,
                                   &k_prompt_distribution,
                                   &k_prompt_value,
                                   &k_prompt_min,
                                   &k_prompt_max,
                                   &k_prompt_exponent,
                                   &k_prompt_long_min,
                                   &k_prompt_long_max,
                                   &k_prompt_long_fraction,
                                   &k_output_distribution,
                                   &k_output_value,
                                   &k_output_min,
                                   &k_output_max,
                                   &k_output_exponent,
                                   &k_output_long_min,
                                   &k_output_long_max,
                                   &k_output_long_fraction,
                                   &kBackend,
                                   &kKernel,
                                   &kClock,
                                   &kGpuLayers,
                                   &kMaxSteps,
                                   &kCheckInvariants,
                                   &kSelectionBudgetTokens,
                                   &kSelectionBudgetRatio,
                                   &kSelectionGroupScore,
                                   &kKvPattern,
                                   &kFragA,
                                   &kFragB,
                                   &kFragC,
                                   &kSigma,
                                   &kTemporalDecay,
                                   &kGpuLatency,
                                   &kCpuLatency,
                                   &kMemEfficiency,
                                   &kComputeEfficiency,
                                   &kStepOverhead,
                                   &kProfile};

std::string number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return cat(static_cast<int64_t>(v));
  std::string text = cat(v);  // 9.2e+18 reads as 9.2e18
  if (const size_t plus = text.find("e+"); plus != std::string::npos) text.erase(plus + 1, 1);
  return text;
}

std::string_view type_name(KeyType t) {
  switch (t) {
    case KeyType::kInteger:
      return "integer";
    case KeyType::kNumber:
      return "number";
    case KeyType::kBoolean:
      return "boolean";
    case KeyType::kString:
      return "string";
    case KeyType::kPath:
      return "path";
    case KeyType::kChoice:
      return "choice";
  }
  return "?";
}

std::string default_text(const KeySpec& k) {
  if (!k.default_doc.empty()) return std::string(k.default_doc);
  switch (k.type) {
    case KeyType::kInteger:
    case KeyType::kNumber:
      return number(k.def);
    case KeyType::kBoolean:
      return k.def != 0 ? "true" : "false";
    case KeyType::kChoice:
      return cat('"', k.text_def, '"');
    case KeyType::kString:
    case KeyType::kPath:
      return k.text_def.empty() ? "(required)" : cat('"', k.text_def, '"');
  }
  return "";
}

std::string range_text(const KeySpec& k) {
  switch (k.type) {
    case KeyType::kInteger:
    case KeyType::kNumber:
      return cat(number(k.lo), " to ", number(k.hi));
    case KeyType::kChoice: {
      std::string out;
      for (std::string_view c : k.choices) out += cat(out.empty() ? "" : ", ", '"', c, '"');
      return out;
    }
    default:
      return "";
  }
}

std::string_view section_of(std::string_view key) {
  const size_t dot = key.find('.');
  return dot == std::string_view::npos ? std::string_view{} : key.substr(0, dot);
}

}  // namespace

std::span<const KeySpec* const> scenario_keys() {
  return kAll;
}

const KeySpec* find_key(std::string_view key) {
  for (const KeySpec* k : scenario_keys()) {
    if (k->key == key) return k;
  }
  return nullptr;
}

std::string scenario_keys_markdown() {
  std::string out;
  std::string_view section = "?";
  for (const KeySpec* k : scenario_keys()) {
    if (section_of(k->key) != section) {
      section = section_of(k->key);
      out +=
          cat("\n### ", section.empty() ? std::string("top level") : cat("[", section, "]"),
              "\n\n| key | type | default | range | meaning |\n| --- | --- | --- | --- | --- |\n");
    }
    out += cat("| `", k->key, "` | ", type_name(k->type), " | ", default_text(*k), " | ",
               range_text(*k), " | ", k->doc, " |\n");
  }
  return out;
}

}  // namespace tinyserve
