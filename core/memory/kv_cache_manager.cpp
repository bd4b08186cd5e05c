#include "core/memory/kv_cache_manager.h"

#include <algorithm>
#include <cassert>
#include <unordered_set>

#include "core/base/strings.h"
#include "core/memory/prefix_cache.h"

namespace tinyserve {

KvCacheManager::KvCacheManager(const KvCacheConfig& config)
    : config_(config),
      watermark_blocks_(static_cast<int32_t>(config.watermark * config.num_gpu_blocks)),
      gpu_(config.num_gpu_blocks, config.policy, config.seed),
      cpu_(config.num_cpu_blocks, FreeListPolicy::kLifo, config.seed ^ 0x5eedull),
      fill_(static_cast<size_t>(config.num_gpu_blocks), 0),
      cpu_fill_(static_cast<size_t>(config.num_cpu_blocks), 0) {
  assert(config.block_size > 0 && config.num_gpu_blocks >= 0 && config.num_cpu_blocks >= 0);
  if (config.semantics == Semantics::kVllmV1 && config.num_gpu_blocks > 0) {
    null_block_ = gpu_.allocate();  // the free list's first block: block 0 under lru
  }
}

KvCacheManager::Seq& KvCacheManager::add_seq(SeqId id) {
  assert(!has(id));
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slot_of_.insert(id, slot);
  Seq& s = slots_[slot];
  s = Seq{};
  s.id = id;
  return s;
}

void KvCacheManager::remove_seq(SeqId id) {
  const uint32_t slot = slot_of_.at(id);
  slots_[slot] = Seq{};
  free_slots_.push_back(slot);
  slot_of_.erase(id);
}

std::vector<SeqId> KvCacheManager::live_seqs() const {
  std::vector<SeqId> ids;
  ids.reserve(slot_of_.size());
  slot_of_.for_each([&](SeqId id, uint32_t) { ids.push_back(id); });
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::span<const BlockHash> KvCacheManager::chain_of(const AllocRequest& request, int32_t n,
                                                    std::vector<BlockHash>& scratch) const {
  if (static_cast<int32_t>(request.block_hashes.size()) >= n)
    return request.block_hashes.first(static_cast<size_t>(n));
  scratch.clear();
  hash_chain(request.tokens, block_size(), n, scratch);
  return scratch;
}

AllocStatus KvCacheManager::can_allocate(const AllocRequest& request) const {
  const std::span<const TokenId> tokens = request.tokens;
  assert(!tokens.empty());
  const int32_t bs = block_size();
  const int32_t total = ceil_div(static_cast<int32_t>(tokens.size()), bs);
  if (config_.num_gpu_blocks - total < watermark_blocks_) return AllocStatus::kNever;
  int32_t hits_on_used = 0;
  if (config_.enable_prefix_caching) {
    std::vector<BlockHash> scratch;
    const int32_t limit = max_cacheable_blocks(static_cast<int32_t>(tokens.size()), bs);
    for (BlockHash h : chain_of(request, limit, scratch)) {
      const BlockId b = gpu_.find(h);
      if (b == kNoBlock) break;
      hits_on_used += gpu_.ref_count(b) > 0;
    }
  }
  // Hits on cached (count-zero) blocks still take a block out of the available ones.
  const int32_t needed = total - hits_on_used;
  return gpu_.num_available() - needed >= watermark_blocks_ ? AllocStatus::kOk
                                                            : AllocStatus::kLater;
}

int32_t KvCacheManager::allocate(SeqId id, const AllocRequest& request) {
  const std::span<const TokenId> tokens = request.tokens;
  assert(!tokens.empty());
  const int32_t bs = block_size();
  const auto len = static_cast<int32_t>(tokens.size());
  const int32_t total = ceil_div(len, bs);
  Seq& s = add_seq(id);
  s.prompt_len = len;
  s.table.num_tokens = len;
  s.table.blocks.reserve(static_cast<size_t>(total));

  if (config_.enable_prefix_caching) {
    std::vector<BlockHash> scratch;
    const std::span<const BlockHash> chain = chain_of(request, len / bs, scratch);
    s.chain.assign(chain.begin(), chain.end());
    const int32_t limit = max_cacheable_blocks(len, bs);
    for (int32_t i = 0; i < limit; ++i) {
      const BlockId b = gpu_.acquire(s.chain[static_cast<size_t>(i)]);
      if (b == kNoBlock) break;
      if (gpu_.ref_count(b) == 1) stored_tokens_ += fill_[static_cast<size_t>(b)];  // revived
      s.table.blocks.push_back(b);
    }
    s.published = static_cast<int32_t>(s.table.blocks.size());
    prefix_query_tokens_ += len;
  }
  const auto hits = static_cast<int32_t>(s.table.blocks.size());
  prefix_hit_tokens_ += static_cast<int64_t>(hits) * bs;
  gpu_.allocate(total - hits, s.table.blocks, s.table.last());
  for (auto i = static_cast<size_t>(hits); i < s.table.blocks.size(); ++i) {
    const int32_t f = s.table.fill(i, bs);
    fill_[static_cast<size_t>(s.table.blocks[i])] = f;
    stored_tokens_ += f;
  }
  verify("allocate");
  return hits * bs;
}

void KvCacheManager::mark_computed(SeqId id, int32_t num_computed) {
  Seq& s = seq(id);
  if (!config_.enable_prefix_caching || s.tier != Tier::kGpu)
    return;  // CPU copies are not published
  const int32_t full = std::min(num_computed, s.prompt_len) / block_size();
  for (; s.published < full; ++s.published) {
    const auto i = static_cast<size_t>(s.published);
    const BlockId b = s.table.blocks[i];
    // A block computed twice (two requests prefilling one prefix at once) is published once.
    if (gpu_.hash(b) == kNoHash && gpu_.find(s.chain[i]) == kNoBlock) gpu_.set_hash(b, s.chain[i]);
  }
  verify("mark_computed");
}

int32_t KvCacheManager::blocks_needed_to_append(SeqId id) const {
  const Seq& s = seq(id);
  assert(s.tier == Tier::kGpu);
  if (s.table.num_tokens % block_size() == 0) return 1;
  return gpu_.ref_count(s.table.last()) > 1 ? 1 : 0;
}

AppendResult KvCacheManager::append_slot(SeqId id) {
  assert(can_append(id));
  Seq& s = seq(id);
  AppendResult result;
  const int32_t pos = s.table.num_tokens;
  if (pos % block_size() == 0) {
    const BlockId b = gpu_.allocate(s.table.last());
    fill_[static_cast<size_t>(b)] = 0;
    s.table.blocks.push_back(b);
    result.new_block = true;
  } else if (const BlockId last = s.table.last(); gpu_.ref_count(last) > 1) {
    const BlockId copy = gpu_.allocate(last);
    fill_[static_cast<size_t>(copy)] = fill_[static_cast<size_t>(last)];
    stored_tokens_ += fill_[static_cast<size_t>(copy)];
    release_gpu(last);
    s.table.blocks.back() = copy;
    result.cow = {last, copy};
  }
  ++fill_[static_cast<size_t>(s.table.last())];
  ++stored_tokens_;
  ++s.table.num_tokens;
  result.slot = s.table.slot(pos, block_size());
  verify("append_slot");
  return result;
}

std::vector<BlockCopy> KvCacheManager::fork(SeqId parent, SeqId child) {
  const Seq p = seq(parent);  // a copy: add_seq may reallocate the slots
  Seq& c = add_seq(child);
  c.table = p.table;
  c.tier = p.tier;
  c.prompt_len = p.prompt_len;
  c.chain = p.chain;
  c.published = p.published;
  BlockPool& pool = p.tier == Tier::kGpu ? gpu_ : cpu_;
  for (BlockId b : c.table.blocks) pool.incref(b);
  verify("fork");
  return {};
}

void KvCacheManager::release_gpu(BlockId b) {
  gpu_.release(b);
  if (gpu_.ref_count(b) == 0) stored_tokens_ -= fill_[static_cast<size_t>(b)];
}

void KvCacheManager::free(SeqId id) {
  Seq& s = seq(id);
  if (config_.semantics == Semantics::kVllmV1) {
    scratch_blocks_.assign(s.table.blocks.rbegin(), s.table.blocks.rend());
    for (BlockId b : scratch_blocks_) {
      if (gpu_.ref_count(b) == 1) stored_tokens_ -= fill_[static_cast<size_t>(b)];
    }
    gpu_.release_in_order(scratch_blocks_);
    remove_seq(id);
    verify("free");
    return;
  }
  for (auto it = s.table.blocks.rbegin(); it != s.table.blocks.rend(); ++it) {
    if (s.tier == Tier::kGpu) {
      release_gpu(*it);
    } else {
      cpu_.release(*it);
    }
  }
  remove_seq(id);
  verify("free");
}

PrefixHit KvCacheManager::find_prefix(std::span<const BlockHash> hashes) const {
  PrefixHit hit;
  if (!config_.enable_prefix_caching) return hit;
  for (BlockHash h : hashes) {
    const BlockId b = gpu_.find(h);
    if (b == kNoBlock) break;
    ++hit.blocks;
    hit.evictable += gpu_.ref_count(b) == 0;
  }
  return hit;
}

bool KvCacheManager::can_admit(int32_t known_tokens, PrefixHit hit, bool others_running) const {
  const int32_t watermark = others_running ? watermark_blocks_ : 0;
  const int32_t needed = ceil_div(known_tokens, block_size()) - hit.blocks + hit.evictable;
  return needed + watermark <= gpu_.num_available();
}

void KvCacheManager::set_tokens(Seq& s, int32_t tokens) {
  const int32_t bs = block_size();
  const int32_t old = s.table.num_tokens;
  if (tokens <= old) return;
  s.table.num_tokens = tokens;
  for (auto i = static_cast<size_t>(old / bs); i < s.table.blocks.size(); ++i) {
    int32_t& f = fill_[static_cast<size_t>(s.table.blocks[i])];
    const int32_t now = s.table.fill(i, bs);
    stored_tokens_ += now - f;
    f = now;
  }
}

void KvCacheManager::admit(SeqId id, std::span<const BlockHash> hashes, PrefixHit hit,
                           int32_t known_tokens, int32_t tokens) {
  const int32_t bs = block_size();
  Seq& s = add_seq(id);
  for (int32_t i = 0; i < hit.blocks; ++i) {
    const BlockId b = gpu_.acquire(hashes[static_cast<size_t>(i)]);
    assert(b != kNoBlock);
    if (gpu_.ref_count(b) == 1) stored_tokens_ += fill_[static_cast<size_t>(b)];  // revived
    s.table.blocks.push_back(b);
  }
  s.table.num_tokens = hit.blocks * bs;
  s.published = hit.blocks;
  if (config_.enable_prefix_caching) {
    prefix_query_tokens_ += known_tokens;
    prefix_hit_tokens_ += static_cast<int64_t>(hit.blocks) * bs;
  }
  const bool ok = allocate_slots(id, tokens);
  assert(ok);
  (void)ok;
}

bool KvCacheManager::allocate_slots(SeqId id, int32_t tokens) {
  Seq& s = seq(id);
  const auto held = static_cast<int32_t>(s.table.blocks.size());
  const int32_t k = std::max(ceil_div(tokens, block_size()) - held, 0);
  if (k > gpu_.num_available()) return false;
  gpu_.allocate(k, s.table.blocks, s.table.last());
  for (auto i = static_cast<size_t>(held); i < s.table.blocks.size(); ++i) {
    fill_[static_cast<size_t>(s.table.blocks[i])] = 0;
  }
  set_tokens(s, tokens);
  verify("allocate_slots");
  return true;
}

void KvCacheManager::cache_blocks(SeqId id, std::span<const BlockHash> hashes, int32_t tokens) {
  if (!config_.enable_prefix_caching) return;
  Seq& s = seq(id);
  const int32_t full = std::min(tokens / block_size(), static_cast<int32_t>(hashes.size()));
  for (; s.published < full; ++s.published) {
    const auto i = static_cast<size_t>(s.published);
    gpu_.add_hash(s.table.blocks[i], hashes[i]);
  }
  verify("cache_blocks");
}

int32_t KvCacheManager::blocks_to_swap(std::span<const SeqId> ids) const {
  std::vector<BlockId> blocks;
  for (SeqId id : ids) {
    const auto& t = seq(id).table.blocks;
    blocks.insert(blocks.end(), t.begin(), t.end());
  }
  std::sort(blocks.begin(), blocks.end());
  return static_cast<int32_t>(std::unique(blocks.begin(), blocks.end()) - blocks.begin());
}

bool KvCacheManager::can_swap_out(std::span<const SeqId> ids) const {
  return blocks_to_swap(ids) <= cpu_.num_available();
}

bool KvCacheManager::can_swap_in(std::span<const SeqId> ids) const {
  return gpu_.num_available() - blocks_to_swap(ids) >= watermark_blocks_;
}

std::vector<BlockCopy> KvCacheManager::swap_out(std::span<const SeqId> ids) {
  assert(can_swap_out(ids));
  return move_group(ids, Tier::kCpu);
}

std::vector<BlockCopy> KvCacheManager::swap_in(std::span<const SeqId> ids) {
  assert(gpu_.num_available() >= blocks_to_swap(ids));
  return move_group(ids, Tier::kGpu);
}

// Moves a group's blocks to the other pool: each distinct block is copied once (the returned
// copies), and every table entry takes one reference on the copy.
std::vector<BlockCopy> KvCacheManager::move_group(std::span<const SeqId> ids, Tier to) {
  const bool out = to == Tier::kCpu;
  BlockPool& dst_pool = out ? cpu_ : gpu_;
  std::vector<int32_t>& src_fill = out ? fill_ : cpu_fill_;
  std::vector<int32_t>& dst_fill = out ? cpu_fill_ : fill_;
  std::vector<BlockCopy> copies;
  std::unordered_map<BlockId, BlockId> moved;  // source block -> destination block
  for (SeqId id : ids) {
    Seq& s = seq(id);
    assert(s.tier != to);
    for (BlockId& b : s.table.blocks) {
      auto [it, inserted] = moved.emplace(b, kNoBlock);
      if (inserted) {
        it->second = dst_pool.allocate(copies.empty() ? kNoBlock : copies.back().dst);
        dst_fill[static_cast<size_t>(it->second)] = src_fill[static_cast<size_t>(b)];
        if (!out) stored_tokens_ += dst_fill[static_cast<size_t>(it->second)];
        copies.push_back({b, it->second});
      } else {
        dst_pool.incref(it->second);
      }
      if (out) {
        release_gpu(b);
      } else {
        cpu_.release(b);
      }
      b = it->second;
    }
    s.tier = to;
  }
  verify(out ? "swap_out" : "swap_in");
  return copies;
}

PoolStats KvCacheManager::stats() const {
  PoolStats s;
  s.block_size = block_size();
  s.num_blocks = gpu_.num_blocks();
  s.used_blocks = gpu_.num_used();
  s.cached_blocks = gpu_.num_cached();
  s.stored_tokens = stored_tokens_;
  s.total_refs = gpu_.total_refs();
  s.cpu_num_blocks = cpu_.num_blocks();
  s.cpu_used_blocks = cpu_.num_used();
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  return s;
}

void KvCacheManager::block_views(std::vector<BlockView>& out) const {
  out.assign(static_cast<size_t>(gpu_.num_blocks()), BlockView{});
  for (BlockId b = 0; b < gpu_.num_blocks(); ++b) {
    BlockView& v = out[static_cast<size_t>(b)];
    v.state = gpu_.state(b);
    v.ref_count = gpu_.ref_count(b);
    v.fill = v.state == BlockState::kFree ? 0 : fill_[static_cast<size_t>(b)];
    v.hash = gpu_.hash(b);
  }
  for (const Seq& s : slots_) {
    if (s.id == kNoSeq || s.tier != Tier::kGpu) continue;
    for (BlockId b : s.table.blocks) {
      SeqId& owner = out[static_cast<size_t>(b)].owner;
      if (owner == kNoSeq || s.id < owner) owner = s.id;
    }
  }
}

void KvCacheManager::verify(const char* operation) const {
  if (!config_.check_invariants) return;
  if (std::string error = check_invariants(); !error.empty()) {
    throw InvariantViolation(cat("after ", operation, ": ", error));
  }
}

TINYSERVE_NO_COVERAGE std::string KvCacheManager::check_invariants() const {
  if (std::string e = gpu_.check(); !e.empty()) return "GPU pool: " + e;
  if (std::string e = cpu_.check(); !e.empty()) return "CPU pool: " + e;
  const int32_t bs = block_size();
  // Scratch arrays kept between calls: the checker runs after every operation in debug builds.
  Scratch& gpu = scratch_gpu_;
  Scratch& cpu = scratch_cpu_;
  gpu.reset(gpu_.num_blocks());
  cpu.reset(cpu_.num_blocks());
  std::string error;
  std::vector<std::pair<SeqId, uint32_t>>& live = scratch_live_;
  live.clear();
  slot_of_.for_each([&](SeqId id, uint32_t slot) { live.emplace_back(id, slot); });
  for (const auto& [id, slot] : live) {
    const Seq& s = slots_[slot];
    if (s.id != id) return cat("sequence ", id, " is filed under the slot of ", s.id);
    const BlockTable& t = s.table;
    if (static_cast<int32_t>(t.blocks.size()) != ceil_div(t.num_tokens, bs)) {
      return cat("sequence ", id, " holds ", t.blocks.size(), " blocks for ", t.num_tokens,
                 " tokens");
    }
    Scratch& seen = s.tier == Tier::kGpu ? gpu : cpu;
    const int32_t n = s.tier == Tier::kGpu ? gpu_.num_blocks() : cpu_.num_blocks();
    for (size_t i = 0; i < t.blocks.size(); ++i) {
      const BlockId b = t.blocks[i];
      if (b < 0 || b >= n) return cat("sequence ", id, " maps logical block ", i, " to ", b);
      const auto ub = static_cast<size_t>(b);
      ++seen.count[ub];
      if (seen.index[ub] == -1) {
        seen.index[ub] = static_cast<int32_t>(i);
        seen.fill[ub] = t.fill(i, bs);
      } else if (seen.index[ub] != static_cast<int32_t>(i) || seen.fill[ub] != t.fill(i, bs)) {
        return cat("block ", b, " is mapped twice with different slots (sequence ", id,
                   ", logical block ", i, ")");
      }
    }
  }
  int64_t stored = 0;
  for (BlockId b = 0; b < gpu_.num_blocks(); ++b) {
    const auto ub = static_cast<size_t>(b);
    if (gpu.count[ub] + (b == null_block_ ? 1 : 0) != gpu_.ref_count(b)) {
      return cat("GPU block ", b, " has count ", gpu_.ref_count(b), " but ", gpu.count[ub],
                 " tables hold it");
    }
    if (gpu.count[ub] > 0) {
      if (fill_[ub] != gpu.fill[ub]) {
        return cat("GPU block ", b, " records ", fill_[ub], " tokens, its tables ", gpu.fill[ub]);
      }
      stored += fill_[ub];
    }
    if (gpu_.hash(b) != kNoHash && fill_[ub] != bs) {
      return cat("GPU block ", b, " is cached with ", fill_[ub], " of ", bs, " tokens");
    }
  }
  if (stored != stored_tokens_) {
    return cat("used GPU blocks hold ", stored, " tokens, bookkeeping says ", stored_tokens_);
  }
  for (BlockId b = 0; b < cpu_.num_blocks(); ++b) {
    const auto ub = static_cast<size_t>(b);
    if (cpu.count[ub] != cpu_.ref_count(b)) {
      return cat("CPU block ", b, " has count ", cpu_.ref_count(b), " but ", cpu.count[ub],
                 " tables hold it");
    }
    if (cpu.count[ub] > 0 && cpu_fill_[ub] != cpu.fill[ub]) {
      return cat("CPU block ", b, " records ", cpu_fill_[ub], " tokens, its tables ", cpu.fill[ub]);
    }
  }
  return {};
}

}  // namespace tinyserve
