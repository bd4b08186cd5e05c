#include <doctest/doctest.h>

#include <cmath>

#include "core/config/hardware.h"
#include "tests/core/test_files.h"

using namespace tinyserve;
using tinyserve::testing::input_error;

namespace {
constexpr int64_t kGiB = int64_t{1} << 30;
}

TEST_CASE("GPU presets carry the datasheet figures") {
  const GpuSpec a10 = find_gpu("A10");
  CHECK(a10.memory_bytes == 24 * kGiB);
  CHECK(a10.memory_bandwidth == 600e9);
  CHECK(a10.fp16_flops == 125e12);
  CHECK(find_gpu("L4").memory_bandwidth == 300e9);
  CHECK(find_gpu("A100-40GB").memory_bytes == 40 * kGiB);
  CHECK(find_gpu("A100-40GB").memory_bandwidth == 1555e9);
  CHECK(find_gpu("A100-80GB").memory_bandwidth == 2039e9);
  CHECK(find_gpu("A100-80GB").fp16_flops == 312e12);
  CHECK(find_gpu("H100").memory_bytes == 80 * kGiB);
  CHECK(find_gpu("H100").memory_bandwidth == 3.35e12);
  CHECK(find_gpu("H200").memory_bytes == 141 * kGiB);
  CHECK(find_gpu("H200").memory_bandwidth == 4.8e12);
  CHECK(find_gpu("L40S").memory_bytes == 48 * kGiB);
  CHECK(find_gpu("L40S").fp16_flops == 362.05e12);
  CHECK(find_gpu("B200").memory_bandwidth == 7.7e12);
  CHECK(find_gpu("B200").fp16_flops == 2.25e15);
  CHECK(find_gpu("MI300X").memory_bytes == 192 * kGiB);
  CHECK(find_gpu("MI300X").memory_bandwidth == 5.3e12);
  CHECK(gpu_presets().size() == 9);
}

TEST_CASE("an fp8 KV cache holds twice the blocks of a bf16 one") {
  const KvCapacity bf16 = kv_capacity(find_model("Llama-3-8B"), find_gpu("H100"), 16);
  const KvCapacity fp8 =
      kv_capacity(find_model("Llama-3-8B"), find_gpu("H100"), 16, 0.9, 1, DType::kFp8E4M3);
  CHECK(fp8.block_bytes * 2 == bf16.block_bytes);
  CHECK(fp8.num_blocks / 2 == bf16.num_blocks);
}

TEST_CASE("GPUs are found by name whatever the case, and an unknown name lists the known ones") {
  CHECK(find_gpu("h100").name == "H100");
  CHECK(find_gpu("a100-80gb").name == "A100-80GB");
  const auto e = input_error([] { find_gpu("V100"); });
  REQUIRE(e);
  CHECK(std::string(e->what()).find("A10, L4, L40S, A100-40GB, A100-80GB, H100, H200, B200") !=
        std::string::npos);
}

TEST_CASE("the seed's model on an A10 holds 24 GiB / 256 KiB blocks at full utilization") {
  const KvCapacity c = kv_capacity(find_model("seed-1layer"), find_gpu("A10"), 16, 1.0);
  CHECK(c.budget_bytes == 24 * kGiB);
  CHECK(c.weight_bytes == 0);
  CHECK(c.block_bytes == 16 * 16384);
  CHECK(c.num_blocks == 98'304);
  CHECK(c.num_tokens == 98'304 * 16);
  // vLLM's default reserve: floor(0.9 x 24 GiB) = 23,192,823,398 bytes.
  const KvCapacity reserved = kv_capacity(find_model("seed-1layer"), find_gpu("A10"), 16);
  CHECK(reserved.budget_bytes == 23'192'823'398);
  CHECK(reserved.num_blocks == 88'473);
}

TEST_CASE("KV capacity is what the weights leave of the budget, in whole blocks") {
  // Llama-3-8B on an A100-80GB: 72 GiB budget - 16,060,522,496 bytes of weights.
  const KvCapacity llama3 = kv_capacity(find_model("Llama-3-8B"), find_gpu("A100-80GB"), 16);
  CHECK(llama3.budget_bytes == 72 * kGiB);
  CHECK(llama3.weight_bytes == 16'060'522'496);
  CHECK(llama3.kv_bytes == 61'248'888'832);
  CHECK(llama3.block_bytes == 2'097'152);
  CHECK(llama3.num_blocks == 29'205);
  // Llama-2-7B on an L4: 23,192,823,398 - 13,476,831,232 bytes, 8 MiB blocks.
  CHECK(kv_capacity(find_model("Llama-2-7B"), find_gpu("L4"), 16).num_blocks == 1'158);
  // Block size 32 halves the count (floor of the same bytes).
  CHECK(kv_capacity(find_model("Llama-2-7B"), find_gpu("L4"), 32).num_blocks == 579);
}

TEST_CASE("weights that do not fit are an error naming both sizes") {
  const auto e = input_error([] { kv_capacity(find_model("Llama-3-70B"), find_gpu("H100"), 16); });
  REQUIRE(e);
  const std::string what = e->what();
  CHECK(what.find("131.42 GiB") != std::string::npos);
  CHECK(what.find("72 GiB") != std::string::npos);
  CHECK(what.find("Llama-3-70B") != std::string::npos);
  // Two H100s hold the weights split in halves: 144 GiB - 141,107,412,992 bytes.
  const KvCapacity two = kv_capacity(find_model("Llama-3-70B"), find_gpu("H100"), 16, 0.9, 2);
  CHECK(two.kv_bytes == 13'511'409'664);
  CHECK(two.num_blocks == 2'577);
}

TEST_CASE("capacity arguments out of range are input errors") {
  const ModelSpec m = find_model("Llama-3-8B");
  const GpuSpec g = find_gpu("H100");
  CHECK(input_error([&] { kv_capacity(m, g, 0); }));
  CHECK(input_error([&] { kv_capacity(m, g, 16, 0.0); }));
  CHECK(input_error([&] { kv_capacity(m, g, 16, 1.5); }));
  CHECK(input_error([&] { kv_capacity(m, g, 16, std::nan("")); }));
  CHECK(input_error([&] { kv_capacity(m, g, 16, 0.9, 0); }));
  // Not one block of 2^20 tokens (128 GiB) fits in what the weights leave.
  const auto e = input_error([&] { kv_capacity(m, g, 1 << 20); });
  REQUIRE(e);
  CHECK(std::string(e->what()).find("no KV block fits") != std::string::npos);
}
