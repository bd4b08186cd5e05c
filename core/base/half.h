// Element types of the KV cache, and fp16 / bf16 / fp8 <-> float conversion on the host in pure
// C++ (round to nearest even; NaN stays NaN, subnormals are kept; fp16 and bf16 overflow to
// infinity, fp8 saturates to its largest finite value, as CUDA's __NV_SATFINITE conversions and
// vLLM's fp8 KV cache do).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace tinyserve {

// kFp8E4M3: OCP E4M3FN (bias 7, no infinities, largest finite 448); kFp8E5M2: bias 15, IEEE-like
// (largest finite 57344). An fp8 cache stores value / scale (the executors' geometry carries the
// scales).
enum class DType : uint8_t { kF32, kF16, kBF16, kFp8E4M3, kFp8E5M2 };

inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                       DType::kFp8E5M2};
// What the executors' pools and the attention kernels hold.
inline constexpr DType kExecutorDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kFp8E4M3,
                                            DType::kFp8E5M2};

inline constexpr int32_t dtype_size(DType t) {
  return t == DType::kF32 ? 4 : (t == DType::kFp8E4M3 || t == DType::kFp8E5M2) ? 1 : 2;
}

inline constexpr bool is_fp8(DType t) {
  return t == DType::kFp8E4M3 || t == DType::kFp8E5M2;
}

// The dtype of the queries, attention outputs and new K/V rows that go with a cache of dtype t:
// the cache's own, except fp8 caches, which quantize fp16 rows (as vLLM's fp8 KV cache does for
// an fp16 model).
inline constexpr DType query_dtype(DType t) {
  return is_fp8(t) ? DType::kF16 : t;
}

inline constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kFp8E4M3:
      return "fp8_e4m3";
    case DType::kFp8E5M2:
      return "fp8_e5m2";
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
  } else if (text == "fp8_e4m3" || text == "fp8" || text == "e4m3") {
    out = DType::kFp8E4M3;
  } else if (text == "fp8_e5m2" || text == "e5m2") {
    out = DType::kFp8E5M2;
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

// fp8 with exponent bits E and mantissa bits M: round to nearest even on the format's grid,
// saturating to the largest finite value (infinities too); NaN becomes the format's NaN.
template <int E, int M>
inline uint8_t float_to_fp8_bits(float f) {
  constexpr bool kE4M3 = E == 4;
  constexpr int kBias = (1 << (E - 1)) - 1;
  constexpr int kMinExp = 1 - kBias;  // of normals
  // E4M3FN's top exponent holds numbers (all but mantissa 111, the NaN); E5M2's is inf/NaN.
  constexpr int kMaxExp = kE4M3 ? (1 << E) - 1 - kBias : (1 << E) - 2 - kBias;
  constexpr int kMaxMantissa = kE4M3 ? (1 << M) - 2 : (1 << M) - 1;
  constexpr float kMaxFinite =
      (1.0f + static_cast<float>(kMaxMantissa) / (1 << M)) * static_cast<float>(1 << kMaxExp);
  constexpr uint8_t kNan = 0x7f;  // E4M3FN: S.1111.111; E5M2: S.11111.11
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint8_t>((x >> 24) & 0x80u);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint8_t>(sign | kNan);
  const float a = std::fabs(f);
  int exponent = a > 0.0f ? std::ilogb(a) : kMinExp;
  if (exponent < kMinExp) exponent = kMinExp;  // subnormal: the normals' smallest quantum
  const float quantum = std::ldexp(1.0f, exponent - M);
  float q = std::nearbyint(a / quantum) * quantum;  // exact scalings; ties to even
  if (!(q <= kMaxFinite)) q = kMaxFinite;           // saturate (infinity included)
  if (q == 0.0f) return sign;
  int e = std::ilogb(q);
  if (e < kMinExp) {  // subnormal: mantissa counts quanta of 2^(kMinExp - M)
    const auto m = static_cast<uint32_t>(std::ldexp(q, M - kMinExp));
    return static_cast<uint8_t>(sign | m);
  }
  const auto m = static_cast<uint32_t>(std::ldexp(q, M - e)) - (1u << M);
  return static_cast<uint8_t>(sign | static_cast<uint32_t>(e + kBias) << M | m);
}

template <int E, int M>
inline float fp8_bits_to_float(uint8_t b) {
  constexpr bool kE4M3 = E == 4;
  constexpr int kBias = (1 << (E - 1)) - 1;
  const float sign = (b & 0x80u) ? -1.0f : 1.0f;
  const int exponent = (b >> M) & ((1 << E) - 1);
  const int mantissa = b & ((1 << M) - 1);
  if (kE4M3 && exponent == (1 << E) - 1 && mantissa == (1 << M) - 1) return std::nanf("");
  if (!kE4M3 && exponent == (1 << E) - 1) {
    return mantissa == 0 ? sign * INFINITY : std::nanf("");
  }
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), 1 - kBias - M);
  return sign * std::ldexp(static_cast<float>(mantissa + (1 << M)), exponent - kBias - M);
}

inline uint8_t float_to_e4m3_bits(float f) {
  return float_to_fp8_bits<4, 3>(f);
}
inline float e4m3_bits_to_float(uint8_t b) {
  return fp8_bits_to_float<4, 3>(b);
}
inline uint8_t float_to_e5m2_bits(float f) {
  return float_to_fp8_bits<5, 2>(f);
}
inline float e5m2_bits_to_float(uint8_t b) {
  return fp8_bits_to_float<5, 2>(b);
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
    case DType::kFp8E4M3:
      return e4m3_bits_to_float(static_cast<const uint8_t*>(data)[i]);
    case DType::kFp8E5M2:
      return e5m2_bits_to_float(static_cast<const uint8_t*>(data)[i]);
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
    case DType::kFp8E4M3:
      static_cast<uint8_t*>(data)[i] = float_to_e4m3_bits(value);
      return;
    case DType::kFp8E5M2:
      static_cast<uint8_t*>(data)[i] = float_to_e5m2_bits(value);
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
    case DType::kFp8E4M3:
      return e4m3_bits_to_float(float_to_e4m3_bits(value));
    case DType::kFp8E5M2:
      return e5m2_bits_to_float(float_to_e5m2_bits(value));
  }
  return value;
}

}  // namespace tinyserve
