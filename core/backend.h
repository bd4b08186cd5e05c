// What a backend executes each step, and the interface the engine drives. Index lists are built
// once per step on the host; backends copy them to the device in one go. Order of execution:
// swap-out, swap-in, block copies, K/V writes of the new tokens, then attention (a block freed by
// swap-out or copied from may be reused by a later item of the same step).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ids.h"

namespace tinyserve {

struct StepPlan {
  int64_t step = 0;
  std::vector<BlockCopy> swap_out;  // (GPU block, CPU block)
  std::vector<BlockCopy> swap_in;   // (CPU block, GPU block)
  std::vector<BlockCopy> copies;    // (GPU block, GPU block): copy-on-write and fork copies

  // New tokens whose K/V is written this step: prefill chunks, then decode tokens.
  std::vector<int64_t> slot_mapping;  // [num_new_tokens] physical slot, -1 for padding
  std::vector<TokenId> new_tokens;    // [num_new_tokens]
  std::vector<int32_t> new_positions; // [num_new_tokens]

  // Attention: one query per sequence (decodes, and prefills that complete this step).
  std::vector<SeqId> batch_seqs;        // [batch]
  std::vector<int32_t> context_lens;    // [batch] tokens attended, the query's own included
  std::vector<TokenId> query_tokens;    // [batch]
  std::vector<int32_t> query_positions; // [batch]
  std::vector<int32_t> block_tables;    // [batch, max_blocks_per_seq], padded with -1
  int32_t max_blocks_per_seq = 0;

  int32_t batch() const { return static_cast<int32_t>(batch_seqs.size()); }
  void clear() { *this = StepPlan{}; }
};

// Per-kernel times of one step in milliseconds; negative when the backend did not measure it.
struct KernelTimes {
  double attention_ms = -1;
  double contiguous_attention_ms = -1;  // the same batch on a contiguous layout, when measured
  double write_ms = -1;
  double copy_ms = -1;
  double swap_ms = -1;
  bool measured() const { return attention_ms >= 0; }
};

class BackendError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;         // "accounting", "cpu" or "cuda"
  virtual std::string description() const = 0;  // e.g. "NVIDIA H100 80GB HBM3", or why not
  // False when execute() ignores the plan's index lists (the engine then skips building them).
  virtual bool executes() const { return true; }
  // Executes the plan; throws BackendError when the device fails.
  virtual KernelTimes execute(const StepPlan& plan) = 0;
};

// Executes nothing: the engine's cost model gives the step its time.
class AccountingBackend final : public Backend {
 public:
  explicit AccountingBackend(std::string why = "modelled times") : why_(std::move(why)) {}
  std::string name() const override { return "accounting"; }
  std::string description() const override { return "accounting: " + why_; }
  bool executes() const override { return false; }
  KernelTimes execute(const StepPlan&) override { return {}; }

 private:
  std::string why_;
};

}  // namespace tinyserve
