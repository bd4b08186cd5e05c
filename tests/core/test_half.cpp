#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <limits>

#include "core/base/half.h"

using namespace tinyserve;

namespace {

float next_up(float x) {
  return std::nextafter(x, std::numeric_limits<float>::infinity());
}
float next_down(float x) {
  return std::nextafter(x, -std::numeric_limits<float>::infinity());
}

// Every pair of neighbouring finite non-negative values of a 16-bit format: the midpoint rounds
// to the even one, anything above it to the upper one, anything below to the lower one.
template <typename ToBits, typename ToFloat>
void check_rounding(uint16_t max_finite_bits, ToBits to_bits, ToFloat to_float) {
  for (uint32_t lo = 0; lo < max_finite_bits; ++lo) {
    const auto hi = static_cast<uint16_t>(lo + 1);
    const float a = to_float(static_cast<uint16_t>(lo));
    const float b = to_float(hi);
    const float mid = a + (b - a) * 0.5f;  // exact: one more significant bit than the format
    REQUIRE(mid > a);
    REQUIRE(mid < b);
    CHECK(to_bits(mid) == ((lo & 1u) ? hi : lo));
    CHECK(to_bits(next_up(mid)) == hi);
    CHECK(to_bits(next_down(mid)) == lo);
    CHECK(to_bits(-next_up(mid)) == (hi | 0x8000u));
  }
}

}  // namespace

TEST_CASE("every half value survives a round trip through float") {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = half_bits_to_float(h);
    if (std::isnan(f)) {
      CHECK(std::isnan(half_bits_to_float(float_to_half_bits(f))));
    } else {
      CHECK(float_to_half_bits(f) == h);
    }
  }
}

TEST_CASE("every bf16 value survives a round trip through float") {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = bf16_bits_to_float(h);
    if (std::isnan(f)) {
      CHECK(std::isnan(bf16_bits_to_float(float_to_bf16_bits(f))));
    } else {
      CHECK(float_to_bf16_bits(f) == h);
    }
  }
}

TEST_CASE("float to half rounds to nearest even, subnormals and the overflow edge included") {
  check_rounding(0x7bff, float_to_half_bits, half_bits_to_float);
  CHECK(half_bits_to_float(0x0001) == 0x1p-24f);  // smallest subnormal
  CHECK(half_bits_to_float(0x03ff) == 1023 * 0x1p-24f);
  CHECK(half_bits_to_float(0x7bff) == 65504.0f);
  CHECK(float_to_half_bits(65519.996f) == 0x7bff);
  CHECK(float_to_half_bits(65520.0f) == 0x7c00);  // ties away from the odd 65504: infinity
  CHECK(float_to_half_bits(1e10f) == 0x7c00);
  CHECK(float_to_half_bits(0x1p-25f) == 0x0000);  // tie between 0 and the smallest subnormal
  CHECK(float_to_half_bits(next_up(0x1p-25f)) == 0x0001);
  CHECK(float_to_half_bits(1e-30f) == 0x0000);
  CHECK(float_to_half_bits(-1e-30f) == 0x8000);
  CHECK(float_to_half_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
}

TEST_CASE("float to bf16 rounds to nearest even, subnormals and the overflow edge included") {
  check_rounding(0x7f7f, float_to_bf16_bits, bf16_bits_to_float);
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::max()) == 0x7f80);  // rounds up to inf
  CHECK(float_to_bf16_bits(std::numeric_limits<float>::denorm_min()) == 0x0000);
  CHECK(bf16_bits_to_float(0x0001) == std::bit_cast<float>(0x00010000u));  // bf16 subnormal
}

TEST_CASE("NaN, infinity and signed zero convert to their counterparts") {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float signalling = std::bit_cast<float>(0x7f800001u);
  CHECK(float_to_half_bits(inf) == 0x7c00);
  CHECK(float_to_half_bits(-inf) == 0xfc00);
  CHECK(float_to_bf16_bits(inf) == 0x7f80);
  CHECK(float_to_bf16_bits(-inf) == 0xff80);
  for (float n : {nan, -nan, signalling}) {
    CHECK(std::isnan(half_bits_to_float(float_to_half_bits(n))));
    CHECK(std::isnan(bf16_bits_to_float(float_to_bf16_bits(n))));
  }
  CHECK(std::isinf(half_bits_to_float(0x7c00)));
  CHECK(std::isnan(half_bits_to_float(0x7c01)));
  CHECK(float_to_half_bits(-0.0f) == 0x8000);
  CHECK(float_to_bf16_bits(-0.0f) == 0x8000);
  CHECK(std::signbit(half_bits_to_float(0x8000)));
}

TEST_CASE("dtype names parse back to the same dtype") {
  for (DType t : kAllDTypes) {
    DType parsed = DType::kF32;
    CHECK(parse_dtype(dtype_name(t), parsed));
    CHECK(parsed == t);
  }
  DType t = DType::kF32;
  CHECK(parse_dtype("bfloat16", t));
  CHECK(t == DType::kBF16);
  CHECK(parse_dtype("fp16", t));
  CHECK(t == DType::kF16);
  CHECK_FALSE(parse_dtype("int8", t));
  CHECK(dtype_size(DType::kF32) == 4);
  CHECK(dtype_size(DType::kBF16) == 2);
}
