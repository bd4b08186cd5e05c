// The FlashInfer decode anchor: FlashInfer's header-only BatchDecodeWithPagedKVCache, timed by
// the kernel benchmark on TinyServe's own pools (FlashInfer's HND layout is TinyServe's
// [num_blocks, num_kv_heads, block_size, head_dim]), planned as FlashInfer's Python wrapper
// (BatchDecodeWithPagedKVCacheWrapper, flashinfer/decode.py) plans it:
// - CUDA cores (use_tensor_cores=False): DecodePlan with the decode kernel's work estimation,
//   then BatchDecodeWithPagedKVCacheDispatched;
// - tensor cores (use_tensor_cores=True, backend fa2 for fp16): PrefillPlan with one query row
//   per request, then BatchPrefillWithPagedKVCacheDispatched without a mask.
// The Params structs repeat what FlashInfer's JIT generates for the default variant
// (csrc/batch_decode_customize_config.jinja, csrc/batch_prefill_customize_config.jinja, with
// the additional parameters of flashinfer/jit/attention/modules.py); workspaces of 128 MiB
// (float) and 8 MiB (int), PDL on (device_support_pdl is true on sm_90), no CUDA graph, no
// sliding window, no soft cap, sm_scale = 1 / sqrt(head_dim). fp16 pools, head dim 128.
// Built only with -DTINYSERVE_FLASHINFER_DIR / -DTINYSERVE_CCCL_DIR (gpu/CMakeLists.txt).
#include <cmath>
#include <flashinfer/attention/decode.cuh>
#include <flashinfer/attention/mask.cuh>
#include <flashinfer/attention/prefill.cuh>
#include <flashinfer/attention/scheduler.cuh>
#include <flashinfer/attention/variants.cuh>
#include <flashinfer/fastdiv.cuh>
#include <flashinfer/page.cuh>
#include <flashinfer/pos_enc.cuh>
#include <flashinfer/utils.cuh>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gpu/tools/anchors.h"

namespace tinyserve::gpu {
namespace {

using IdType = int32_t;
constexpr uint32_t kHeadDim = 128;

struct DecodeParams {  // csrc/batch_decode_customize_config.jinja, default variant
  using DTypeQ = half;
  using DTypeKV = half;
  using DTypeO = half;
  using IdType = tinyserve::gpu::IdType;

  DTypeQ* q;
  flashinfer::paged_kv_t<DTypeKV, IdType> paged_kv;
  DTypeO* o;
  float* lse;

  float* maybe_alibi_slopes;
  double logits_soft_cap;
  double sm_scale;
  double rope_rcp_scale;
  double rope_rcp_theta;

  uint32_t padded_batch_size;
  uint32_t num_qo_heads;
  IdType q_stride_n;
  IdType q_stride_h;
  int32_t window_left;
  bool enable_pdl;

  IdType* request_indices;
  IdType* kv_tile_indices;
  IdType* o_indptr;
  IdType* kv_chunk_size_ptr;
  bool* block_valid_mask;
  bool partition_kv;

  __host__ __device__ __forceinline__ int32_t get_qo_len(int32_t) const { return 1; }
  __host__ __device__ __forceinline__ int32_t get_kv_len(int32_t batch_idx) const {
    return paged_kv.get_length(batch_idx);
  }
};

struct PrefillParams {  // csrc/batch_prefill_customize_config.jinja (PagedParams), fa2 default
  using DTypeQ = half;
  using DTypeKV = half;
  using DTypeO = half;
  using IdType = tinyserve::gpu::IdType;

  DTypeQ* q;
  flashinfer::paged_kv_t<DTypeKV, IdType> paged_kv;
  IdType* q_indptr;
  DTypeO* o;
  float* lse;
  flashinfer::uint_fastdiv group_size;

  uint8_t* maybe_custom_mask;
  int32_t* maybe_mask_indptr;
  float* maybe_alibi_slopes;
  uint32_t* maybe_prefix_len_ptr;
  uint16_t* maybe_token_pos_in_items_ptr;
  uint16_t* maybe_max_item_len_ptr;
  uint8_t* maybe_k_cache_sf;
  uint8_t* maybe_v_cache_sf;
  double logits_soft_cap;
  double sm_scale;
  double rope_rcp_scale;
  double rope_rcp_theta;
  int64_t token_pos_in_items_len;

  uint32_t num_qo_heads;
  IdType q_stride_n;
  IdType q_stride_h;
  uint32_t k_sf_stride_page;
  uint32_t k_sf_stride_n;
  uint32_t k_sf_stride_h;
  uint32_t v_sf_stride_page;
  uint32_t v_sf_stride_n;
  uint32_t v_sf_stride_h;
  int32_t window_left;

  IdType* request_indices;
  IdType* qo_tile_indices;
  IdType* kv_tile_indices;
  IdType* merge_indptr;
  IdType* o_indptr;
  bool* block_valid_mask;
  IdType* kv_chunk_size_ptr;
  uint32_t max_total_num_rows;
  uint32_t* total_num_rows;
  uint32_t padded_batch_size;
  bool partition_kv;

  __host__ __device__ __forceinline__ uint32_t get_qo_len(uint32_t batch_idx) const {
    return q_indptr[batch_idx + 1] - q_indptr[batch_idx];
  }
  __host__ __device__ __forceinline__ uint32_t get_kv_len(uint32_t batch_idx) const {
    return paged_kv.get_length(batch_idx);
  }
};

using DecodeVariant = flashinfer::DefaultAttention<false, false, false, false>;
using PrefillVariant = flashinfer::DefaultAttention<false, false, false, false>;

template <typename T>
T* at_offset(void* base, int64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  cudaError_t allocate(size_t bytes) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    return cudaMalloc(&ptr_, bytes);
  }
  template <typename T = void>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

// What both paths share: the CSR page lists of FlashInfer's paged_kv_t, built from TinyServe's
// block tables, and the workspaces the wrapper allocates.
class FlashInferDecode : public DecodeAnchor {
 protected:
  std::string setup(const DecodeProblem& p) {
    if (p.cache.dtype != DType::kF16) return "fp16 pools only";
    if (p.cache.head_dim != static_cast<int32_t>(kHeadDim)) return "head dim 128 only";
    if (p.batch.table_head_stride != 0) return "one block table per sequence only";
    problem_ = p;
    const int32_t batch = p.batch.batch;
    const int32_t bs = p.cache.block_size;
    indptr_h_.assign(static_cast<size_t>(batch) + 1, 0);
    std::vector<IdType> indices, last_page_len(static_cast<size_t>(batch));
    for (int32_t b = 0; b < batch; ++b) {
      const int32_t len = p.host_lens[b];
      const int32_t pages = (len + bs - 1) / bs;
      for (int32_t i = 0; i < pages; ++i) {
        indices.push_back(p.host_tables[static_cast<int64_t>(b) * p.batch.max_blocks_per_seq + i]);
      }
      indptr_h_[b + 1] = indptr_h_[b] + pages;
      last_page_len[b] = len - (pages - 1) * bs;
    }
    qo_indptr_h_.resize(static_cast<size_t>(batch) + 1);
    std::iota(qo_indptr_h_.begin(), qo_indptr_h_.end(), 0);
    for (auto [buffer, host] :
         {std::pair{&indptr_, &indptr_h_}, std::pair{&indices_, &indices},
          std::pair{&last_page_len_, &last_page_len}, std::pair{&qo_indptr_, &qo_indptr_h_}}) {
      if (buffer->allocate(host->size() * sizeof(IdType)) != cudaSuccess ||
          cudaMemcpy(buffer->get(), host->data(), host->size() * sizeof(IdType),
                     cudaMemcpyHostToDevice) != cudaSuccess) {
        return "cannot upload the page lists";
      }
    }
    if (float_ws_.allocate(kFloatWorkspace) != cudaSuccess ||
        int_ws_.allocate(kIntWorkspace) != cudaSuccess) {
      return "cannot allocate the workspaces";
    }
    pinned_.resize(kIntWorkspace);
    return {};
  }

  flashinfer::paged_kv_t<half, IdType> paged_kv() const {
    const PagedKv& c = problem_.cache;
    return flashinfer::paged_kv_t<half, IdType>(
        c.num_kv_heads, c.block_size, kHeadDim, problem_.batch.batch, flashinfer::QKVLayout::kHND,
        static_cast<half*>(c.k), static_cast<half*>(c.v), indices_.get<IdType>(),
        indptr_.get<IdType>(), last_page_len_.get<IdType>());
  }

  static constexpr size_t kFloatWorkspace = size_t{128} << 20;
  static constexpr size_t kIntWorkspace = size_t{8} << 20;
  DecodeProblem problem_;
  std::vector<IdType> indptr_h_, qo_indptr_h_;
  DeviceBuffer indptr_, indices_, last_page_len_, qo_indptr_, float_ws_, int_ws_;
  std::vector<char> pinned_;  // the wrapper's page-locked int workspace (pageable here)
};

class CudaCoreDecode final : public FlashInferDecode {
 public:
  std::string name() const override { return "flashinfer decode (CUDA cores)"; }

  std::string prepare(const DecodeProblem& p) override {
    if (std::string why = setup(p); !why.empty()) return why;
    const uint32_t group = p.batch.num_heads / p.cache.num_kv_heads;
    cudaError_t status = cudaErrorInvalidValue;
    DISPATCH_GQA_GROUP_SIZE(group, GROUP_SIZE, {
      auto estimate = flashinfer::BatchDecodeWithPagedKVCacheWorkEstimationDispatched<
          GROUP_SIZE, kHeadDim, flashinfer::PosEncodingMode::kNone, DecodeVariant, DecodeParams>;
      status = flashinfer::DecodePlan<kHeadDim, flashinfer::PosEncodingMode::kNone, DecodeVariant,
                                      DecodeParams>(
          float_ws_.get(), kFloatWorkspace, int_ws_.get(), pinned_.data(), kIntWorkspace, plan_,
          indptr_h_.data(), p.batch.batch, p.batch.num_heads, p.cache.block_size, false, nullptr,
          estimate);
    });
    if (status != cudaSuccess) return std::string("DecodePlan: ") + cudaGetErrorString(status);
    return {};
  }

  cudaError_t run(cudaStream_t stream) override {
    const DecodeBatch& b = problem_.batch;
    DecodeParams params{};
    params.q = static_cast<half*>(const_cast<void*>(b.q));
    params.paged_kv = paged_kv();
    params.o = static_cast<half*>(b.out);
    params.lse = nullptr;
    params.maybe_alibi_slopes = nullptr;
    params.logits_soft_cap = 0.0;
    params.sm_scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
    params.rope_rcp_scale = 1.0;
    params.rope_rcp_theta = 1.0 / 1e4;
    params.num_qo_heads = b.num_heads;
    params.q_stride_n = b.num_heads * kHeadDim;
    params.q_stride_h = kHeadDim;
    params.window_left = -1;
    params.partition_kv = false;
    void* ints = int_ws_.get();
    params.request_indices = at_offset<IdType>(ints, plan_.request_indices_offset);
    params.kv_tile_indices = at_offset<IdType>(ints, plan_.kv_tile_indices_offset);
    params.o_indptr = at_offset<IdType>(ints, plan_.o_indptr_offset);
    params.kv_chunk_size_ptr = at_offset<IdType>(ints, plan_.kv_chunk_size_ptr_offset);
    params.block_valid_mask = nullptr;
    half* tmp_v = nullptr;
    float* tmp_s = nullptr;
    if (plan_.split_kv) {
      tmp_v = at_offset<half>(float_ws_.get(), plan_.v_offset);
      tmp_s = at_offset<float>(float_ws_.get(), plan_.s_offset);
    }
    params.padded_batch_size = plan_.padded_batch_size;
    return flashinfer::BatchDecodeWithPagedKVCacheDispatched<
        kHeadDim, flashinfer::PosEncodingMode::kNone, DecodeVariant>(params, tmp_v, tmp_s,
                                                                     /*enable_pdl=*/true, stream);
  }

 private:
  flashinfer::DecodePlanInfo plan_;
};

class TensorCoreDecode final : public FlashInferDecode {
 public:
  std::string name() const override { return "flashinfer decode (tensor cores)"; }

  std::string prepare(const DecodeProblem& p) override {
    if (std::string why = setup(p); !why.empty()) return why;
    const cudaError_t status = flashinfer::PrefillPlan<IdType>(
        float_ws_.get(), kFloatWorkspace, int_ws_.get(), pinned_.data(), kIntWorkspace, plan_,
        qo_indptr_h_.data(), indptr_h_.data(), p.batch.batch, p.batch.batch, p.batch.num_heads,
        p.cache.num_kv_heads, kHeadDim, kHeadDim, p.cache.block_size, false, sizeof(half), -1, -1,
        false, 0, 0, nullptr, sizeof(half));
    if (status != cudaSuccess) return std::string("PrefillPlan: ") + cudaGetErrorString(status);
    if (plan_.cta_tile_q != 16 && plan_.cta_tile_q != 64) {
      return "the plan chose a CTA tile this anchor does not instantiate";
    }
    return {};
  }

  cudaError_t run(cudaStream_t stream) override {
    const DecodeBatch& b = problem_.batch;
    PrefillParams params{};
    params.q = static_cast<half*>(const_cast<void*>(b.q));
    params.paged_kv = paged_kv();
    params.q_indptr = qo_indptr_.get<IdType>();
    params.o = static_cast<half*>(b.out);
    params.lse = nullptr;
    params.group_size = flashinfer::uint_fastdiv(b.num_heads / problem_.cache.num_kv_heads);
    params.logits_soft_cap = 0.0;
    params.sm_scale = 1.0 / std::sqrt(static_cast<double>(kHeadDim));
    params.rope_rcp_scale = 1.0;
    params.rope_rcp_theta = 1.0 / 1e4;
    params.token_pos_in_items_len = 0;
    params.num_qo_heads = b.num_heads;
    params.q_stride_n = b.num_heads * kHeadDim;
    params.q_stride_h = kHeadDim;
    params.window_left = -1;
    params.partition_kv = false;
    void* ints = int_ws_.get();
    params.request_indices = at_offset<IdType>(ints, plan_.request_indices_offset);
    params.qo_tile_indices = at_offset<IdType>(ints, plan_.qo_tile_indices_offset);
    params.kv_tile_indices = at_offset<IdType>(ints, plan_.kv_tile_indices_offset);
    params.o_indptr = at_offset<IdType>(ints, plan_.o_indptr_offset);
    params.kv_chunk_size_ptr = at_offset<IdType>(ints, plan_.kv_chunk_size_ptr_offset);
    half* tmp_v = nullptr;
    float* tmp_s = nullptr;
    if (plan_.split_kv) {
      params.merge_indptr = at_offset<IdType>(ints, plan_.merge_indptr_offset);
      tmp_v = at_offset<half>(float_ws_.get(), plan_.v_offset);
      tmp_s = at_offset<float>(float_ws_.get(), plan_.s_offset);
    }
    params.padded_batch_size = plan_.padded_batch_size;
    params.max_total_num_rows = plan_.total_num_rows;
    cudaError_t status = cudaErrorInvalidValue;
    const auto launch = [&](auto tile) {
      constexpr uint32_t kTile = decltype(tile)::value;
      return flashinfer::BatchPrefillWithPagedKVCacheDispatched<
          kTile, kHeadDim, kHeadDim, flashinfer::PosEncodingMode::kNone, false,
          flashinfer::MaskMode::kNone, PrefillVariant>(params, tmp_v, tmp_s,
                                                       /*enable_pdl=*/true, stream);
    };
    if (plan_.cta_tile_q == 16) status = launch(std::integral_constant<uint32_t, 16>{});
    if (plan_.cta_tile_q == 64) status = launch(std::integral_constant<uint32_t, 64>{});
    return status;
  }

 private:
  flashinfer::PrefillPlanInfo plan_;
};

}  // namespace

std::vector<std::unique_ptr<DecodeAnchor>> flashinfer_decode_anchors() {
  std::vector<std::unique_ptr<DecodeAnchor>> anchors;
  anchors.push_back(std::make_unique<CudaCoreDecode>());
  anchors.push_back(std::make_unique<TensorCoreDecode>());
  return anchors;
}

}  // namespace tinyserve::gpu
