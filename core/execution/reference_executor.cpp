#include "core/execution/reference_executor.h"

#include <chrono>
#include <cstring>

#include "core/base/strings.h"
#include "core/execution/attention_reference.h"
#include "core/execution/key_bounds.h"
#include "core/execution/synthetic_kv.h"

namespace tinyserve {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Synthesises rows [count, heads, head_dim] of `kind` for one layer into out, in
// query_dtype(g.dtype) (fp8 pools quantize them in reshape_and_cache).
void synthesize_rows(const KvGeometry& g, SyntheticKind kind, int32_t layer, int32_t heads,
                     const TokenId* tokens, const int32_t* positions, size_t count, void* out) {
  const SyntheticSpec spec = g.synthetic_spec();
  const DType t = query_dtype(g.dtype);
  for (size_t i = 0; i < count; ++i) {
    for (int32_t h = 0; h < heads; ++h) {
      const uint64_t row = synthetic_row(g.seed, kind, tokens[i], positions[i], layer, h);
      const int64_t base = (static_cast<int64_t>(i) * heads + h) * g.head_dim;
      for (int32_t d = 0; d < g.head_dim; ++d) {
        store_element(out, t, base + d,
                      synthetic_element(spec, row, kind, positions[i], layer, h, d));
      }
    }
  }
}

}  // namespace

Expected<std::unique_ptr<ReferenceExecutor>> ReferenceExecutor::create(const KvGeometry& geometry,
                                                                       int64_t max_pool_bytes) {
  Expected<std::unique_ptr<ReferenceExecutor>> result;
  if (result.status = geometry.validate(); !result.ok()) return result;
  const int64_t per_block =
      geometry.bytes_per_block() +
      (geometry.key_bounds ? geometry.bounds_block_bytes() * geometry.num_layers : 0);
  const int64_t bytes =
      per_block * (static_cast<int64_t>(geometry.num_gpu_blocks) + geometry.num_cpu_blocks);
  if (bytes > max_pool_bytes) {
    result.status = Status::failure(cat("the CPU reference executor's pools would take ", bytes,
                                        " bytes of host memory, more than its limit of ",
                                        max_pool_bytes, " bytes; use fewer blocks or layers"));
    return result;
  }
  result.value.reset(new ReferenceExecutor(geometry));
  return result;
}

ReferenceExecutor::ReferenceExecutor(const KvGeometry& geometry) : geometry_(geometry) {
  const auto layer_bytes = [&](int32_t blocks) {
    return static_cast<size_t>(geometry.block_bytes() * blocks * geometry.num_layers);
  };
  gpu_k_.resize(layer_bytes(geometry.num_gpu_blocks));
  gpu_v_.resize(layer_bytes(geometry.num_gpu_blocks));
  cpu_k_.resize(layer_bytes(geometry.num_cpu_blocks));
  cpu_v_.resize(layer_bytes(geometry.num_cpu_blocks));
  if (geometry.key_bounds) {
    const auto bounds_bytes = [&](int32_t blocks) {
      return static_cast<size_t>(geometry.bounds_block_bytes() * blocks * geometry.num_layers);
    };
    gpu_bounds_.resize(bounds_bytes(geometry.num_gpu_blocks));
    cpu_bounds_.resize(bounds_bytes(geometry.num_cpu_blocks));
  }
  selections_.resize(static_cast<size_t>(geometry.num_layers));
}

KeyBounds ReferenceExecutor::bounds_view(std::vector<uint8_t>& data, int32_t num_blocks) {
  KeyBounds b;
  b.data = data.data();
  b.dtype = key_bounds_dtype(geometry_.dtype);
  b.num_layers = geometry_.num_layers;
  b.num_blocks = num_blocks;
  b.num_kv_heads = geometry_.num_kv_heads;
  b.head_dim = geometry_.head_dim;
  return b;
}

PagedKv ReferenceExecutor::view(std::vector<uint8_t>& k, std::vector<uint8_t>& v,
                                int32_t num_blocks) {
  PagedKv p;
  p.k = k.data();
  p.v = v.data();
  p.dtype = geometry_.dtype;
  p.num_layers = geometry_.num_layers;
  p.num_blocks = num_blocks;
  p.num_kv_heads = geometry_.num_kv_heads;
  p.block_size = geometry_.block_size;
  p.head_dim = geometry_.head_dim;
  p.scales = geometry_.scales();
  return p;
}

StepResult ReferenceExecutor::execute(const StepPlan& plan) {
  StepResult result;
  if (result.status = validate_plan(geometry_, plan); !result.ok()) return result;
  const bool bounds = geometry_.key_bounds;
  auto start = Clock::now();
  copy_blocks_reference(gpu_pool(), cpu_pool(), plan.swap_out);
  if (bounds) copy_key_bounds_reference(gpu_bounds(), cpu_bounds(), plan.swap_out);
  result.times.swap_out_ms = ms_since(start);
  start = Clock::now();
  copy_blocks_reference(cpu_pool(), gpu_pool(), plan.swap_in);
  if (bounds) copy_key_bounds_reference(cpu_bounds(), gpu_bounds(), plan.swap_in);
  result.times.swap_in_ms = ms_since(start);
  start = Clock::now();
  copy_blocks_reference(gpu_pool(), gpu_pool(), plan.copies);
  if (bounds) copy_key_bounds_reference(gpu_bounds(), gpu_bounds(), plan.copies);
  result.times.copy_blocks_ms = ms_since(start);
  start = Clock::now();
  write_new_tokens(plan);
  if (bounds) {
    const auto bounds_start = Clock::now();
    const std::vector<BlockWrite> writes = block_writes(plan.slot_mapping, geometry_.block_size);
    update_key_bounds_reference(gpu_pool(), gpu_bounds(), writes);
    result.selection.bounds_ms = ms_since(bounds_start);
  }
  result.times.write_kv_ms = ms_since(start);
  output_valid_ = attention_enabled_;
  if (attention_enabled_) {
    attention(plan, result.times, result.selection);
  } else {
    output_.clear();
    for (BlockSelection& s : selections_) s = BlockSelection{};
  }
  result.times.attention_ms = result.times.prefill_attention_ms + result.times.decode_attention_ms;
  result.stages_applied = 5;
  return result;
}

void ReferenceExecutor::write_new_tokens(const StepPlan& plan) {
  const KvGeometry& g = geometry_;
  const size_t n = plan.slot_mapping.size();
  if (n == 0) return;
  std::vector<uint8_t> key(
      n * static_cast<size_t>(g.num_kv_heads * g.head_dim * dtype_size(query_dtype(g.dtype))));
  std::vector<uint8_t> value(key.size());
  for (int32_t l = 0; l < g.num_layers; ++l) {
    synthesize_rows(g, SyntheticKind::kKey, l, g.num_kv_heads, plan.new_tokens.data(),
                    plan.new_positions.data(), n, key.data());
    synthesize_rows(g, SyntheticKind::kValue, l, g.num_kv_heads, plan.new_tokens.data(),
                    plan.new_positions.data(), n, value.data());
    NewKv tokens;
    tokens.key = key.data();
    tokens.value = value.data();
    tokens.slot_mapping = plan.slot_mapping.data();
    tokens.num_tokens = static_cast<int32_t>(n);
    reshape_and_cache_reference(gpu_pool().layer(l), tokens);
  }
}

// The decode entries of the last step (tables_, lens_, queries_), one layer.
DecodeBatch ReferenceExecutor::layer_batch(int32_t layer) {
  const KvGeometry& g = geometry_;
  DecodeBatch db;
  db.batch = static_cast<int32_t>(lens_.size());
  const size_t per_layer = static_cast<size_t>(db.batch) * g.num_heads * g.head_dim;
  db.q = queries_.data() + per_layer * dtype_size(query_dtype(g.dtype)) * layer;
  db.block_tables = tables_.data();
  db.context_lens = lens_.data();
  db.num_heads = g.num_heads;
  db.max_blocks_per_seq = max_blocks_per_seq_;
  db.max_context_len = max_blocks_per_seq_ * g.block_size;
  db.scale = attention_scale(g.head_dim);
  return db;
}

// Prefill chunks through the prefill reference, decodes through the decode reference (sparse over
// the selected blocks when the plan selects), each timed on the host clock.
void ReferenceExecutor::attention(const StepPlan& plan, StageTimes& times, SelectionStats& stats) {
  const KvGeometry& g = geometry_;
  const int32_t num_queries = plan.num_queries();
  const size_t row = static_cast<size_t>(g.num_heads) * g.head_dim;
  const size_t per_layer = static_cast<size_t>(num_queries) * row;
  output_.assign(per_layer * g.num_layers, 0.0f);
  const int32_t decodes = plan.num_decodes();
  const size_t table_offset = static_cast<size_t>(plan.num_prefills) * plan.max_blocks_per_seq;
  tables_.assign(plan.block_tables.begin() + static_cast<std::ptrdiff_t>(table_offset),
                 plan.block_tables.end());
  lens_.assign(plan.context_lens.begin() + plan.num_prefills, plan.context_lens.end());
  max_blocks_per_seq_ = plan.max_blocks_per_seq;
  const DType qt = query_dtype(g.dtype);
  const size_t decode_layer_bytes = static_cast<size_t>(decodes) * row * dtype_size(qt);
  queries_.resize(decode_layer_bytes * g.num_layers);
  for (BlockSelection& s : selections_) s = BlockSelection{};
  if (num_queries == 0) return;
  const bool select = plan.selection.enabled() && decodes > 0;
  SelectionPlan selection_plan;
  if (select) {
    selection_plan = plan_selection(plan.selection, lens_, g.block_size);
    const int64_t token_bytes = int64_t{2} * g.num_kv_heads * g.head_dim * dtype_size(g.dtype);
    stats.active = true;
    stats.blocks_total = selection_plan.blocks_total * g.num_kv_heads * g.num_layers;
    stats.blocks_read = selection_plan.blocks_selected * g.num_kv_heads * g.num_layers;
    stats.bytes_full = selection_plan.tokens_total * token_bytes * g.num_layers;
    stats.bytes_selected = selection_plan.tokens_selected * token_bytes * g.num_layers;
    stats.bytes_bounds = selection_plan.blocks_total * g.bounds_block_bytes() * g.num_layers;
  }
  std::vector<uint8_t> q(per_layer * dtype_size(qt));
  std::vector<uint8_t> out(q.size());
  const int32_t prefill_queries = plan.num_prefill_queries();
  const size_t decode_offset = static_cast<size_t>(prefill_queries) * row * dtype_size(qt);
  PrefillBatch pb;
  pb.q = q.data();
  pb.out = out.data();
  pb.query_start = plan.query_start.data();
  pb.context_lens = plan.context_lens.data();
  pb.block_tables = plan.block_tables.data();
  pb.batch = plan.num_prefills;
  pb.num_queries = prefill_queries;
  pb.num_heads = g.num_heads;
  pb.max_blocks_per_seq = plan.max_blocks_per_seq;
  pb.scale = attention_scale(g.head_dim);
  for (int32_t l = 0; l < g.num_layers; ++l) {
    synthesize_rows(g, SyntheticKind::kQuery, l, g.num_heads, plan.new_tokens.data(),
                    plan.new_positions.data(), static_cast<size_t>(num_queries), q.data());
    auto start = Clock::now();
    if (pb.batch > 0) prefill_attention_reference(gpu_pool().layer(l), pb);
    times.prefill_attention_ms += ms_since(start);
    start = Clock::now();
    if (decodes > 0) {
      std::memcpy(queries_.data() + decode_layer_bytes * l, q.data() + decode_offset,
                  decode_layer_bytes);
      DecodeBatch db = layer_batch(l);
      db.out = out.data() + decode_offset;
      if (select) {
        auto select_start = Clock::now();
        const std::vector<float> scores = block_scores_reference(
            gpu_bounds().layer(l), db, g.block_size, qt, plan.selection.group_score);
        selections_[l] =
            select_blocks_reference(scores, db, g.num_kv_heads, g.block_size, selection_plan);
        stats.select_ms += ms_since(select_start);
        select_start = Clock::now();
        paged_attention_reference(gpu_pool().layer(l), sparse_batch(db, selections_[l]));
        stats.sparse_attention_ms += ms_since(select_start);
      } else {
        paged_attention_reference(gpu_pool().layer(l), db);
      }
    }
    times.decode_attention_ms += ms_since(start);
    for (size_t i = 0; i < per_layer; ++i) {
      output_[l * per_layer + i] = load_element(out.data(), qt, static_cast<int64_t>(i));
    }
  }
}

const BlockSelection& ReferenceExecutor::last_selection(int32_t layer) const {
  return selections_.at(static_cast<size_t>(layer));
}

Expected<SelectionQuality> ReferenceExecutor::selection_quality(int32_t layer) {
  Expected<SelectionQuality> result;
  if (layer < 0 || layer >= geometry_.num_layers || selections_[layer].batch == 0) {
    result.status = Status::failure(
        cat("selection_quality: the last step selected no blocks in layer ", layer));
    return result;
  }
  result.value =
      selection_quality_reference(gpu_pool().layer(layer), layer_batch(layer), selections_[layer]);
  return result;
}

Expected<BlockData> ReferenceExecutor::read_block(Pool pool, int32_t layer, BlockId block) const {
  Expected<BlockData> result;
  const int32_t blocks = pool == Pool::kGpu ? geometry_.num_gpu_blocks : geometry_.num_cpu_blocks;
  if (layer < 0 || layer >= geometry_.num_layers || block < 0 || block >= blocks) {
    result.status =
        Status::failure(cat("read_block: layer ", layer, " block ", block, " out of range (",
                            geometry_.num_layers, " layers, ", blocks, " blocks)"));
    return result;
  }
  const auto& k = pool == Pool::kGpu ? gpu_k_ : cpu_k_;
  const auto& v = pool == Pool::kGpu ? gpu_v_ : cpu_v_;
  const auto bytes = static_cast<size_t>(geometry_.block_bytes());
  const size_t offset = (static_cast<size_t>(layer) * blocks + static_cast<size_t>(block)) * bytes;
  result.value.k.assign(k.begin() + static_cast<std::ptrdiff_t>(offset),
                        k.begin() + static_cast<std::ptrdiff_t>(offset + bytes));
  result.value.v.assign(v.begin() + static_cast<std::ptrdiff_t>(offset),
                        v.begin() + static_cast<std::ptrdiff_t>(offset + bytes));
  return result;
}

Expected<std::vector<float>> ReferenceExecutor::read_output() const {
  if (!output_valid_)
    return {{}, Status::failure("the last step computed no attention (turned off)")};
  return {output_, {}};
}

}  // namespace tinyserve
