// What the GUI reads each frame: an immutable copy of the engine's visible state. The GUI never
// reaches into the allocator or the scheduler; it sends commands and reads snapshots.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/execution/kv_executor.h"

namespace tinyserve {

enum class QueueKind : uint8_t { kWaiting, kRunning, kSwapped };

struct SeqView {
  SeqId id = kNoSeq;
  int64_t request = 0;
  QueueKind queue = QueueKind::kWaiting;
  int32_t tokens = 0;  // prompt + generated so far
  int32_t prompt_len = 0;
  int32_t computed = 0;    // tokens whose K/V is cached
  int32_t output_len = 0;  // target
  int32_t priority = 0;
  int32_t preemptions = 0;
  double arrival = 0.0;
  bool in_prefill = false;
  Tier tier = Tier::kGpu;
  // The sequence's block table: blocks[table_offset, table_offset + table_size) of
  // Snapshot::tables.
  int32_t table_offset = 0;
  int32_t table_size = 0;
  int32_t table_tokens = 0;  // tokens with a slot
};

struct Snapshot {
  int64_t step = 0;
  double time_s = 0.0;
  bool done = false;
  bool failed = false;
  std::string scenario;
  std::string backend;              // "accounting", "cpu", "cuda"
  std::string backend_description;  // the GPU's name, or why none runs

  KvGeometry geometry;  // the run's, as the engine was configured
  int32_t block_size = 0;
  PoolStats stats;
  // The GPU pool block by block, up to kMaxBlockViews blocks (empty for larger pools: copying
  // tens of millions of views each step would cost more than a frame).
  static constexpr int32_t kMaxBlockViews = 1 << 18;
  std::vector<BlockView> blocks;  // [num_blocks] or empty
  // Bit b set when GPU block b is free or cached (not used), in words of 64 blocks: every pool,
  // whatever its size (what the map aggregates when blocks outnumber its pixels).
  std::vector<uint64_t> available_bits;  // [ceil(num_blocks / 64)]
  bool has_block_views() const { return !blocks.empty() || stats.num_blocks == 0; }

  std::vector<SeqView> seqs;    // running first (scheduling order), then waiting, then swapped
  std::vector<BlockId> tables;  // every sequence's block table, concatenated
  int32_t num_running = 0, num_waiting = 0, num_swapped = 0;
  int64_t requests_total = 0, requests_done = 0;

  StepMetrics last;                      // the last step's metrics
  std::span<const StepMetrics> history;  // every step so far; valid until the engine steps again
  std::vector<Event> recent_events;      // the most recent events, oldest first
  std::vector<BlockCopy> last_copies;    // copy-on-write and fork copies of the last step

  const SeqView* find(SeqId id) const;
  std::span<const BlockId> table(const SeqView& s) const {
    return std::span<const BlockId>(tables).subspan(static_cast<size_t>(s.table_offset),
                                                    static_cast<size_t>(s.table_size));
  }
};

// Builds a snapshot of the engine. recent: the engine's recent events (see EventRing).
std::shared_ptr<const Snapshot> make_snapshot(const Engine& engine,
                                              const std::deque<Event>& recent);

// The last `capacity` events of a run, for the GUI's event log.
class EventRing {
 public:
  explicit EventRing(size_t capacity = 4096) : capacity_(capacity) {}
  void add(std::span<const Event> events);
  const std::deque<Event>& events() const { return events_; }
  void clear() { events_.clear(); }

 private:
  size_t capacity_;
  std::deque<Event> events_;
};

}  // namespace tinyserve
