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
// fp8 pools: the producer copies each K or V tile as bytes (cp.async, two byte buffers, one tile
// ahead), converts it into its fp16 stage (exactly), fences the writes for the tensor cores'
// async proxy and arrives on the stage's "full" barrier; the consumers run as for fp16, with the
// K scale in the score scale and the V scale in the output's normalisation.
#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/cuda_check.h"
#include "gpu/prefill_common.cuh"
#include "gpu/prefill_wgmma.h"
#include "gpu/wgmma_ops.cuh"

namespace tinyserve::gpu::prefill {

template <int D, bool kFp8 = false>
struct WgShape {
  static constexpr int kRows = 128;                // packed rows per item, 64 per consumer
  static constexpr int kKv = D <= 128 ? 128 : 64;  // KV tokens per tile
  static constexpr int kThreads = 384;
  static constexpr int kQBytes = kRows * D * 2;
  static constexpr int kQStages = D <= 128 ? 2 : 1;  // the next item's Q loads during this one
  static constexpr int kTileBytes = kKv * D * 2;
  static constexpr int kBarrierBytes = 128;
  static constexpr int kFp8TileBytes = kFp8 ? kKv * D : 0;  // one tile's bytes, [kKv][D]
  // Q stages, K stages, V stages, barriers, fp8: two byte buffers (K's, V's); plus slack to
  // align the base to 1024 bytes (the swizzle pattern follows address bits 4-9).
  static constexpr int kSmemBytes =
      kQStages * kQBytes + 4 * kTileBytes + kBarrierBytes + 2 * kFp8TileBytes + 1024;
  static_assert(kSmemBytes <= 227 * 1024);
  // setmaxnreg moves registers within the CTA's launch allocation (168 a thread at 384 threads
  // and one CTA per SM): a consumer's increase waits forever if the sum exceeds it.
  static constexpr int kProducerRegisters = 40;
  static constexpr int kConsumerRegisters = 232;
  static_assert(128 * kProducerRegisters + 256 * kConsumerRegisters <= 384 * 168);
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
// Makes this thread's shared-memory stores visible to the async proxy (wgmma operands).
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// Named barrier 3: the producer warpgroup's 128 threads.
__device__ __forceinline__ void producer_sync() {
  asm volatile("bar.sync 3, 128;\n" ::: "memory");
}
// Arrives once every cp.async this thread issued so far has landed.
__device__ __forceinline__ void mbar_arrive_cp_async(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}

// Named barriers 1 and 2 (0 is __syncthreads): consumer warpgroup w waits on its own before
// issuing and then lets the other one go (bar.arrive), 256 threads each.
__device__ __forceinline__ void turn_wait(int wg) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(wg + 1) : "memory");
}
__device__ __forceinline__ void turn_pass(int wg) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - wg) : "memory");
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

// TC: the pool's element type; T: the queries', outputs' and tensor cores' (fp16 for fp8).
template <typename TC, int D>
__global__ void __launch_bounds__(384, 1) prefill_wgmma_kernel(const Args a) {
#ifdef TS_WGMMA_DEVICE
  using T = QueryT<TC>;
  constexpr bool kFp8 = kIsFp8<TC>;
  using S = WgShape<D, kFp8>;
  constexpr int kRows = S::kRows;
  constexpr int kKv = S::kKv;
  constexpr int kAcc = kKv / 2;  // S accumulators per thread
  constexpr int kOut = D / 2;    // O accumulators per thread
  constexpr int KS = D / 16;     // k-steps of Q K^T
  constexpr int PS = kKv / 16;   // k-steps of P V
  constexpr int QS = S::kQStages;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t base = (smem_addr(smem_raw) + 1023) & ~1023u;
  const auto sq = [&](int stage) { return base + stage * S::kQBytes; };
  const uint32_t skv = base + QS * S::kQBytes;
  const auto sk = [&](int stage) { return skv + stage * S::kTileBytes; };
  const auto sv = [&](int stage) { return skv + (2 + stage) * S::kTileBytes; };
  const uint32_t bars = skv + 4 * S::kTileBytes;
  const auto q_full = [&](int s) { return bars + 8 * s; };
  const auto q_empty = [&](int s) { return bars + 16 + 8 * s; };
  const auto k_full = [&](int s) { return bars + 32 + 8 * s; };
  const auto k_empty = [&](int s) { return bars + 48 + 8 * s; };
  const auto v_full = [&](int s) { return bars + 64 + 8 * s; };
  const auto v_empty = [&](int s) { return bars + 80 + 8 * s; };
  // fp8: byte buffer 0 takes K tiles, 1 V tiles.
  const auto s8 = [&](int b) { return bars + S::kBarrierBytes + b * S::kFp8TileBytes; };

  const int warpgroup = threadIdx.x / 128;
  const int total = a.num_items * a.num_kv_heads;
  if (threadIdx.x == 0) {
    for (int s = 0; s < 2; ++s) {
      mbar_init(q_full(s), 128);
      mbar_init(q_empty(s), 8);
      mbar_init(k_full(s), 128);
      mbar_init(v_full(s), 128);
      mbar_init(k_empty(s), 8);
      mbar_init(v_empty(s), 8);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (warpgroup == 0) {
    // The producer. Warp w fills rows [w R, w R + R) of each KV tile (R = kKv / 4); lane l
    // looks up row w R + l % R in the block table once per tile (a tile ahead of its use), and
    // the warp's cp.asyncs take each row's offset from its owner by a shuffle. Order: K of tile
    // i, then V of tile i - 1: a K stage frees (after Q K^T) well before a V stage (after P V).
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(S::kProducerRegisters));
    constexpr int R = kKv / 4;      // rows per warp
    constexpr int kChunks = D / 8;  // 16-byte chunks per row
    constexpr int kLanesPerRow = kChunks < 32 ? kChunks : 32;
    const int tid = threadIdx.x;
    const int pwarp = tid >> 5;
    const int lane = tid & 31;
    const int mask = (1 << a.block_shift) - 1;
    int tile = 0;  // tiles loaded by this CTA so far
    int round = 0;
    for (int index = blockIdx.x; index < total; index += gridDim.x, ++round) {
      const ItemView v = view_item<kKv>(a, index);
      const int32_t* table =
          a.block_tables + static_cast<int64_t>(v.it.entry) * a.max_blocks_per_seq;
      const TC* k_head = static_cast<const TC*>(a.k) + v.kv_head * a.head_stride;
      const TC* v_head = static_cast<const TC*>(a.v) + v.kv_head * a.head_stride;
      // Element offset of this lane's row of tile i within the head's pool; -1 past kv_end
      // (zero-filled: rows past the sequence may hold anything).
      const auto row_offset = [&](int i) -> int64_t {
        const int tok = v.it.kv_begin + (v.num_tiles - 1 - i) * kKv + R * pwarp + lane % R;
        if (i >= v.num_tiles || tok >= v.it.kv_end) return -1;
        return static_cast<int64_t>(__ldg(table + (tok >> a.block_shift))) * a.block_stride +
               static_cast<int64_t>(tok & mask) * D;
      };
      const auto issue = [&](uint32_t dst, const TC* head, int64_t offset) {
#pragma unroll
        for (int pass = 0; pass < R * kChunks / 32; ++pass) {
          const int r = (pass * 32 + lane) / kChunks;  // row within the warp's rows
          const int c = lane % kLanesPerRow + (kChunks > 32 ? (pass % (kChunks / 32)) * 32 : 0);
          const int64_t o = __shfl_sync(0xffffffffu, offset, r);
          cp_async_16(dst + tile_offset<kKv>(R * pwarp + r, c), head + (o < 0 ? 0 : o) + c * 8,
                      o >= 0);
        }
      };
      const int qs = round % QS;
      mbar_wait(q_empty(qs), ((round / QS) & 1) ^ 1);
      load_q_tile<T, D, kRows, 128>(sq(qs), a, v.q0, v.rows_total, v.it.row0, v.kv_head, tid);
      mbar_arrive_cp_async(q_full(qs));
      if constexpr (kFp8) {
        // Copies j = 0 .. 2n - 1: K of tile j / 2 (even j), V (odd), each into byte buffer j % 2;
        // copy j is converted once copy j + 1 is in flight. Every thread converts chunks other
        // threads copied: barriers before the conversion (all landed) and before a buffer is
        // copied into again (all its conversions done).
        const int copies = 2 * v.num_tiles;
        for (int j = 0; j <= copies; ++j) {
          if (j < copies) {
            const int tok0 = v.it.kv_begin + (v.num_tiles - 1 - j / 2) * kKv;
            producer_sync();
            load_fp8_tile<D, kKv, 128>(
                s8(j & 1), reinterpret_cast<const uint8_t*>(j & 1 ? v_head : k_head), table,
                a.block_shift, a.block_stride, tok0, v.it.kv_end, tid);
            cp_async_commit();
          }
          if (j > 0) {
            if (j < copies) {
              cp_async_wait<1>();
            } else {
              cp_async_wait<0>();
            }
            producer_sync();
            const int c = j - 1;
            const int cur = tile + c / 2;
            const int stage = cur & 1;
            const bool is_v = (c & 1) != 0;
            mbar_wait(is_v ? v_empty(stage) : k_empty(stage), ((cur >> 1) & 1) ^ 1);
            convert_fp8_tile<TC, D, kKv, 128, 2>(is_v ? sv(stage) : sk(stage), s8(c & 1), tid);
            fence_proxy_async();
            mbar_arrive(is_v ? v_full(stage) : k_full(stage));
          }
        }
        tile += v.num_tiles;
        continue;
      }
      if (!a.prefetch_rows) {  // each row looked up as it is copied; K and V of a tile together
        for (int i = 0; i < v.num_tiles; ++i, ++tile) {
          const int stage = tile & 1;
          const int parity = ((tile >> 1) & 1) ^ 1;
          const int tok0 = v.it.kv_begin + (v.num_tiles - 1 - i) * kKv;
          mbar_wait(k_empty(stage), parity);
          load_kv_tile<TC, D, kKv, 128>(sk(stage), k_head, table, a.block_shift, a.block_stride,
                                        tok0, v.it.kv_end, tid);
          mbar_arrive_cp_async(k_full(stage));
          mbar_wait(v_empty(stage), parity);
          load_kv_tile<TC, D, kKv, 128>(sv(stage), v_head, table, a.block_shift, a.block_stride,
                                        tok0, v.it.kv_end, tid);
          mbar_arrive_cp_async(v_full(stage));
        }
        continue;
      }
      int64_t off = row_offset(0);  // tile i's
      int64_t off_prev = -1;        // tile i - 1's
      for (int i = 0; i <= v.num_tiles; ++i) {
        const int64_t off_next = row_offset(i + 1);  // in flight while this tile's loads issue
        if (i < v.num_tiles) {
          const int cur = tile + i;
          mbar_wait(k_empty(cur & 1), ((cur >> 1) & 1) ^ 1);
          issue(sk(cur & 1), k_head, off);
          mbar_arrive_cp_async(k_full(cur & 1));
        }
        if (i > 0) {
          const int prev = tile + i - 1;
          mbar_wait(v_empty(prev & 1), ((prev >> 1) & 1) ^ 1);
          issue(sv(prev & 1), v_head, off_prev);
          mbar_arrive_cp_async(v_full(prev & 1));
        }
        off_prev = off;
        off = off_next;
      }
      tile += v.num_tiles;
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
  const bool pingpong = a.pingpong != 0;
  // Issue turns: warpgroup 0 of the consumers goes first.
  if (pingpong && cw == 1) turn_pass(cw);
  int tile = 0;
  int round = 0;
  for (int index = blockIdx.x; index < total; index += gridDim.x, ++round) {
    const ItemView v = view_item<kKv>(a, index);
    const int row0 = v.it.row0 + cw * 64 + warp * 16 + g;  // and row0 + 8
    const int lim[2] = {min(v.prefix + row0 / a.group + 1, v.it.kv_end),
                        min(v.prefix + (row0 + 8) / a.group + 1, v.it.kv_end)};
    const int lim_min = min(v.prefix + (v.it.row0 + cw * 64) / a.group + 1, v.it.kv_end);
    const int n = v.num_tiles;
    const int qs = round % QS;
    const uint32_t sq_wg = sq(qs) + cw * 64 * 128;
    const float score_scale = kFp8 ? a.scale_log2 * a.k_scale_of(v.kv_head) : a.scale_log2;
    const float v_scale = kFp8 ? a.v_scale_of(v.kv_head) : 1.0f;

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
    // The online softmax of tile i of the item (keys from k0): only the tiles that reach past
    // the warpgroup's smallest causal bound run the mask.
    const auto softmax = [&](int i, float(&alpha)[2]) {
      const int k0 = v.it.kv_begin + (n - 1 - i) * kKv;
      if (k0 + kKv > lim_min) {
        online_softmax<kAcc, true>(s, m, l, alpha, score_scale, k0, t, lim);
      } else {
        online_softmax<kAcc, false>(s, m, l, alpha, score_scale, k0, t, lim);
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

    mbar_wait(q_full(qs), (round / QS) & 1);
    float alpha[2];
    {
      const int stage = tile & 1;
      mbar_wait(k_full(stage), (tile >> 1) & 1);
      if (pingpong) turn_wait(cw);
      pin(s);
      issue_qk(stage);
      if (pingpong) turn_pass(cw);
      wg_wait<0>();
      pin(s);
      release(k_empty(stage));
      if (n == 1) release(q_empty(qs));
      softmax(0, alpha);
      to_p();
    }
    for (int i = 1; i < n; ++i) {
      const int cur = tile + i;
      const int stage = cur & 1;
      const int prev = (cur - 1) & 1;
      mbar_wait(k_full(stage), (cur >> 1) & 1);
      mbar_wait(v_full(prev), ((cur - 1) >> 1) & 1);
      if (pingpong) turn_wait(cw);
      pin(s);
      issue_qk(stage);
      pin(o);
      issue_pv(prev, i == 1);
      if (pingpong) turn_pass(cw);
      wg_wait<1>();  // Q K^T done; P V in flight
      pin(s);
      release(k_empty(stage));
      if (i == n - 1) release(q_empty(qs));
      softmax(i, alpha);
      pin(s);  // the softmax runs before the wait below, under the P V in flight
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
      if (pingpong) turn_wait(cw);
      pin(o);
      issue_pv(last & 1, n == 1);
      if (pingpong) turn_pass(cw);
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
      const float inv_l = l[r] > 0.0f ? v_scale / l[r] : 0.0f;
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

template <typename TC, int D>
cudaError_t launch(const Args& a, int grid, cudaStream_t stream) {
  constexpr int kSmem = WgShape<D, kIsFp8<TC>>::kSmemBytes;
  static const cudaError_t configured = cudaFuncSetAttribute(
      prefill_wgmma_kernel<TC, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
  TS_CUDA_TRY(configured);
  prefill_wgmma_kernel<TC, D><<<grid, 384, kSmem, stream>>>(a);
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

template <typename TC>
cudaError_t launch_of(const Args& a, int head_dim, int grid, cudaStream_t stream) {
  switch (head_dim) {
    case 64:
      return launch<TC, 64>(a, grid, stream);
    case 128:
      return launch<TC, 128>(a, grid, stream);
    case 256:
      return launch<TC, 256>(a, grid, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_wgmma(const Args& a, DType dtype, int head_dim, int grid, cudaStream_t stream) {
  switch (dtype) {
    case DType::kF16:
      return launch_of<__half>(a, head_dim, grid, stream);
    case DType::kBF16:
      return launch_of<__nv_bfloat16>(a, head_dim, grid, stream);
    case DType::kFp8E4M3:
      return launch_of<__nv_fp8_e4m3>(a, head_dim, grid, stream);
    case DType::kFp8E5M2:
      return launch_of<__nv_fp8_e5m2>(a, head_dim, grid, stream);
    default:
      return cudaErrorNotSupported;
  }
}

}  // namespace tinyserve::gpu::prefill
