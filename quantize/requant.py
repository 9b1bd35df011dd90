"""Fixed-point requantization, bit-exact with TFLite's reference arithmetic.

A real scale r is stored as an int32 multiplier m in [2^30, 2^31) and a shift s with
r = m * 2^(s - 31) (QuantizeMultiplier, tensorflow/lite/kernels/internal/quantization_util.cc).
An int32 value x is rescaled by MultiplyByQuantizedMultiplier: shift left by max(s, 0), a
saturating rounding doubling high multiply by m, then a rounding right shift by max(-s, 0).

Every function here works element-wise on numpy arrays in int64 (so that no intermediate
overflows) and returns int32-valued arrays. This is the one requantization helper of the golden
reference; firmware/lib/kernels/requantize.h is its C++ twin.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127
ADD_LEFT_SHIFT = 20              # TFLite's int8 ADD scales both inputs by 2^20 before rescaling
SOFTMAX_INPUT_INTEGER_BITS = 5   # TFLite's kScaledDiffIntegerBits: exp() takes Q5.26
SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6")  # fused activations activation_range() knows


def round_half_away_from_zero(x: float) -> int:
    """C's std::round: halves go away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(multiplier, shift) with real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    TFLite's QuantizeMultiplier: frexp, round the fraction times 2^31 half away from zero, fold
    the 2^31 that rounding can produce back into the shift, and flush values too small to
    represent (shift < -31) to zero.
    """
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    q_fixed = round_half_away_from_zero(fraction * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (C's int32 overflow in practice)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """round(a * b / 2^31), ties away from zero; the one overflow (INT32_MIN^2) saturates.

    The reference computes (a*b + nudge) / 2^31 truncated toward zero with nudge = 2^30 for
    a*b >= 0 and 1 - 2^30 otherwise; for either sign that is floor((a*b + 2^30) / 2^31).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    result = (a * b + (1 << 30)) >> 31
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, result)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def saturating_rounding_multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp's SaturatingRoundingMultiplyByPOT: x * 2^exponent, saturating when exponent > 0,
    rounding (rounding_divide_by_pot) when exponent < 0."""
    x = np.asarray(x, dtype=np.int64)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """x * multiplier * 2^(shift - 31), rounded as TFLite's reference MultiplyByQuantizedMultiplier.

    x: int32-valued array; multiplier, shift: scalars or arrays broadcastable to x (per channel
    along the last axis). The left shift wraps like the reference's int32 arithmetic.
    """
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left_shift = np.maximum(shift, 0)
    right_shift = np.maximum(-shift, 0)
    shifted = wrap_int32(x << left_shift)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right_shift)


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier of each value (per-channel scales): int64 arrays (multipliers, shifts)."""
    pairs = [quantize_multiplier(float(r)) for r in np.ravel(reals)]
    multipliers = np.array([p[0] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    shifts = np.array([p[1] for p in pairs], dtype=np.int64).reshape(np.shape(reals))
    return multipliers, shifts


def mean_multiplier(real: float, count: int) -> tuple[int, int]:
    """The multiplier of real / count as TFLite Micro's integer MEAN derives it: quantize `real`,
    then divide the multiplier by `count` (truncating) after shifting it left by
    k = min(floor(log2 count), 32, 31 + shift) bits, which the shift gives back."""
    multiplier, shift = quantize_multiplier(real)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def activation_range(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8 (value / scale computed in float32)."""
    def quantize(value: float) -> int:
        return zero_point + round_half_away_from_zero(float(np.float32(value) / np.float32(scale)))

    if activation == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    return INT8_MIN, INT8_MAX


def clamp(values: np.ndarray, low: int, high: int) -> np.ndarray:
    """The last step of every int8 output stage: clamp to the activation range, as int8."""
    return np.clip(values, low, high).astype(np.int8)
