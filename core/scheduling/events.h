// Everything the engine decides is an event: the headless run writes them to events.jsonl and the
// GUI's event log shows the recent ones.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/base/ids.h"

namespace tinyserve {

enum class EventKind : uint8_t {
  kArrive,            // a request entered the waiting queue
  kAdmit,             // its prompt got blocks (a = blocks held, b = prompt tokens)
  kPrefixHit,         // a = prompt tokens found in the prefix cache
  kFork,              // seq forked from parent (a = parent seq)
  kCopyOnWrite,       // a = source block, b = destination block
  kEvict,             // a = cached blocks evicted this step to make room, b = the first one
  kPreemptRecompute,  // a = tokens that will be recomputed
  kPreemptSwap,       // a = blocks swapped out to the CPU
  kSwapIn,            // a = blocks swapped back in
  kFree,              // a = blocks released
  kFinish,            // the request completed (a = output tokens of its first sequence)
  kReject,            // the request can never be served in this pool (a = tokens it holds or needs)
};

inline constexpr int kNumEventKinds = 12;

inline std::string_view to_string(EventKind kind) {
  switch (kind) {
    case EventKind::kArrive:
      return "arrive";
    case EventKind::kAdmit:
      return "admit";
    case EventKind::kPrefixHit:
      return "prefix_hit";
    case EventKind::kFork:
      return "fork";
    case EventKind::kCopyOnWrite:
      return "copy_on_write";
    case EventKind::kEvict:
      return "evict";
    case EventKind::kPreemptRecompute:
      return "preempt_recompute";
    case EventKind::kPreemptSwap:
      return "preempt_swap";
    case EventKind::kSwapIn:
      return "swap_in";
    case EventKind::kFree:
      return "free";
    case EventKind::kFinish:
      return "finish";
    case EventKind::kReject:
      return "reject";
  }
  return "?";
}

struct Event {
  int64_t step = 0;
  double time = 0.0;  // simulated seconds at the start of the step
  EventKind kind = EventKind::kArrive;
  int64_t request = -1;
  SeqId seq = kNoSeq;
  int64_t a = 0;
  int64_t b = 0;
};

}  // namespace tinyserve
