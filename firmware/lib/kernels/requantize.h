// Fixed-point requantization, bit-exact with TFLite's reference (MultiplyByQuantizedMultiplier
// with double rounding: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT). Every kernel
// uses these; there is no second implementation.
#pragma once

#include <cstdint>

namespace kernels {

/// round(a * b / 2^31) with ties away from zero, saturating the single overflow case.
/// The reference computes (ab + nudge) / 2^31 truncated toward zero, with nudge = 2^30 for
/// ab >= 0 and 1 - 2^30 otherwise; for every sign that equals floor((ab + 2^30) / 2^31), which
/// is a shift: no 64-bit division (a library call on Cortex-M).
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  return static_cast<int32_t>((ab + (int64_t{1} << 30)) >> 31);
}

/// x / 2^exponent rounded to nearest, ties away from zero. exponent in [0, 31].
inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/// x * multiplier * 2^(shift - 31), rounded as the TFLite reference does.
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int32_t shift) {
  const int32_t left_shift = shift > 0 ? shift : 0;
  const int32_t right_shift = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(
      saturating_rounding_doubling_high_mul(static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift), multiplier),
      right_shift);
}

inline int8_t clamp_to_int8(int32_t value, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(value < lo ? lo : (value > hi ? hi : value));
}

}  // namespace kernels
