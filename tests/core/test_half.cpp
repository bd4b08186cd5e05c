#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "core/base/half.h"
#include "core/base/rng.h"

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

namespace {

// The finite values of an fp8 format, by brute force over its 256 codes.
template <int E, int M>
std::vector<std::pair<float, uint8_t>> fp8_grid() {
  std::vector<std::pair<float, uint8_t>> grid;
  for (int b = 0; b < 256; ++b) {
    const float v = fp8_bits_to_float<E, M>(static_cast<uint8_t>(b));
    if (std::isfinite(v)) grid.emplace_back(v, static_cast<uint8_t>(b));
  }
  return grid;
}

// Round to nearest on the grid, ties to the even code, saturating: the conversion's definition,
// computed independently of it.
template <int E, int M>
float nearest_on_grid(float x, const std::vector<std::pair<float, uint8_t>>& grid) {
  float best = 0.0f;
  double best_err = INFINITY;
  uint8_t best_code = 0;
  for (const auto& [v, code] : grid) {
    const double err = std::fabs(static_cast<double>(v) - x);
    if (err < best_err || (err == best_err && (code & 1) == 0 && (best_code & 1) != 0)) {
      best = v;
      best_err = err;
      best_code = code;
    }
  }
  return best;
}

template <int E, int M>
void check_fp8_format(float max_finite) {
  const auto grid = fp8_grid<E, M>();
  // Every finite code decodes and encodes back to itself (but -0 and +0 are distinct codes).
  for (const auto& [v, code] : grid) CHECK(float_to_fp8_bits<E, M>(v) == code);
  float largest = 0.0f;
  for (const auto& entry : grid) largest = std::max(largest, entry.first);
  CHECK(largest == max_finite);
  // Random values over the whole range, midpoints between neighbours and beyond the largest value.
  Rng rng(7);
  for (int i = 0; i < 20000; ++i) {
    const float x = static_cast<float>((rng.uniform01() * 2 - 1) * max_finite * 1.2);
    const float got = fp8_bits_to_float<E, M>(float_to_fp8_bits<E, M>(x));
    CHECK(std::fabs(got - nearest_on_grid<E, M>(x, grid)) == 0.0f);
  }
  std::vector<float> values;
  for (const auto& entry : grid) values.push_back(entry.first);
  std::sort(values.begin(), values.end());
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    const float mid = (values[i] + values[i + 1]) / 2;
    const float got = fp8_bits_to_float<E, M>(float_to_fp8_bits<E, M>(mid));
    CHECK(got == nearest_on_grid<E, M>(mid, grid));
  }
  CHECK(fp8_bits_to_float<E, M>(float_to_fp8_bits<E, M>(INFINITY)) == max_finite);
  CHECK(fp8_bits_to_float<E, M>(float_to_fp8_bits<E, M>(-1e30f)) == -max_finite);
  CHECK(std::isnan(fp8_bits_to_float<E, M>(float_to_fp8_bits<E, M>(std::nanf("")))));
}

}  // namespace

TEST_CASE("fp8 e4m3 and e5m2 round to the nearest value, ties to even, saturating") {
  check_fp8_format<4, 3>(448.0f);
  check_fp8_format<5, 2>(57344.0f);
  CHECK(float_to_e4m3_bits(1.0f) == 0x38);
  CHECK(float_to_e5m2_bits(1.0f) == 0x3c);
  CHECK(e4m3_bits_to_float(0x01) == 0x1p-9f);  // the smallest subnormal
  CHECK(e5m2_bits_to_float(0x01) == 0x1p-16f);
  CHECK(dtype_size(DType::kFp8E4M3) == 1);
}
