// Device-side element types: DType to CUDA type, 16-byte vectors to float, float to element,
// fp8 quantization (as the host's float_to_fp8_bits) and dequantization (exact, to fp16).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>
#include <type_traits>

namespace tinyserve::gpu {

// fp8 pools: the elements are __nv_fp8_e4m3 / __nv_fp8_e5m2 (storage only); the queries,
// outputs and new K/V rows that go with them are __half (query_dtype in core/base/half.h).
template <typename T>
inline constexpr bool kIsFp8 = std::is_same_v<T, __nv_fp8_e4m3> || std::is_same_v<T, __nv_fp8_e5m2>;
template <typename T>
using QueryT = std::conditional_t<kIsFp8<T>, __half, T>;

// Two fp8 elements (bits 0-7 and 8-15 of x) as the bits of a half2, exactly (every e4m3 and
// e5m2 value is an fp16 value): e5m2 is the top byte of an fp16; e4m3 is one cvt on sm_89+.
template <typename T>
__device__ __forceinline__ uint32_t fp8x2_to_half2_bits(uint32_t x) {
  static_assert(kIsFp8<T>);
  if constexpr (std::is_same_v<T, __nv_fp8_e5m2>) {
    return __byte_perm(x, 0u, 0x1404);
  } else {
    const __half2_raw h =
        __nv_cvt_fp8x2_to_halfraw2(static_cast<__nv_fp8x2_storage_t>(x & 0xffffu), __NV_E4M3);
    return static_cast<uint32_t>(h.x) | (static_cast<uint32_t>(h.y) << 16);
  }
}

// Two floats as two fp8 elements (lo in bits 0-7): round to nearest even, saturating to the
// largest finite value (__NV_SATFINITE), NaN keeping its sign, bit for bit the host's
// float_to_fp8_bits.
template <typename T>
__device__ __forceinline__ uint32_t float2_to_fp8x2_bits(float lo, float hi) {
  static_assert(kIsFp8<T>);
  constexpr __nv_fp8_interpretation_t kind =
      std::is_same_v<T, __nv_fp8_e4m3> ? __NV_E4M3 : __NV_E5M2;
  uint32_t bits = __nv_cvt_float2_to_fp8x2(make_float2(lo, hi), __NV_SATFINITE, kind);
  if (isnan(lo)) bits = (bits & 0xff00u) | (signbit(lo) ? 0xffu : 0x7fu);
  if (isnan(hi)) bits = (bits & 0x00ffu) | (signbit(hi) ? 0xff00u : 0x7f00u);
  return bits;
}

template <typename T>
__device__ __forceinline__ float to_float(T x);
template <>
__device__ __forceinline__ float to_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ float to_float<__half>(__half x) {
  return __half2float(x);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// Elements of T in one 16-byte vector.
template <typename T>
inline constexpr int kVecElems = 16 / static_cast<int>(sizeof(T));

// The kVecElems<T> elements of a 16-byte vector, as floats (fp8: the elements, unscaled).
template <typename T>
__device__ __forceinline__ void vec_to_float(const uint4& raw, float* out) {
  const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
  if constexpr (kIsFp8<T>) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const uint32_t h2 = fp8x2_to_half2_bits<T>(words[i] >> (16 * half));
        __half2 h;
        memcpy(&h, &h2, 4);
        const float2 f = __half22float2(h);
        out[4 * i + 2 * half] = f.x;
        out[4 * i + 2 * half + 1] = f.y;
      }
    }
  } else if constexpr (sizeof(T) == 4) {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = __uint_as_float(words[i]);
  } else if constexpr (std::is_same_v<T, __half>) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      __half2 h;
      memcpy(&h, &words[i], 4);
      const float2 f = __half22float2(h);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  }
}

// 16-byte load through the read-only path (K/V never change during a kernel).
__device__ __forceinline__ uint4 load_vec(const void* p) {
  return __ldg(static_cast<const uint4*>(p));
}

}  // namespace tinyserve::gpu
