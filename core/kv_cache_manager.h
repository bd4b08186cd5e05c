// The paged KV-cache manager: block tables of sequences over a GPU block pool, with prefix
// caching, copy-on-write forks, and swapping to a CPU block pool. Every mutating operation has a
// query that says whether it can succeed ("ask, then act"); the act's preconditions are that
// query's answer. Nothing here touches K/V data: operations report the block copies a backend
// must perform.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/block_pool.h"
#include "core/block_table.h"
#include "core/ids.h"

namespace tinyserve {

#ifdef NDEBUG
inline constexpr bool kDebugBuild = false;
#else
inline constexpr bool kDebugBuild = true;
#endif

enum class AllocStatus : uint8_t { kOk, kLater, kNever };
enum class Tier : uint8_t { kGpu, kCpu };

struct KvCacheConfig {
  int32_t block_size = 16;
  int32_t num_gpu_blocks = 0;
  int32_t num_cpu_blocks = 0;
  FreeListPolicy policy = FreeListPolicy::kLifo;
  bool enable_prefix_caching = false;
  double watermark = 0.01;  // fraction of GPU blocks kept free when admitting new sequences
  uint64_t seed = 0;
  bool check_invariants = kDebugBuild;  // run check_invariants() after every operation
};

struct AppendResult {
  int64_t slot = -1;           // physical slot of the new token
  BlockCopy cow;               // src != kNoBlock when the last block was shared and was copied
  bool new_block = false;      // a fresh block was taken (not counting a copy)
};

class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

class KvCacheManager {
 public:
  explicit KvCacheManager(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  int32_t block_size() const { return config_.block_size; }
  int32_t watermark_blocks() const { return watermark_blocks_; }

  // Admission of a prompt (tokens are its token ids; used for prefix-cache lookups).
  AllocStatus can_allocate(std::span<const TokenId> tokens) const;
  // Maps every prompt position to a slot, reusing cached leading blocks. Returns the number of
  // prompt tokens found in the prefix cache (a multiple of block_size, < tokens.size()).
  int32_t allocate(SeqId seq, std::span<const TokenId> tokens);
  // Publishes the content of full prompt blocks once their K/V has been computed: positions
  // [0, num_computed) of tokens (the same tokens given to allocate).
  void mark_computed(SeqId seq, std::span<const TokenId> tokens, int32_t num_computed);

  // One more token slot for a running sequence.
  int32_t blocks_needed_to_append(SeqId seq) const;  // 0 or 1
  bool can_append(SeqId seq) const { return blocks_needed_to_append(seq) <= gpu_.num_available(); }
  AppendResult append_slot(SeqId seq);

  // The child shares every block of the parent (copy-on-write on the next write to a shared block).
  void fork(SeqId parent, SeqId child);
  // Releases the sequence's blocks (last block first, so LRU eviction takes tails first).
  void free(SeqId seq);

  // Swapping a sequence group (sequences that may share blocks) between the pools; the returned
  // copies are (GPU block, CPU block) for swap-out and (CPU block, GPU block) for swap-in.
  int32_t blocks_to_swap(std::span<const SeqId> seqs) const;
  bool can_swap_out(std::span<const SeqId> seqs) const;
  std::vector<BlockCopy> swap_out(std::span<const SeqId> seqs);
  bool can_swap_in(std::span<const SeqId> seqs) const;
  std::vector<BlockCopy> swap_in(std::span<const SeqId> seqs);

  bool has(SeqId id) const { return slot_of_.contains(id); }
  Tier tier(SeqId id) const { return seq(id).tier; }
  const BlockTable& table(SeqId id) const { return seq(id).table; }
  int32_t num_live_seqs() const { return static_cast<int32_t>(slot_of_.size()); }
  // Live sequence ids in ascending order.
  std::vector<SeqId> live_seqs() const;

  const BlockPool& gpu_pool() const { return gpu_; }
  const BlockPool& cpu_pool() const { return cpu_; }
  BlockPool& gpu_pool_mutable() { return gpu_; }
  int32_t block_fill(BlockId b) const { return fill_[static_cast<size_t>(b)]; }
  int64_t stored_tokens() const { return stored_tokens_; }  // tokens in used GPU blocks
  int64_t prefix_query_tokens() const { return prefix_query_tokens_; }
  int64_t prefix_hit_tokens() const { return prefix_hit_tokens_; }

  // Every block is exactly one of free, used, cached; each count equals the number of tables
  // holding the block; blocks shared by several tables sit at one logical index with one fill
  // (so no slot maps to two different tokens); free + used + cached = total; the same for the CPU
  // pool. Returns "" or a description of the first violation.
  std::string check_invariants() const;

 private:
  struct Seq {
    SeqId id = kNoSeq;
    BlockTable table;
    Tier tier = Tier::kGpu;
    int32_t prompt_len = 0;
    std::vector<BlockHash> hashes;  // hash chain of the prompt blocks computed so far
  };

  Seq& seq(SeqId id) { return slots_[slot_of_.at(id)]; }
  const Seq& seq(SeqId id) const { return slots_[slot_of_.at(id)]; }
  Seq& add_seq(SeqId id);
  void remove_seq(SeqId id);
  void release_gpu(BlockId b);
  int32_t count_cached_blocks(std::span<const TokenId> tokens, int32_t* hits_on_used) const;
  void verify(const char* operation) const;

  KvCacheConfig config_;
  int32_t watermark_blocks_;
  BlockPool gpu_;
  BlockPool cpu_;
  std::vector<int32_t> fill_;      // [num_gpu_blocks] tokens held by each GPU block
  std::vector<int32_t> cpu_fill_;  // [num_cpu_blocks]
  std::vector<Seq> slots_;  // live sequences; slots are reused so memory stays flat on long runs
  std::vector<uint32_t> free_slots_;
  std::unordered_map<SeqId, uint32_t> slot_of_;
  int64_t stored_tokens_ = 0;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace tinyserve
