"""gemmlowp's fixed-point exp, reciprocal, logistic and tanh, as TFLite's int8 SOFTMAX, LOGISTIC
and TANH compute them (bit-exact): exp of Q5.26 differences into Q0.31, 1 / x of the Q12.19 sum of
exps, logistic and tanh of Q4.27 inputs into Q0.31.

Every function works element-wise on int64 numpy arrays holding int32 fixed-point values; the
saturating primitives are quantize/requant.py's.
"""

from __future__ import annotations

import numpy as np

from quantize.requant import (
    INT32_MAX,
    SOFTMAX_INPUT_INTEGER_BITS,
    saturating_rounding_doubling_high_mul,
    saturating_rounding_multiply_by_pot,
)

SOFTMAX_SUM_INTEGER_BITS = 12    # kAccumulationIntegerBits: the sum of exps is Q12.19


def _mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Fixed-point product (gemmlowp): the integer bits of the operands add."""
    return saturating_rounding_doubling_high_mul(a, b)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor expansion around -1/8."""
    constant_term = 1895147668          # exp(-1/8) in Q0.31
    constant_one_over_three = 715827883
    x = a + (1 << 28)                   # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(_mul(x4_over_4 + x3, constant_one_over_three) + x2, -1)
    return constant_term + _mul(constant_term, x + poly)


# exp(-2^k) in Q0.31 for k = -2 .. 4: one factor for each bit of the integer/quarter part.
_EXP_OF_MINUS_POWERS_OF_TWO = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)


def exp_on_negative_values(a: np.ndarray, integer_bits: int = SOFTMAX_INPUT_INTEGER_BITS) -> np.ndarray:
    """exp(a) for a <= 0 in Q(integer_bits).(31 - integer_bits) -> Q0.31 (gemmlowp's
    exp_on_negative_values; integer_bits <= 5, so its clamp below -32 never applies)."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a = np.asarray(a, dtype=np.int64)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = a_mod_quarter_minus_one_quarter - a
    for k, factor in zip(range(-2, 5), _EXP_OF_MINUS_POWERS_OF_TWO):
        if integer_bits <= k:  # the barrel shifter's stages beyond the input's range
            continue
        bit_set = (remainder & (1 << (fractional_bits + k))) != 0
        result = np.where(bit_set, _mul(result, factor), result)
    return np.where(a == 0, INT32_MAX, result)


_ONE_Q2 = 1 << 29  # 1.0 in Q2.29


def _reciprocal_of_one_plus_x_q2(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1) (Q0.31) in Q2.29: Newton-Raphson from 48/17 - 32/17 * (1 + a) / 2,
    three iterations (the common part of gemmlowp's one_over_one_plus_x_for_x_in_0_1 and
    one_minus_x_over_one_plus_x_for_x_in_0_1)."""
    total = np.asarray(a, dtype=np.int64) + INT32_MAX
    nudged = total + np.where(total >= 0, 1, -1)
    half_denominator = np.where(nudged >= 0, nudged // 2, -((-nudged) // 2))  # RoundingHalfSum, truncating
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = constant_48_over_17 + _mul(half_denominator, constant_neg_32_over_17)
    for _ in range(3):
        one_minus_half_denominator_times_x = _ONE_Q2 - _mul(half_denominator, x)
        x = x + saturating_rounding_multiply_by_pot(_mul(x, one_minus_half_denominator_times_x), 2)
    return x


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    return saturating_rounding_multiply_by_pot(_reciprocal_of_one_plus_x_q2(a), 1)


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out (2 / (1 + a) - 1)."""
    return saturating_rounding_multiply_by_pot(_reciprocal_of_one_plus_x_q2(a) - _ONE_Q2, 2)


def logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) for a in Q(integer_bits) -> Q0.31 (gemmlowp's logistic): computed on |a|,
    1 - that below 0, exactly 1/2 at 0."""
    a = np.asarray(a, dtype=np.int64)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-np.abs(a), integer_bits))
    return np.where(a == 0, 1 << 30, np.where(a > 0, positive, INT32_MAX - positive))


def tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """tanh(a) for a in Q(integer_bits) -> Q0.31 (gemmlowp's tanh): (1 - exp(-2|a|)) / (1 + exp(-2|a|))
    (exp reads -|a| with one more integer bit: times 2), with a's sign, exactly 0 at 0."""
    a = np.asarray(a, dtype=np.int64)
    magnitude = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-np.abs(a), integer_bits + 1))
    return np.where(a == 0, 0, np.where(a < 0, -magnitude, magnitude))


def reciprocal(sum_of_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1 / x for x in Q12.19 (x > 0): (Q0.31 value, num_bits_over_unit), TFLite's GetReciprocal."""
    s = np.asarray(sum_of_exps, dtype=np.int64)
    headroom_plus_one = 32 - np.array([int(v).bit_length() for v in s.ravel()], dtype=np.int64).reshape(s.shape)
    num_bits_over_unit = SOFTMAX_SUM_INTEGER_BITS - headroom_plus_one
    shifted_sum_minus_one = (s << headroom_plus_one) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit
