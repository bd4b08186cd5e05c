#include "core/scheduling/scheduler.h"

#include <algorithm>

#include "core/scheduling/scheduler_v0.h"
#include "core/scheduling/scheduler_v1.h"

namespace tinyserve {

GroupId GroupTable::add(SequenceGroup group) {
  if (!free_.empty()) {
    const GroupId id = free_.back();
    free_.pop_back();
    slots_[static_cast<size_t>(id)] = std::move(group);
    return id;
  }
  slots_.push_back(std::move(group));
  return static_cast<GroupId>(slots_.size() - 1);
}

void GroupTable::remove(GroupId id) {
  slots_[static_cast<size_t>(id)] = SequenceGroup{};
  free_.push_back(id);
}

Scheduler::Scheduler(const SchedulerConfig& config, KvAllocator& allocator, GroupTable& groups,
                     std::vector<Event>& events)
    : config_(config), allocator_(allocator), groups_(groups), events_(events) {}

void Scheduler::emit(EventKind kind, const SequenceGroup& g, SeqId seq, int64_t a, int64_t b) {
  events_.push_back(Event{step_, now_, kind, g.request, seq, a, b});
}

void Scheduler::enqueue(GroupId group) {
  groups_[group].status = GroupStatus::kWaiting;
  waiting_.push_back(group);
}

int32_t Scheduler::running_seqs() const {
  int32_t n = 0;
  for (GroupId g : running_) n += groups_[g].max_seqs();
  return n;
}

void Scheduler::retire(GroupId group) {
  running_.erase(std::find(running_.begin(), running_.end(), group));
}

void Scheduler::retire_waiting(GroupId group) {
  waiting_.erase(std::find(waiting_.begin(), waiting_.end(), group));
}

std::optional<GroupId> Scheduler::reject_blocked(int64_t step, double now) {
  step_ = step;
  now_ = now;
  if (!running_.empty()) return std::nullopt;
  if (!swapped_.empty()) {
    const GroupId g = swapped_.front();
    swapped_.pop_front();
    SequenceGroup& group = groups_[g];
    int64_t tokens = 0;
    for (const Sequence& s : group.seqs) {
      tokens += static_cast<int64_t>(s.tokens.size());
      allocator_.free(s.id);
    }
    group.status = GroupStatus::kRejected;
    emit(EventKind::kReject, group, group.seqs.front().id, tokens);
    return g;
  }
  if (!waiting_.empty() && groups_[waiting_.front()].arrival <= now) {
    const GroupId g = waiting_.front();
    waiting_.pop_front();
    SequenceGroup& group = groups_[g];
    group.status = GroupStatus::kRejected;
    emit(EventKind::kReject, group, group.seqs.front().id,
         static_cast<int64_t>(group.seqs.front().tokens.size()));
    return g;
  }
  return std::nullopt;
}

std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config, KvAllocator& allocator,
                                          GroupTable& groups, std::vector<Event>& events) {
  if (config.semantics == Semantics::kVllmV1) {
    return std::make_unique<SchedulerV1>(config, allocator, groups, events);
  }
  return std::make_unique<SchedulerV0>(config, allocator, groups, events);
}

}  // namespace tinyserve
