#include "core/engine/snapshot.h"

namespace tinyserve {

const SeqView* Snapshot::find(SeqId id) const {
  for (const SeqView& s : seqs) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

void EventRing::add(std::span<const Event> events) {
  for (const Event& e : events) {
    if (events_.size() == capacity_) events_.pop_front();
    events_.push_back(e);
  }
}

std::shared_ptr<const Snapshot> make_snapshot(const Engine& engine,
                                              const std::deque<Event>& recent) {
  auto snap = std::make_shared<Snapshot>();
  Snapshot& s = *snap;
  const KvAllocatorView& kv = engine.allocator();
  s.step = engine.steps();
  s.time_s = engine.now();
  s.done = engine.done();
  s.failed = engine.failed();
  s.scenario = engine.config().name;
  s.backend = engine.backend().name();
  s.backend_description = engine.backend().description();
  s.geometry = engine.config().geometry;
  s.block_size = s.geometry.block_size;
  s.stats = kv.stats();
  if (s.stats.num_blocks <= Snapshot::kMaxBlockViews) kv.block_views(s.blocks);
  const std::span<const uint64_t> bits = kv.available_bits();
  s.available_bits.assign(bits.begin(), bits.end());
  s.requests_total = engine.num_requests();
  s.requests_done = engine.num_done();

  const Scheduler& sched = engine.scheduler();
  const GroupTable& groups = engine.groups();
  auto add_group = [&](GroupId gid, QueueKind queue) {
    const SequenceGroup& g = groups[gid];
    for (const Sequence& seq : g.seqs) {
      SeqView v;
      v.id = seq.id;
      v.request = g.request;
      v.queue = queue;
      v.tokens = static_cast<int32_t>(seq.tokens.size());
      v.prompt_len = g.prompt_len;
      v.computed = seq.num_computed;
      v.output_len = g.output_len;
      v.priority = g.priority;
      v.preemptions = g.preemptions;
      v.arrival = g.arrival;
      v.in_prefill = g.in_prefill;
      if (kv.has(seq.id)) {
        const BlockTable& t = kv.table(seq.id);
        v.tier = kv.tier(seq.id);
        v.table_offset = static_cast<int32_t>(s.tables.size());
        v.table_size = static_cast<int32_t>(t.blocks.size());
        v.table_tokens = t.num_tokens;
        s.tables.insert(s.tables.end(), t.blocks.begin(), t.blocks.end());
      }
      s.seqs.push_back(v);
    }
  };
  for (GroupId g : sched.running()) add_group(g, QueueKind::kRunning);
  for (GroupId g : sched.waiting()) add_group(g, QueueKind::kWaiting);
  for (GroupId g : sched.swapped()) add_group(g, QueueKind::kSwapped);
  s.num_running = static_cast<int32_t>(sched.running().size());
  s.num_waiting = static_cast<int32_t>(sched.waiting().size());
  s.num_swapped = static_cast<int32_t>(sched.swapped().size());

  s.last = engine.last();
  s.history = engine.history();
  s.recent_events.assign(recent.begin(), recent.end());
  s.last_copies = engine.last_copies();
  return snap;
}

}  // namespace tinyserve
