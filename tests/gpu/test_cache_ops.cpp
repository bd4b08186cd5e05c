#include <doctest/doctest.h>

#include <atomic>
#include <bit>
#include <numeric>
#include <thread>

#include "core/base/rng.h"
#include "core/execution/attention_reference.h"
#include "core/execution/synthetic_kv.h"
#include "gpu/cache_ops.h"
#include "tests/gpu/gpu_test_util.h"

using namespace tinyserve;
using namespace tinyserve::testing;

namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng.next() >> 56);
  return out;
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("the device converts every float to fp8 bit for bit as the host does") {
    if (skip_without_gpu()) return;
    // All 2^32 bit patterns (a dense sample under the sanitizer), in chunks.
    const int64_t chunk = int64_t{1} << 28;
    const int64_t stride = small_gpu_tests() ? 4093 * chunk / 4096 : chunk;
    DeviceArray bits(static_cast<size_t>(chunk));
    std::vector<uint8_t> host(static_cast<size_t>(chunk));
    const unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    for (DType t : {DType::kFp8E4M3, DType::kFp8E5M2}) {
      CAPTURE(dtype_name(t));
      int64_t checked = 0;
      std::atomic<int64_t> mismatches{0};
      std::atomic<uint32_t> first_bad{0};
      for (int64_t first = 0; first < (int64_t{1} << 32); first += stride) {
        const int64_t count = small_gpu_tests() ? int64_t{1} << 20 : chunk;
        CHECK_CUDA(gpu::fp8_bits_of_floats(t, static_cast<uint32_t>(first), count,
                                           bits.get<uint8_t>(), nullptr));
        CHECK_CUDA(cudaMemcpy(host.data(), bits.get(), static_cast<size_t>(count),
                              cudaMemcpyDeviceToHost));
        std::vector<std::thread> pool;
        for (unsigned w = 0; w < threads; ++w) {
          pool.emplace_back([&, w] {
            for (int64_t i = w; i < count; i += threads) {
              const auto x = static_cast<uint32_t>(first + i);
              const float f = std::bit_cast<float>(x);
              const uint8_t want =
                  t == DType::kFp8E4M3 ? float_to_e4m3_bits(f) : float_to_e5m2_bits(f);
              if (host[static_cast<size_t>(i)] != want && mismatches++ == 0) first_bad = x;
            }
          });
        }
        for (std::thread& th : pool) th.join();
        checked += count;
      }
      MESSAGE(dtype_name(t), ": ", checked, " floats checked, ", mismatches.load(),
              " mismatches, first at bit pattern ", first_bad.load());
      CHECK(mismatches.load() == 0);
      CHECK(checked >= (small_gpu_tests() ? 16 * (int64_t{1} << 20) : int64_t{1} << 32));
    }
  }

  TEST_CASE("reshape_and_cache on the GPU writes the same bytes as the CPU reference") {
    if (skip_without_gpu()) return;
    for (DType t : kExecutorDTypes) {
      for (int32_t bs : {8, 16, 32}) {
        for (int32_t d : {64, 256}) {
          CAPTURE(dtype_name(t));
          CAPTURE(bs);
          CAPTURE(d);
          PagedKv cache;
          cache.dtype = t;
          cache.num_blocks = 40;
          cache.num_kv_heads = 3;
          cache.block_size = bs;
          cache.head_dim = d;
          const auto pool_bytes = static_cast<size_t>(cache.layer_elements() * dtype_size(t));
          std::vector<uint8_t> k = random_bytes(pool_bytes, 1), v = random_bytes(pool_bytes, 2);
          Rng rng(static_cast<uint64_t>(bs + d));
          std::vector<int64_t> all_slots(static_cast<size_t>(40 * bs));
          std::iota(all_slots.begin(), all_slots.end(), 0);
          for (size_t i = all_slots.size() - 1; i > 0; --i) {
            std::swap(all_slots[i], all_slots[rng.below(i + 1)]);
          }
          const int32_t n = 150;
          std::vector<int64_t> slots(all_slots.begin(), all_slots.begin() + n);
          for (int i = 0; i < 10; ++i) slots[rng.below(n)] = -1;
          // Random bytes: every fp16 value, NaN and infinities included, for fp8 pools too.
          const size_t row_bytes = static_cast<size_t>(3 * d * dtype_size(query_dtype(t)));
          const std::vector<uint8_t> key = random_bytes(n * row_bytes, 3);
          const std::vector<uint8_t> value = random_bytes(n * row_bytes, 4);
          const std::vector<float> head_scales = {0.5f, 0.0071f, 3.0f, 0.02f, 1.0f, 0.0625f};
          cache.scales.k = 0.013f;
          cache.scales.v = 7.0f;
          const bool per_head = bs == 16;
          if (per_head) {
            cache.scales.k_heads = head_scales.data();
            cache.scales.v_heads = head_scales.data() + 3;
          }

          DeviceArray dk(k), dv(v), dkey(key), dvalue(value), dslots(slots), dscales(head_scales);
          PagedKv device = cache;
          device.k = dk.get();
          device.v = dv.get();
          if (per_head) {
            device.scales.k_heads = dscales.get<float>();
            device.scales.v_heads = dscales.get<float>() + 3;
          }
          CHECK_CUDA(gpu::reshape_and_cache(
              device, NewKv{dkey.get(), dvalue.get(), dslots.get<int64_t>(), n}, nullptr));
          CHECK_CUDA(cudaDeviceSynchronize());
          cache.k = k.data();
          cache.v = v.data();
          reshape_and_cache_reference(cache, NewKv{key.data(), value.data(), slots.data(), n});
          CHECK(dk.bytes() == k);
          CHECK(dv.bytes() == v);
        }
      }
    }
  }

  TEST_CASE("copy_blocks and swaps through pinned memory round-trip bit-exactly") {
    if (skip_without_gpu()) return;
    PagedKv gpu_pool;
    gpu_pool.dtype = DType::kBF16;
    gpu_pool.num_layers = 3;
    gpu_pool.num_blocks = 32;
    gpu_pool.num_kv_heads = 2;
    gpu_pool.block_size = 16;
    gpu_pool.head_dim = 128;
    const auto bytes = static_cast<size_t>(gpu_pool.layer_elements() * 2 * 3);
    std::vector<uint8_t> k = random_bytes(bytes, 5), v = random_bytes(bytes, 6);
    DeviceArray dk(k), dv(v);
    PagedKv device = gpu_pool;
    device.k = dk.get();
    device.v = dv.get();

    // Copy-on-write copies against the reference.
    const std::vector<BlockCopy> cow = {{0, 31}, {5, 6}, {17, 2}, {9, 30}};
    DeviceArray dcow(cow);
    CHECK_CUDA(gpu::copy_blocks(device, device, dcow.get<BlockCopy>(), 4, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    gpu_pool.k = k.data();
    gpu_pool.v = v.data();
    copy_blocks_reference(gpu_pool, gpu_pool, cow);
    CHECK(dk.bytes() == k);
    CHECK(dv.bytes() == v);

    // Swap out into mapped pinned memory, scribble over the GPU blocks, swap back in.
    PagedKv cpu = device;
    cpu.num_blocks = 8;
    void* host_k = nullptr;
    void* host_v = nullptr;
    CHECK_CUDA(cudaHostAlloc(&host_k, bytes / 4, cudaHostAllocMapped));
    CHECK_CUDA(cudaHostAlloc(&host_v, bytes / 4, cudaHostAllocMapped));
    CHECK_CUDA(cudaHostGetDevicePointer(&cpu.k, host_k, 0));
    CHECK_CUDA(cudaHostGetDevicePointer(&cpu.v, host_v, 0));
    const std::vector<BlockCopy> out = {{3, 0}, {4, 7}, {20, 1}, {31, 5}};
    const std::vector<BlockCopy> scribble = {{10, 3}, {11, 4}, {12, 20}, {13, 31}};
    const std::vector<BlockCopy> in = {{0, 3}, {7, 4}, {1, 20}, {5, 31}};
    DeviceArray dout(out), dscribble(scribble), din(in);
    CHECK_CUDA(gpu::copy_blocks(device, cpu, dout.get<BlockCopy>(), 4, nullptr));
    CHECK_CUDA(gpu::copy_blocks(device, device, dscribble.get<BlockCopy>(), 4, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK(dk.bytes() != k);
    CHECK_CUDA(gpu::copy_blocks(cpu, device, din.get<BlockCopy>(), 4, nullptr));
    CHECK_CUDA(cudaDeviceSynchronize());
    CHECK(dk.bytes() == k);
    CHECK(dv.bytes() == v);
    cudaFreeHost(host_k);
    cudaFreeHost(host_v);
  }

  TEST_CASE("synthetic rows on the GPU equal the host's bit for bit") {
    if (skip_without_gpu()) return;
    const std::vector<int32_t> tokens = {0, 7, 127999, 42, 42};
    const std::vector<int32_t> positions = {0, 1, 2, 3, 9000};
    DeviceArray dtokens(tokens), dpositions(positions);
    for (DType t : kExecutorDTypes) {
      if (is_fp8(t)) continue;  // rows are synthesised in query_dtype, never fp8
      for (SyntheticKind kind :
           {SyntheticKind::kKey, SyntheticKind::kValue, SyntheticKind::kQuery}) {
        gpu::SyntheticRows rows;
        rows.kind = kind;
        rows.seed = 77;
        rows.layer = 3;
        rows.tokens = dtokens.get<int32_t>();
        rows.positions = dpositions.get<int32_t>();
        rows.count = 5;
        rows.heads = 3;
        rows.head_dim = 64;
        rows.dtype = t;
        DeviceArray out(static_cast<size_t>(5 * 3 * 64 * dtype_size(t)));
        out.poison();
        rows.out = out.get();
        CHECK_CUDA(gpu::synthesize_rows(rows, nullptr));
        CHECK_CUDA(cudaDeviceSynchronize());
        std::vector<uint8_t> expected(static_cast<size_t>(5 * 3 * 64 * dtype_size(t)));
        for (int32_t i = 0; i < 5; ++i) {
          for (int32_t h = 0; h < 3; ++h) {
            const uint64_t row = synthetic_row(77, kind, tokens[i], positions[i], 3, h);
            for (int32_t d = 0; d < 64; ++d) {
              store_element(expected.data(), t, (i * 3 + h) * 64 + d, synthetic_value(row, d));
            }
          }
        }
        CHECK(out.bytes() == expected);
      }
    }
  }
}
