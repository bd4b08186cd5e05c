#include "core/execution/kv_executor.h"

#include <algorithm>
#include <cmath>

#include "core/base/strings.h"

namespace tinyserve {

std::string_view kernel_version_name(KernelVersion v) {
  switch (v) {
    case KernelVersion::kV1:
      return "v1";
    case KernelVersion::kV2:
      return "v2";
    case KernelVersion::kV3:
      return "v3";
    case KernelVersion::kV4:
      return "v4";
    case KernelVersion::kV5:
      return "v5";
    case KernelVersion::kV6:
      return "v6";
  }
  return "?";
}

bool kernel_supports(KernelVersion v, DType t) {
  return !is_fp8(t) || (v != KernelVersion::kV1 && v != KernelVersion::kV2);
}

bool parse_kernel_version(std::string_view text, KernelVersion& out) {
  for (KernelVersion v : kAllKernelVersions) {
    if (text == kernel_version_name(v)) {
      out = v;
      return true;
    }
  }
  return false;
}

float attention_scale(int32_t head_dim) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
}

Status KvGeometry::validate() const {
  if (num_layers < 1) return Status::failure(cat("num_layers must be >= 1, got ", num_layers));
  if (head_dim != 64 && head_dim != 128 && head_dim != 256) {
    return Status::failure(cat("head_dim must be 64, 128 or 256, got ", head_dim));
  }
  if (block_size < 1 || block_size > 256 || (block_size & (block_size - 1)) != 0) {
    return Status::failure(cat("block_size must be a power of two in [1, 256], got ", block_size));
  }
  if (num_kv_heads < 1 || num_heads < num_kv_heads || num_heads % num_kv_heads != 0 ||
      num_heads / num_kv_heads > 8) {
    return Status::failure(cat("num_heads (", num_heads, ") must be num_kv_heads (", num_kv_heads,
                               ") times a group size of 1 to 8"));
  }
  if (kv_latent_dim > 0) {
    return Status::failure("multi-head latent attention (MLA) caches are modelled, not executed");
  }
  if (num_gpu_blocks < 0 || num_cpu_blocks < 0) {
    return Status::failure("block counts must not be negative");
  }
  const auto valid_scale = [](float s) { return std::isfinite(s) && s > 0.0f; };
  if (!valid_scale(k_scale) || !valid_scale(v_scale)) {
    return Status::failure(
        cat("k_scale and v_scale must be finite and positive, got ", k_scale, " and ", v_scale));
  }
  for (const auto* heads : {&k_head_scales, &v_head_scales}) {
    if (!heads->empty() && static_cast<int32_t>(heads->size()) != num_kv_heads) {
      return Status::failure(
          cat("per-head scales: ", heads->size(), " given for ", num_kv_heads, " KV heads"));
    }
    for (float s : *heads) {
      if (!valid_scale(s)) {
        return Status::failure(cat("per-head scales must be finite and positive, got ", s));
      }
    }
  }
  if (synthetic != SyntheticPattern::kUniform && synthetic != SyntheticPattern::kStructured) {
    return Status::failure("unknown synthetic K/V pattern");
  }
  if (key_bounds && is_fp8(dtype)) {
    return Status::failure(cat("key bounds (query-aware selection) of ", dtype_name(dtype),
                               " pools are not supported yet"));
  }
  return {};
}

KvScales KvGeometry::scales() const {
  KvScales s;
  s.k = k_scale;
  s.v = v_scale;
  s.k_heads = k_head_scales.empty() ? nullptr : k_head_scales.data();
  s.v_heads = v_head_scales.empty() ? nullptr : v_head_scales.data();
  return s;
}

namespace {

// Destinations must be distinct; within one pool no block may be both a source and a
// destination (the copies of one list run in parallel).
Status check_copies(const char* what, const std::vector<BlockCopy>& copies, int32_t src_blocks,
                    int32_t dst_blocks, bool same_pool) {
  std::vector<BlockId> dsts;
  dsts.reserve(copies.size());
  for (const BlockCopy& c : copies) {
    if (c.src < 0 || c.src >= src_blocks || c.dst < 0 || c.dst >= dst_blocks) {
      return Status::failure(cat(what, ": copy ", c.src, " -> ", c.dst, " out of range (",
                                 src_blocks, " source blocks, ", dst_blocks, " destination)"));
    }
    dsts.push_back(c.dst);
  }
  std::sort(dsts.begin(), dsts.end());
  if (auto it = std::adjacent_find(dsts.begin(), dsts.end()); it != dsts.end()) {
    return Status::failure(cat(what, ": block ", *it, " is written twice"));
  }
  if (same_pool) {
    for (const BlockCopy& c : copies) {
      if (std::binary_search(dsts.begin(), dsts.end(), c.src)) {
        return Status::failure(cat(what, ": block ", c.src, " is both copied and overwritten"));
      }
    }
  }
  return {};
}

}  // namespace

Status validate_plan(const KvGeometry& g, const StepPlan& plan) {
  if (plan.block_size != g.block_size) {
    return Status::failure(cat("the plan is for blocks of ", plan.block_size,
                               " tokens, the pools hold blocks of ", g.block_size));
  }
  if (Status s = check_copies("swap_out", plan.swap_out, g.num_gpu_blocks, g.num_cpu_blocks, false);
      !s.ok()) {
    return s;
  }
  if (Status s = check_copies("swap_in", plan.swap_in, g.num_cpu_blocks, g.num_gpu_blocks, false);
      !s.ok()) {
    return s;
  }
  if (Status s = check_copies("copies", plan.copies, g.num_gpu_blocks, g.num_gpu_blocks, true);
      !s.ok()) {
    return s;
  }

  const size_t n = plan.slot_mapping.size();
  if (plan.new_tokens.size() != n || plan.new_positions.size() != n) {
    return Status::failure(cat("new tokens: ", n, " slots but ", plan.new_tokens.size(),
                               " token ids and ", plan.new_positions.size(), " positions"));
  }
  const int64_t num_slots = static_cast<int64_t>(g.num_gpu_blocks) * g.block_size;
  std::vector<int64_t> slots;
  slots.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t slot = plan.slot_mapping[i];
    if (slot >= num_slots) {
      return Status::failure(cat("new token ", i, ": slot ", slot, " >= ", num_slots, " slots"));
    }
    if (plan.new_positions[i] < 0) {
      return Status::failure(cat("new token ", i, ": negative position"));
    }
    if (slot >= 0) slots.push_back(slot);
  }
  std::sort(slots.begin(), slots.end());
  if (auto it = std::adjacent_find(slots.begin(), slots.end()); it != slots.end()) {
    return Status::failure(cat("slot ", *it, " is written twice in one step"));
  }

  const SelectionSettings& sel = plan.selection;
  if (sel.budget_tokens < 0 || !(sel.budget_ratio >= 0.0f && sel.budget_ratio <= 1.0f) ||
      (sel.group_score != GroupScore::kMax && sel.group_score != GroupScore::kSum)) {
    return Status::failure(cat("selection: budget_tokens ", sel.budget_tokens, " and budget_ratio ",
                               sel.budget_ratio, " must be >= 0 and in [0, 1]"));
  }
  if (sel.enabled() && !g.key_bounds) {
    return Status::failure("selection needs key bounds: KvGeometry::key_bounds is off");
  }

  // The attention batch: CSR query offsets over the new tokens, prefill chunks first.
  const size_t batch = plan.context_lens.size();
  if (batch == 0) {
    if (!plan.query_start.empty() || plan.num_prefills != 0) {
      return Status::failure(cat("attention batch: no entries but ", plan.query_start.size(),
                                 " query offsets and ", plan.num_prefills, " prefills"));
    }
    return {};
  }
  if (plan.query_start.size() != batch + 1 || plan.query_start[0] != 0) {
    return Status::failure(cat("attention batch: ", batch, " entries need ", batch + 1,
                               " query offsets starting at 0, got ", plan.query_start.size()));
  }
  if (plan.num_prefills < 0 || static_cast<size_t>(plan.num_prefills) > batch) {
    return Status::failure(
        cat("attention batch: ", plan.num_prefills, " prefills in a batch of ", batch));
  }
  if (plan.num_queries() > static_cast<int64_t>(n)) {
    return Status::failure(
        cat("attention batch: ", plan.num_queries(), " queries but ", n, " new tokens"));
  }
  if (plan.max_blocks_per_seq < 1 ||
      plan.block_tables.size() != batch * static_cast<size_t>(plan.max_blocks_per_seq)) {
    return Status::failure(cat("attention batch: block_tables holds ", plan.block_tables.size(),
                               " entries, expected ", batch, " x ", plan.max_blocks_per_seq));
  }
  for (size_t b = 0; b < batch; ++b) {
    const int32_t count = plan.query_start[b + 1] - plan.query_start[b];
    if (count < 1 || (static_cast<int32_t>(b) >= plan.num_prefills && count != 1)) {
      return Status::failure(cat("sequence ", b, ": ", count, " queries (a prefill chunk has ",
                                 "at least one, a decode exactly one)"));
    }
    const int32_t len = plan.context_lens[b];
    if (len < count || len > plan.max_blocks_per_seq * g.block_size) {
      return Status::failure(cat("sequence ", b, ": context length ", len, " outside [", count,
                                 ", ", plan.max_blocks_per_seq * g.block_size, "]"));
    }
    const int32_t* table =
        plan.block_tables.data() + b * static_cast<size_t>(plan.max_blocks_per_seq);
    const int32_t used = (len + g.block_size - 1) / g.block_size;
    for (int32_t i = 0; i < used; ++i) {
      if (table[i] < 0 || table[i] >= g.num_gpu_blocks) {
        return Status::failure(
            cat("sequence ", b, ": logical block ", i, " maps to invalid block ", table[i]));
      }
    }
    // The queries are the sequence's last tokens, written where its block table maps them.
    for (int32_t i = 0; i < count; ++i) {
      const size_t token = static_cast<size_t>(plan.query_start[b] + i);
      const int32_t pos = len - count + i;
      const int64_t slot =
          static_cast<int64_t>(table[pos / g.block_size]) * g.block_size + pos % g.block_size;
      if (plan.new_positions[token] != pos || plan.slot_mapping[token] != slot) {
        return Status::failure(cat("sequence ", b, ": query ", i, " is new token ", token,
                                   " at position ", plan.new_positions[token], " in slot ",
                                   plan.slot_mapping[token], ", expected position ", pos,
                                   " in slot ", slot));
      }
    }
  }
  return {};
}

}  // namespace tinyserve
