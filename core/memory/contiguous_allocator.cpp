#include "core/memory/contiguous_allocator.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "core/base/strings.h"

namespace tinyserve {

ContiguousAllocator::ContiguousAllocator(const ContiguousConfig& config)
    : config_(config),
      watermark_blocks_(static_cast<int32_t>(config.watermark * config.num_blocks)),
      available_bits_(static_cast<size_t>((config.num_blocks + 63) / 64), 0),
      reserved_(static_cast<size_t>(config.num_blocks), 0),
      churn_(config.num_blocks) {
  assert(config.block_size > 0 && config.num_blocks >= 0 && config.max_model_len > 0);
  if (config.num_blocks > 0) free_runs_.emplace(0, config.num_blocks);
  for (BlockId b = 0; b < config.num_blocks; ++b) {
    available_bits_[static_cast<size_t>(b >> 6)] |= uint64_t{1} << (b & 63);
  }
}

int32_t ContiguousAllocator::reservation_tokens(int32_t final_len) const {
  switch (config_.reservation) {
    case Reservation::kMaxLength:
      return std::max(config_.max_model_len, final_len);
    case Reservation::kPowerOfTwo:
      return static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(std::max(final_len, 1))));
    case Reservation::kExact:
      return final_len;
  }
  return final_len;
}

int32_t ContiguousAllocator::region_blocks(int32_t final_len) const {
  return ceil_div(reservation_tokens(final_len), block_size());
}

std::optional<BlockId> ContiguousAllocator::first_fit(int32_t length) const {
  for (const auto& [start, len] : free_runs_) {
    if (len >= length) return start;
  }
  return std::nullopt;
}

AllocStatus ContiguousAllocator::can_allocate(const AllocRequest& request) const {
  const auto prompt_len = static_cast<int32_t>(request.tokens.size());
  const int32_t final_len = std::max(request.final_len, prompt_len);
  if (config_.reservation == Reservation::kMaxLength && final_len > config_.max_model_len) {
    return AllocStatus::kNever;
  }
  const int32_t length = region_blocks(final_len);
  const int64_t total = static_cast<int64_t>(length) * request.num_seqs;
  if (total > num_blocks() - watermark_blocks_) return AllocStatus::kNever;
  if (num_available_blocks() - total < watermark_blocks_) return AllocStatus::kLater;
  // Place the group's regions first-fit, one after another, on a copy of the run lengths.
  std::vector<int32_t> runs;
  runs.reserve(free_runs_.size());
  for (const auto& [start, len] : free_runs_) runs.push_back(len);
  for (int32_t i = 0; i < request.num_seqs; ++i) {
    auto it = std::find_if(runs.begin(), runs.end(), [&](int32_t len) { return len >= length; });
    if (it == runs.end()) return AllocStatus::kLater;
    *it -= length;
  }
  return AllocStatus::kOk;
}

int32_t ContiguousAllocator::allocate(SeqId id, const AllocRequest& request) {
  assert(!has(id) && can_allocate(request) == AllocStatus::kOk);
  const auto prompt_len = static_cast<int32_t>(request.tokens.size());
  const int32_t final_len = std::max(request.final_len, prompt_len);
  const int32_t length = region_blocks(final_len);
  const int32_t group_id = next_group_++;
  Group& group = groups_[group_id];
  group.final_len = final_len;
  group.live = 1;
  std::vector<Region> regions;
  for (int32_t i = 0; i < request.num_seqs; ++i) {
    const Region r{*first_fit(length), length};
    reserve(r);
    regions.push_back(r);
  }
  Seq& s = seqs_[id];
  s.region = regions.front();
  s.group = group_id;
  s.table.num_tokens = prompt_len;
  for (int32_t i = 0; i < ceil_div(prompt_len, block_size()); ++i) {
    s.table.blocks.push_back(s.region.start + i);
  }
  group.spares.assign(regions.begin() + 1, regions.end());
  stored_tokens_ += prompt_len;
  verify("allocate");
  return 0;
}

int32_t ContiguousAllocator::blocks_needed_to_append(SeqId id) const {
  const Seq& s = seqs_.at(id);
  return s.table.num_tokens < s.region.length * block_size() ? 0 : num_blocks() + 1;
}

AppendResult ContiguousAllocator::append_slot(SeqId id) {
  Seq& s = seqs_.at(id);
  assert(s.table.num_tokens < s.region.length * block_size());
  AppendResult result;
  const int32_t pos = s.table.num_tokens;
  if (pos % block_size() == 0) {
    s.table.blocks.push_back(s.region.start + pos / block_size());
    result.new_block = true;
  }
  ++s.table.num_tokens;
  ++stored_tokens_;
  result.slot = s.table.slot(pos, block_size());
  verify("append_slot");
  return result;
}

bool ContiguousAllocator::can_fork(SeqId parent) const {
  return !groups_.at(seqs_.at(parent).group).spares.empty();
}

std::vector<BlockCopy> ContiguousAllocator::fork(SeqId parent, SeqId child) {
  assert(can_fork(parent) && !has(child));
  const Seq p = seqs_.at(parent);
  Group& group = groups_.at(p.group);
  Seq& c = seqs_[child];
  c.region = group.spares.back();
  group.spares.pop_back();
  ++group.live;
  c.group = p.group;
  c.table.num_tokens = p.table.num_tokens;
  std::vector<BlockCopy> copies;
  for (size_t i = 0; i < p.table.blocks.size(); ++i) {
    const BlockId dst = c.region.start + static_cast<BlockId>(i);
    c.table.blocks.push_back(dst);
    copies.push_back({p.table.blocks[i], dst});
  }
  stored_tokens_ += c.table.num_tokens;
  verify("fork");
  return copies;
}

void ContiguousAllocator::free(SeqId id) {
  const auto it = seqs_.find(id);
  assert(it != seqs_.end());
  const Seq s = it->second;
  seqs_.erase(it);
  stored_tokens_ -= s.table.num_tokens;
  Group& group = groups_.at(s.group);
  if (--group.live > 0) {
    group.spares.push_back(s.region);  // a pruned beam's region serves the next fork
  } else {
    release(s.region);
    for (const Region& r : group.spares) release(r);
    groups_.erase(s.group);
  }
  verify("free");
}

void ContiguousAllocator::reserve(Region r) {
  auto it = free_runs_.upper_bound(r.start);
  assert(it != free_runs_.begin());
  --it;
  const BlockId run_start = it->first;
  const int32_t run_len = it->second;
  assert(run_start <= r.start && r.start + r.length <= run_start + run_len);
  free_runs_.erase(it);
  if (r.start > run_start) free_runs_.emplace(run_start, r.start - run_start);
  const BlockId end = r.start + r.length;
  if (end < run_start + run_len) free_runs_.emplace(end, run_start + run_len - end);
  for (BlockId b = r.start; b < end; ++b) {
    churn_.note(b, reserved_[static_cast<size_t>(b)]);
    reserved_[static_cast<size_t>(b)] = 1;
    available_bits_[static_cast<size_t>(b >> 6)] &= ~(uint64_t{1} << (b & 63));
  }
  reserved_blocks_ += r.length;
}

void ContiguousAllocator::release(Region r) {
  BlockId start = r.start;
  int32_t len = r.length;
  auto next = free_runs_.lower_bound(start);
  if (next != free_runs_.end() && next->first == start + len) {
    len += next->second;
    next = free_runs_.erase(next);
  }
  if (next != free_runs_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      len += prev->second;
      free_runs_.erase(prev);
    }
  }
  free_runs_.emplace(start, len);
  for (BlockId b = r.start; b < r.start + r.length; ++b) {
    churn_.note(b, reserved_[static_cast<size_t>(b)]);
    reserved_[static_cast<size_t>(b)] = 0;
    available_bits_[static_cast<size_t>(b >> 6)] |= uint64_t{1} << (b & 63);
  }
  reserved_blocks_ -= r.length;
}

std::vector<SeqId> ContiguousAllocator::live_seqs() const {
  std::vector<SeqId> ids;
  ids.reserve(seqs_.size());
  for (const auto& [id, s] : seqs_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

int64_t ContiguousAllocator::take_ref_churn() {
  return churn_.take(
      [this](BlockId b) { return static_cast<int32_t>(reserved_[static_cast<size_t>(b)]); });
}

PoolStats ContiguousAllocator::stats() const {
  PoolStats s;
  s.block_size = block_size();
  s.num_blocks = num_blocks();
  s.used_blocks = reserved_blocks_;
  s.stored_tokens = stored_tokens_;
  s.total_refs = reserved_blocks_;
  const int32_t bs = block_size();
  for (const auto& [id, seq] : seqs_) {
    const int32_t final_len = groups_.at(seq.group).final_len;
    s.future_tokens +=
        std::max(0, std::min(final_len, seq.region.length * bs) - seq.table.num_tokens);
  }
  for (const auto& [gid, group] : groups_) {
    for (const Region& r : group.spares)
      s.future_tokens += std::min(group.final_len, r.length * bs);
  }
  return s;
}

int32_t ContiguousAllocator::largest_free_run() const {
  int32_t largest = 0;
  for (const auto& [start, len] : free_runs_) largest = std::max(largest, len);
  return largest;
}

void ContiguousAllocator::block_views(std::vector<BlockView>& out) const {
  out.assign(static_cast<size_t>(num_blocks()), BlockView{});
  for (BlockId b = 0; b < num_blocks(); ++b) {
    if (reserved_[static_cast<size_t>(b)]) {
      out[static_cast<size_t>(b)].state = BlockState::kUsed;
      out[static_cast<size_t>(b)].ref_count = 1;
    }
  }
  for (const auto& [id, s] : seqs_) {
    for (int32_t i = 0; i < s.region.length; ++i) {
      BlockView& v = out[static_cast<size_t>(s.region.start + i)];
      v.owner = id;
      if (i < static_cast<int32_t>(s.table.blocks.size()))
        v.fill = s.table.fill(static_cast<size_t>(i), block_size());
    }
  }
}

void ContiguousAllocator::verify(const char* operation) const {
  if (!config_.check_invariants) return;
  if (std::string error = check_invariants(); !error.empty()) {
    throw std::logic_error(cat("after ", operation, ": ", error));
  }
}

TINYSERVE_NO_COVERAGE std::string ContiguousAllocator::check_invariants() const {
  std::vector<int32_t>& holders = scratch_holders_;
  holders.assign(static_cast<size_t>(num_blocks()), 0);
  auto mark = [&](const Region& r, const char* what) -> std::string {
    if (r.start < 0 || r.length <= 0 || r.start + r.length > num_blocks()) {
      return cat(what, " region [", r.start, ", +", r.length, ") is outside the pool");
    }
    for (BlockId b = r.start; b < r.start + r.length; ++b) ++holders[static_cast<size_t>(b)];
    return {};
  };
  int64_t stored = 0;
  for (const auto& [id, s] : seqs_) {
    if (std::string e = mark(s.region, "a sequence's"); !e.empty()) return e;
    const BlockTable& t = s.table;
    if (static_cast<int32_t>(t.blocks.size()) != ceil_div(t.num_tokens, block_size()) ||
        t.num_tokens > s.region.length * block_size()) {
      return cat("sequence ", id, " holds ", t.blocks.size(), " blocks for ", t.num_tokens,
                 " tokens");
    }
    for (size_t i = 0; i < t.blocks.size(); ++i) {
      if (t.blocks[i] != s.region.start + static_cast<BlockId>(i)) {
        return cat("sequence ", id, " logical block ", i, " is not in its region");
      }
    }
    if (!groups_.contains(s.group)) return cat("sequence ", id, " belongs to no group");
    stored += t.num_tokens;
  }
  for (const auto& [gid, g] : groups_) {
    for (const Region& r : g.spares) {
      if (std::string e = mark(r, "a spare"); !e.empty()) return e;
    }
  }
  for (const auto& [start, len] : free_runs_) {
    if (std::string e = mark({start, len}, "a free"); !e.empty()) return e;
    auto next = free_runs_.upper_bound(start);
    if (next != free_runs_.end() && next->first <= start + len) {
      return cat("free runs at ", start, " and ", next->first, " touch or overlap");
    }
  }
  int32_t reserved = 0;
  for (BlockId b = 0; b < num_blocks(); ++b) {
    const auto ub = static_cast<size_t>(b);
    if (holders[ub] != 1) return cat("block ", b, " is in ", holders[ub], " regions or runs");
    const bool available = (available_bits_[ub >> 6] >> (b & 63)) & 1;
    if (available == (reserved_[ub] != 0)) return cat("block ", b, " availability bit is wrong");
    reserved += reserved_[ub];
  }
  if (reserved != reserved_blocks_)
    return cat("reserved ", reserved, " blocks, bookkeeping says ", reserved_blocks_);
  if (stored != stored_tokens_)
    return cat("sequences hold ", stored, " tokens, bookkeeping says ", stored_tokens_);
  return {};
}

}  // namespace tinyserve
