// The FlashInfer prefill anchor (flashinfer_prefill_anchor.h): compiled against a FlashInfer
// checkout (its headers, CUTLASS from its 3rdparty/cutlass) and CCCL at FlashInfer's commit.
#include <cuda_runtime.h>

#include <flashinfer/attention/hopper/prefill_sm90.cuh>
#include <flashinfer/attention/hopper/variants.cuh>
#include <flashinfer/attention/scheduler.cuh>

#include "gpu/tools/flashinfer_prefill_anchor.h"

namespace tinyserve::gpu {
namespace {

// The parameter struct FlashInfer's JIT generates for its sm_90 batch prefill (paged), with the
// additional parameters of the fp16 backend (no soft cap, no per-head V scale, no multi-item
// scoring).
struct PagedParams {
  using DTypeQ = cutlass::half_t;
  using DTypeKV = cutlass::half_t;
  using DTypeO = cutlass::half_t;
  using IdType = int32_t;
  DTypeQ* q_ptr;
  DTypeKV* k_ptr;
  DTypeKV* v_ptr;
  DTypeO* o_ptr;
  float* lse_ptr;
  IdType* qo_tile_indices;
  IdType* qo_indptr;
  IdType* kv_indptr;
  IdType* kv_indices;
  IdType* qo_lens;
  IdType* kv_lens;
  IdType* head_indices;
  IdType* work_indptr;
  IdType* batch_indices;
  struct AdditionalParams {
    uint32_t* maybe_prefix_len_ptr;
    uint16_t* maybe_token_pos_in_items_ptr;
    uint16_t* maybe_max_item_len_ptr;
    float* maybe_scale_v;
    double logits_soft_cap;
    double sm_scale;
    double scale_v_scalar;
    int64_t token_pos_in_items_len;
  } additional_params;
  int64_t q_stride_n;
  int64_t k_stride_n;
  int64_t v_stride_n;
  int64_t o_stride_n;
  int64_t q_stride_h;
  int64_t k_stride_h;
  int64_t v_stride_h;
  int64_t o_stride_h;
  int64_t nnz_qo;
  int64_t k_page_stride;
  int64_t v_page_stride;
  int head_dim;
  int num_qo_heads;
  int num_kv_heads;
  int group_size;
  int page_size;
  int window_left;
  bool causal;
};

using Variant = flashinfer::DefaultAttention</*use_logits_soft_cap=*/false>;
constexpr uint32_t kHeadDim = 128;

template <typename T>
T* at(void* base, int64_t offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

}  // namespace

struct FlashInferPrefill::Impl {
  // The wrapper's defaults: 128 MiB float workspace, 8 MiB int workspace (device and pinned).
  void* float_ws = nullptr;
  void* int_ws = nullptr;
  void* pinned_ws = nullptr;
  int32_t* kv_indices = nullptr;
  size_t float_bytes = size_t{128} << 20;
  size_t int_bytes = size_t{8} << 20;
  flashinfer::PrefillPlanSM90Info info;
  PagedParams params{};

  ~Impl() {
    cudaFree(float_ws);
    cudaFree(int_ws);
    cudaFreeHost(pinned_ws);
    cudaFree(kv_indices);
  }
};

FlashInferPrefill::FlashInferPrefill() : impl_(std::make_unique<Impl>()) {}
FlashInferPrefill::~FlashInferPrefill() = default;

std::string FlashInferPrefill::plan(const FlashInferPrefillInput& in) {
  Impl& s = *impl_;
  const auto fail = [](const char* what, cudaError_t e) {
    return std::string(what) + ": " + cudaGetErrorString(e);
  };
  cudaError_t e = cudaSuccess;
  if (s.float_ws == nullptr) {
    if ((e = cudaMalloc(&s.float_ws, s.float_bytes)) != cudaSuccess ||
        (e = cudaMalloc(&s.int_ws, s.int_bytes)) != cudaSuccess ||
        (e = cudaMallocHost(&s.pinned_ws, s.int_bytes)) != cudaSuccess) {
      return fail("FlashInfer workspace", e);
    }
  }
  cudaFree(s.kv_indices);
  s.kv_indices = nullptr;
  const size_t index_bytes = in.kv_indices.size() * sizeof(int32_t);
  if ((e = cudaMalloc(&s.kv_indices, index_bytes)) != cudaSuccess ||
      (e = cudaMemcpy(s.kv_indices, in.kv_indices.data(), index_bytes, cudaMemcpyHostToDevice)) !=
          cudaSuccess) {
    return fail("FlashInfer kv_indices", e);
  }
  const auto batch = static_cast<uint32_t>(in.kv_lens.size());
  std::vector<int32_t> qo_indptr = in.qo_indptr, kv_indptr = in.kv_indptr, kv_lens = in.kv_lens;
  e = flashinfer::PrefillSM90Plan<int32_t>(
      s.float_ws, s.float_bytes, s.int_ws, s.pinned_ws, s.int_bytes, s.info, qo_indptr.data(),
      kv_indptr.data(), kv_lens.data(), static_cast<uint32_t>(qo_indptr.back()), batch,
      static_cast<uint32_t>(in.num_heads), static_cast<uint32_t>(in.num_kv_heads), kHeadDim,
      kHeadDim, static_cast<uint32_t>(in.page_size), /*causal=*/true,
      /*enable_cuda_graph=*/false, /*sizeof_dtype_o=*/2, nullptr);
  if (e != cudaSuccess) return fail("PrefillSM90Plan", e);
  if ((e = cudaDeviceSynchronize()) != cudaSuccess) return fail("PrefillSM90Plan copy", e);

  PagedParams& p = s.params;
  p = PagedParams{};
  p.q_ptr = static_cast<cutlass::half_t*>(const_cast<void*>(in.q));
  p.k_ptr = static_cast<cutlass::half_t*>(const_cast<void*>(in.k));
  p.v_ptr = static_cast<cutlass::half_t*>(const_cast<void*>(in.v));
  p.o_ptr = static_cast<cutlass::half_t*>(in.out);
  p.lse_ptr = nullptr;
  p.q_stride_n = static_cast<int64_t>(in.num_heads) * kHeadDim;
  p.q_stride_h = kHeadDim;
  p.o_stride_n = p.q_stride_n;
  p.o_stride_h = kHeadDim;
  // HND: (num_pages, num_kv_heads, page_size, head_dim)
  p.k_stride_h = static_cast<int64_t>(in.page_size) * kHeadDim;
  p.k_stride_n = kHeadDim;
  p.v_stride_h = p.k_stride_h;
  p.v_stride_n = kHeadDim;
  p.k_page_stride = static_cast<int64_t>(in.num_kv_heads) * in.page_size * kHeadDim;
  p.v_page_stride = p.k_page_stride;
  p.nnz_qo = qo_indptr.back();
  p.head_dim = kHeadDim;
  p.num_qo_heads = in.num_heads;
  p.num_kv_heads = in.num_kv_heads;
  p.group_size = in.num_heads / in.num_kv_heads;
  p.page_size = in.page_size;
  p.window_left = -1;
  p.causal = true;
  p.qo_tile_indices = at<int32_t>(s.int_ws, s.info.qo_tile_indices_offset);
  p.qo_indptr = at<int32_t>(s.int_ws, s.info.qo_indptr_offset);
  p.kv_indptr = at<int32_t>(s.int_ws, s.info.kv_indptr_offset);
  p.qo_lens = at<int32_t>(s.int_ws, s.info.qo_len_offset);
  p.kv_lens = at<int32_t>(s.int_ws, s.info.kv_len_offset);
  p.head_indices = at<int32_t>(s.int_ws, s.info.head_indices_offset);
  p.work_indptr = at<int32_t>(s.int_ws, s.info.work_indptr_offset);
  p.batch_indices = at<int32_t>(s.int_ws, s.info.batch_indices_offset);
  p.kv_indices = s.kv_indices;
  p.additional_params.logits_soft_cap = 0.0;
  p.additional_params.sm_scale = in.sm_scale;
  p.additional_params.scale_v_scalar = 1.0;
  return "";
}

cudaError_t FlashInferPrefill::run(cudaStream_t stream) {
  Impl& s = *impl_;
  if (s.info.same_schedule_for_all_heads) {
    return flashinfer::BatchPrefillWithPagedKVCacheDispatched<
        kHeadDim, kHeadDim, flashinfer::MaskMode::kCausal, false, true, Variant>(s.params, false,
                                                                                 stream);
  }
  return flashinfer::BatchPrefillWithPagedKVCacheDispatched<
      kHeadDim, kHeadDim, flashinfer::MaskMode::kCausal, false, false, Variant>(s.params, false,
                                                                                stream);
}

}  // namespace tinyserve::gpu
