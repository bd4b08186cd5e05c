// The sm_90a prefill kernel (gpu/prefill_attention.h): wgmma tensor cores, warp-specialised.
// Compiled for sm_90a only (gpu/CMakeLists.txt); the launcher refuses other devices.
//
// A persistent CTA of three warpgroups walks the work items blockIdx.x, + gridDim.x, ... (the
// plan sorts them longest first), each for one KV head:
//   warpgroup 0, the producer: gathers the item's 128 packed query rows and its KV tiles (the
//     last, diagonal tile first) page by page with cp.async into 128-byte-swizzled stages (the
//     layout of prefill_common.cuh), each completing on an mbarrier (cp.async.mbarrier.arrive);
//     two stages of K and of V, so it runs up to two tiles (and into the next item) ahead.
//   warpgroups 1 and 2, the consumers: 64 rows each. Per tile S = Q K^T (wgmma, A and B from
//     shared memory), the online softmax in registers, O += P V (wgmma, P from registers: the
//     accumulator fragment of S is the A fragment of P; V transposed through its descriptor).
//     The next tile's Q K^T is issued before the current P V, so the softmax of one tile runs
//     while the tensor cores work on the other.
// Stages are released through "empty" mbarriers, one arrival per consumer warp.
#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda_check.h"
#include "gpu/prefill_common.cuh"
#include "gpu/prefill_wgmma.h"
#include "gpu/wgmma_ops.cuh"

namespace tinyserve::gpu::prefill {

template <int D>
struct WgShape {
  static constexpr int kRows = 128;                // packed rows per item, 64 per consumer
  static constexpr int kKv = D <= 128 ? 128 : 64;  // KV tokens per tile
  static constexpr int kThreads = 384;
  static constexpr int kQBytes = kRows * D * 2;
  static constexpr int kTileBytes = kKv * D * 2;
  static constexpr int kBarrierBytes = 128;
  // Q, K stages, V stages, barriers; plus slack to align the base to 1024 bytes (the swizzle
  // pattern follows address bits 4-9).
  static constexpr int kSmemBytes = kQBytes + 4 * kTileBytes + kBarrierBytes + 1024;
  static constexpr int kProducerRegisters = 40;
  static constexpr int kConsumerRegisters = 232;
};

namespace {

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TS_WGMMA_DEVICE 1
#endif

#ifdef TS_WGMMA_DEVICE
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint32_t bar, int parity) {
  asm volatile(
      "{\n.reg .pred p;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@p bra DONE;\nbra WAIT;\nDONE:\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Arrives once every cp.async this thread issued so far has landed.
__device__ __forceinline__ void mbar_arrive_cp_async(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

__device__ __forceinline__ void wg_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wg_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins registers that an asynchronous wgmma reads or writes: the compiler may neither read
// them early nor reuse them before the wait that follows.
template <int N>
__device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N>
__device__ __forceinline__ void pin(uint32_t (&r)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
  }
}

// Shared-memory matrix descriptor with the 128-byte swizzle: start address, leading and stride
// byte offsets (16-byte units).
__device__ __forceinline__ uint64_t make_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3ffff) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32) | (uint64_t{1} << 62);
}
#endif

// The item's decoding, the same for producer and consumers.
struct ItemView {
  Item it;
  int kv_head;
  int q0, count, prefix, rows_total, num_tiles;
};

template <int kKv>
__device__ __forceinline__ ItemView view_item(const Args& a, int index) {
  ItemView v;
  const int item = index / a.num_kv_heads;
  v.kv_head = index - item * a.num_kv_heads;
  v.it = load_item(a, item);
  v.q0 = __ldg(a.query_start + v.it.entry);
  v.count = __ldg(a.query_start + v.it.entry + 1) - v.q0;
  v.prefix = __ldg(a.context_lens + v.it.entry) - v.count;
  v.rows_total = v.count * a.group;
  v.num_tiles = (v.it.kv_end - v.it.kv_begin + kKv - 1) / kKv;
  return v;
}

template <typename T, int D>
__global__ void __launch_bounds__(384, 1) prefill_wgmma_kernel(const Args a) {
#ifdef TS_WGMMA_DEVICE
  using S = WgShape<D>;
  constexpr int kRows = S::kRows;
  constexpr int kKv = S::kKv;
  constexpr int kAcc = kKv / 2;  // S accumulators per thread
  constexpr int kOut = D / 2;    // O accumulators per thread
  constexpr int KS = D / 16;     // k-steps of Q K^T
  constexpr int PS = kKv / 16;   // k-steps of P V
  extern __shared__ uint8_t smem_raw[];
  const uint32_t base = (smem_addr(smem_raw) + 1023) & ~1023u;
  const uint32_t sq = base;
  const auto sk = [&](int stage) { return base + S::kQBytes + stage * S::kTileBytes; };
  const auto sv = [&](int stage) { return base + S::kQBytes + (2 + stage) * S::kTileBytes; };
  const uint32_t bars = base + S::kQBytes + 4 * S::kTileBytes;
  const uint32_t q_full = bars, q_empty = bars + 8;
  const auto k_full = [&](int s) { return bars + 16 + 8 * s; };
  const auto k_empty = [&](int s) { return bars + 32 + 8 * s; };
  const auto v_full = [&](int s) { return bars + 48 + 8 * s; };
  const auto v_empty = [&](int s) { return bars + 64 + 8 * s; };

  const int warpgroup = threadIdx.x / 128;
  const int total = a.num_items * a.num_kv_heads;
  if (threadIdx.x == 0) {
    mbar_init(q_full, 128);
    mbar_init(q_empty, 8);
    for (int s = 0; s < 2; ++s) {
      mbar_init(k_full(s), 128);
      mbar_init(v_full(s), 128);
      mbar_init(k_empty(s), 8);
      mbar_init(v_empty(s), 8);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (warpgroup == 0) {
    // The producer.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(S::kProducerRegisters));
    const int tid = threadIdx.x;
    int tile = 0;  // tiles loaded by this CTA so far
    int round = 0;
    for (int index = blockIdx.x; index < total; index += gridDim.x, ++round) {
      const ItemView v = view_item<kKv>(a, index);
      const int32_t* table =
          a.block_tables + static_cast<int64_t>(v.it.entry) * a.max_blocks_per_seq;
      const T* k_head = static_cast<const T*>(a.k) + v.kv_head * a.head_stride;
      const T* v_head = static_cast<const T*>(a.v) + v.kv_head * a.head_stride;
      mbar_wait(q_empty, (round & 1) ^ 1);
      load_q_tile<T, D, kRows, 128>(sq, a, v.q0, v.rows_total, v.it.row0, v.kv_head, tid);
      mbar_arrive_cp_async(q_full);
      for (int i = 0; i < v.num_tiles; ++i, ++tile) {
        const int stage = tile & 1;
        const int parity = ((tile >> 1) & 1) ^ 1;
        const int tok0 = v.it.kv_begin + (v.num_tiles - 1 - i) * kKv;
        mbar_wait(k_empty(stage), parity);
        load_kv_tile<T, D, kKv, 128>(sk(stage), k_head, table, a.block_shift, a.block_stride, tok0,
                                     v.it.kv_end, tid);
        mbar_arrive_cp_async(k_full(stage));
        mbar_wait(v_empty(stage), parity);
        load_kv_tile<T, D, kKv, 128>(sv(stage), v_head, table, a.block_shift, a.block_stride, tok0,
                                     v.it.kv_end, tid);
        mbar_arrive_cp_async(v_full(stage));
      }
    }
    cp_async_wait<0>();
    return;
  }

  // The consumers.
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(S::kConsumerRegisters));
  const int cw = warpgroup - 1;  // rows [64 cw, 64 cw + 64) of the item
  const int ctid = threadIdx.x - 128 * warpgroup;
  const int warp = ctid >> 5;
  const int lane = ctid & 31;
  const int g = lane >> 2;
  const int t = lane & 3;
  const uint32_t sq_wg = sq + cw * 64 * 128;
  int tile = 0;
  int round = 0;
  for (int index = blockIdx.x; index < total; index += gridDim.x, ++round) {
    const ItemView v = view_item<kKv>(a, index);
    const int row0 = v.it.row0 + cw * 64 + warp * 16 + g;  // and row0 + 8
    const int lim[2] = {min(v.prefix + row0 / a.group + 1, v.it.kv_end),
                        min(v.prefix + (row0 + 8) / a.group + 1, v.it.kv_end)};
    const int lim_min = min(v.prefix + (v.it.row0 + cw * 64) / a.group + 1, v.it.kv_end);
    const int n = v.num_tiles;

    float o[kOut];
#pragma unroll
    for (int j = 0; j < kOut; ++j) o[j] = 0.0f;
    float s[kAcc];
    uint32_t p[PS][4];
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};

    // S = Q K^T of the tile in stage `stage`, issued (not waited for).
    const auto issue_qk = [&](int stage) {
      wg_fence();
#pragma unroll
      for (int kk = 0; kk < KS; ++kk) {
        const uint64_t da = make_desc(sq_wg + (kk >> 2) * (kRows * 128) + (kk & 3) * 32, 16, 1024);
        const uint64_t db =
            make_desc(sk(stage) + (kk >> 2) * (kKv * 128) + (kk & 3) * 32, 16, 1024);
        wgmma_ss<T, kKv, 0>(s, da, db, kk > 0);
      }
      wg_commit();
    };
    // O += P V of the tile in stage `stage` (first: O = P V), issued.
    const auto issue_pv = [&](int stage, bool first) {
      wg_fence();
#pragma unroll
      for (int kk = 0; kk < PS; ++kk) {
        const uint64_t db = make_desc(sv(stage) + kk * 2048, kKv * 128, 1024);
        wgmma_rs<T, D, 1>(o, p[kk], db, !(first && kk == 0));
      }
      wg_commit();
    };
    // The online softmax of s (tile i of the item, keys from k0): s becomes the weights,
    // relative to the new maxima; returns the factors that rescale O.
    const auto softmax = [&](int i, float(&alpha)[2]) {
      const int k0 = v.it.kv_begin + (n - 1 - i) * kKv;
      const bool masked = k0 + kKv > lim_min;
#pragma unroll
      for (int j = 0; j < kAcc / 4; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = k0 + 8 * j + 2 * t + (e & 1);
          s[4 * j + e] = masked && key >= lim[e >> 1] ? -INFINITY : s[4 * j + e] * a.scale_log2;
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < kAcc / 4; ++j) {
          mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float m_new = fmaxf(m[r], mx);
        const float m_use = m_new == -INFINITY ? 0.0f : m_new;
        alpha[r] = exp2f(m[r] - m_use);
        m[r] = m_new;
        float sum = 0.0f;
#pragma unroll
        for (int j = 0; j < kAcc / 4; ++j) {
          s[4 * j + 2 * r] = exp2f(s[4 * j + 2 * r] - m_use);
          s[4 * j + 2 * r + 1] = exp2f(s[4 * j + 2 * r + 1] - m_use);
          sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
        }
        l[r] = l[r] * alpha[r] + sum;
      }
    };
    const auto to_p = [&]() {
#pragma unroll
      for (int kk = 0; kk < PS; ++kk) {
        p[kk][0] = pack2<T>(s[8 * kk + 0], s[8 * kk + 1]);
        p[kk][1] = pack2<T>(s[8 * kk + 2], s[8 * kk + 3]);
        p[kk][2] = pack2<T>(s[8 * kk + 4], s[8 * kk + 5]);
        p[kk][3] = pack2<T>(s[8 * kk + 6], s[8 * kk + 7]);
      }
    };
    const auto release = [&](uint32_t bar) {
      __syncwarp();
      if (lane == 0) mbar_arrive(bar);
    };

    mbar_wait(q_full, round & 1);
    float alpha[2];
    {
      const int stage = tile & 1;
      mbar_wait(k_full(stage), (tile >> 1) & 1);
      pin(s);
      issue_qk(stage);
      wg_wait<0>();
      pin(s);
      release(k_empty(stage));
      if (n == 1) release(q_empty);
      softmax(0, alpha);
      to_p();
    }
    for (int i = 1; i < n; ++i) {
      const int cur = tile + i;
      const int stage = cur & 1;
      const int prev = (cur - 1) & 1;
      mbar_wait(k_full(stage), (cur >> 1) & 1);
      pin(s);
      issue_qk(stage);
      mbar_wait(v_full(prev), ((cur - 1) >> 1) & 1);
      pin(o);
      issue_pv(prev, i == 1);
      wg_wait<1>();  // Q K^T done; P V in flight
      pin(s);
      release(k_empty(stage));
      if (i == n - 1) release(q_empty);
      softmax(i, alpha);
      wg_wait<0>();
      pin(o);
      pin(p);
      release(v_empty(prev));
#pragma unroll
      for (int j = 0; j < kOut / 4; ++j) {
        o[4 * j + 0] *= alpha[0];
        o[4 * j + 1] *= alpha[0];
        o[4 * j + 2] *= alpha[1];
        o[4 * j + 3] *= alpha[1];
      }
      to_p();
    }
    {
      const int last = tile + n - 1;
      mbar_wait(v_full(last & 1), (last >> 1) & 1);
      pin(o);
      issue_pv(last & 1, n == 1);
      wg_wait<0>();
      pin(o);
      pin(p);
      release(v_empty(last & 1));
    }
    tile += n;

#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
      const int packed = row0 + 8 * r;
      if (packed >= v.rows_total) continue;
      const int j = packed / a.group;
      const int head = v.kv_head * a.group + (packed - j * a.group);
      const int part_row = v.it.part < 0 ? -1 : v.it.part + j;
      const float inv_l = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
      for (int jn = 0; jn < kOut / 4; ++jn) {
        store_pair<T, D>(a, v.q0 + j, head, 8 * jn + 2 * t, o[4 * jn + 2 * r],
                         o[4 * jn + 2 * r + 1], inv_l, part_row);
      }
      if (part_row >= 0 && t == 0) store_ml(a, part_row, head, m[r], l[r]);
    }
  }
#else
  (void)a;
#endif
}

template <typename T, int D>
cudaError_t launch(const Args& a, int grid, cudaStream_t stream) {
  constexpr int kSmem = WgShape<D>::kSmemBytes;
  static const cudaError_t configured = cudaFuncSetAttribute(
      prefill_wgmma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  TS_CUDA_TRY(configured);
  prefill_wgmma_kernel<T, D><<<grid, 384, kSmem, stream>>>(a);
  TS_CUDA_TRY_LAUNCH();
  return cudaSuccess;
}

}  // namespace

int wgmma_tile_rows() {
  return WgShape<128>::kRows;
}
int wgmma_kv_tile(int head_dim) {
  return head_dim <= 128 ? WgShape<128>::kKv : WgShape<256>::kKv;
}

cudaError_t launch_wgmma(const Args& a, DType dtype, int head_dim, int grid, cudaStream_t stream) {
  const bool half = dtype == DType::kF16;
  if (dtype != DType::kF16 && dtype != DType::kBF16) return cudaErrorNotSupported;
  switch (head_dim) {
    case 64:
      return half ? launch<__half, 64>(a, grid, stream)
                  : launch<__nv_bfloat16, 64>(a, grid, stream);
    case 128:
      return half ? launch<__half, 128>(a, grid, stream)
                  : launch<__nv_bfloat16, 128>(a, grid, stream);
    case 256:
      return half ? launch<__half, 256>(a, grid, stream)
                  : launch<__nv_bfloat16, 256>(a, grid, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tinyserve::gpu::prefill
