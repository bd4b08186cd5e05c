// Element types of the KV cache, and fp16 / bf16 <-> float conversion on the host in pure C++
// (round to nearest even; NaN stays NaN, overflow goes to infinity, subnormals are kept).
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

namespace tinyserve {

enum class DType : uint8_t { kF32, kF16, kBF16 };

inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

inline constexpr int32_t dtype_size(DType t) {
  return t == DType::kF32 ? 4 : 2;
}

inline constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
  }
  return "?";
}

// Accepts the names dtype_name() gives and the usual aliases (fp16, half, float16, bfloat16, ...).
inline bool parse_dtype(std::string_view text, DType& out) {
  if (text == "f32" || text == "fp32" || text == "float" || text == "float32") {
    out = DType::kF32;
  } else if (text == "f16" || text == "fp16" || text == "half" || text == "float16") {
    out = DType::kF16;
  } else if (text == "bf16" || text == "bfloat16") {
    out = DType::kBF16;
  } else {
    return false;
  }
  return true;
}

inline uint16_t float_to_half_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) {  // NaN: quiet, keep the top payload bits
    return static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x3ffu));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: infinity
  if (abs < 0x38800000u) {                                               // below 2^-14: subnormal
    if (abs < 0x33000000u) return sign;                                  // below 2^-25: zero
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exponent;  // 14..24
    uint32_t result = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (result & 1u))) ++result;
    return static_cast<uint16_t>(sign | result);
  }
  const uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);
  return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact
    return std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) | sign);
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

inline float bf16_bits_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

// Element i of an array of type t, as float (exact for every type).
inline float load_element(const void* data, DType t, int64_t i) {
  switch (t) {
    case DType::kF32:
      return static_cast<const float*>(data)[i];
    case DType::kF16:
      return half_bits_to_float(static_cast<const uint16_t*>(data)[i]);
    case DType::kBF16:
      return bf16_bits_to_float(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

// Stores a float into element i, rounding to nearest even.
inline void store_element(void* data, DType t, int64_t i, float value) {
  switch (t) {
    case DType::kF32:
      static_cast<float*>(data)[i] = value;
      return;
    case DType::kF16:
      static_cast<uint16_t*>(data)[i] = float_to_half_bits(value);
      return;
    case DType::kBF16:
      static_cast<uint16_t*>(data)[i] = float_to_bf16_bits(value);
      return;
  }
}

// The value a float becomes once stored as t and read back.
inline float round_to(DType t, float value) {
  switch (t) {
    case DType::kF32:
      return value;
    case DType::kF16:
      return half_bits_to_float(float_to_half_bits(value));
    case DType::kBF16:
      return bf16_bits_to_float(float_to_bf16_bits(value));
  }
  return value;
}

}  // namespace tinyserve
