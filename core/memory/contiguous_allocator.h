// The baselines PagedAttention replaced: each request reserves one contiguous region of the pool
// up front, sized for the model's maximum length, for the next power of two of its final length,
// or for its exact final length, placed first-fit. Regions are whole blocks of the same pool, so
// the same views, metrics and kernels apply; a sequence's block table is the consecutive blocks
// of its region that hold tokens. A group (samples, beams) reserves one region per sequence at
// admission; a fork takes a spare region and copies the parent's blocks into it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/named.h"
#include "core/memory/kv_allocator.h"
#include "core/memory/ref_churn.h"

namespace tinyserve {

enum class Reservation : uint8_t { kMaxLength, kPowerOfTwo, kExact };

inline constexpr Named<Reservation> kReservationNames[] = {
    {Reservation::kMaxLength, "max-length"},
    {Reservation::kPowerOfTwo, "power-of-two"},
    {Reservation::kExact, "exact"}};

inline std::string_view to_string(Reservation reservation) {
  return name_of<Reservation>(kReservationNames, reservation);
}

struct ContiguousConfig {
  int32_t block_size = 16;
  int32_t num_blocks = 0;
  int32_t max_model_len = 4096;
  Reservation reservation = Reservation::kMaxLength;
  double watermark = 0.0;  // fraction of blocks kept free when admitting
  bool check_invariants = false;
};

class ContiguousAllocator final : public KvAllocator {
 public:
  explicit ContiguousAllocator(const ContiguousConfig& config);

  const ContiguousConfig& config() const { return config_; }
  // Tokens reserved for a sequence that will reach final_len tokens.
  int32_t reservation_tokens(int32_t final_len) const;

  AllocStatus can_allocate(const AllocRequest& request) const override;
  int32_t allocate(SeqId seq, const AllocRequest& request) override;
  void mark_computed(SeqId, int32_t) override {}  // no prefix cache: nothing to publish

  // A sequence never takes blocks after admission; past its region it cannot grow at all.
  int32_t blocks_needed_to_append(SeqId seq) const override;
  int32_t num_available_blocks() const override { return num_blocks() - reserved_blocks_; }
  AppendResult append_slot(SeqId seq) override;

  bool can_fork(SeqId parent) const override;
  std::vector<BlockCopy> fork(SeqId parent, SeqId child) override;
  void free(SeqId seq) override;

  bool has(SeqId seq) const override { return seqs_.contains(seq); }
  Tier tier(SeqId) const override { return Tier::kGpu; }
  const BlockTable& table(SeqId seq) const override { return seqs_.at(seq).table; }
  std::vector<SeqId> live_seqs() const override;

  int32_t block_size() const override { return config_.block_size; }
  bool caches_prefixes() const override { return false; }
  int32_t num_blocks() const { return config_.num_blocks; }
  PoolStats stats() const override;
  std::span<const uint64_t> available_bits() const override { return available_bits_; }
  int64_t take_ref_churn() override;
  std::vector<BlockId> take_evicted() override { return {}; }
  void block_views(std::vector<BlockView>& out) const override;
  int32_t largest_free_run() const;
  std::string check_invariants() const override;

 private:
  struct Region {
    BlockId start = kNoBlock;
    int32_t length = 0;  // blocks
  };
  struct Group {
    std::vector<Region> spares;  // reserved for sequences not forked yet
    int32_t live = 0;
    int32_t final_len = 0;
  };
  struct Seq {
    Region region;
    BlockTable table;
    int32_t group = 0;
  };

  int32_t region_blocks(int32_t final_len) const;
  std::optional<BlockId> first_fit(int32_t length) const;
  void reserve(Region r);
  void release(Region r);
  void verify(const char* operation) const;

  ContiguousConfig config_;
  int32_t watermark_blocks_;
  std::map<BlockId, int32_t> free_runs_;  // start -> length, non-adjacent
  std::vector<uint64_t> available_bits_;  // [ceil(num_blocks / 64)]
  std::vector<uint8_t> reserved_;         // [num_blocks]
  int32_t reserved_blocks_ = 0;
  std::unordered_map<SeqId, Seq> seqs_;
  std::unordered_map<int32_t, Group> groups_;
  int32_t next_group_ = 0;
  int64_t stored_tokens_ = 0;
  RefChurn churn_;
  mutable std::vector<int32_t> scratch_holders_;  // the invariant checker's tallies
};

}  // namespace tinyserve
