"""The scalar and element-wise arithmetic of a training step (firmware/lib/train/README.md,
"Error tensors", "Loss" and "Updates"); firmware/lib/train/numerics.h is its C++ twin.

Arrays are int64 numpy arrays holding int32-ranged values unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from quantize.requant import rounding_divide_by_pot

ERROR_BITS = 7            # error tensors are int8 in [-127, 127]
LOGIT_ERROR_EXPONENT = 15  # dL/dlogit = p - onehot in Q0.15
LN2_Q16 = 45426           # round(ln 2 * 2^16)
RANDOM_BITS = 16          # fraction bits a stochastic rounding draws
WEIGHT_LIMIT = 127        # int8 weights are symmetric
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class Xorshift32:
    """Marsaglia's xorshift32: the named, seeded PRNG of the weight updates."""

    def __init__(self, seed: int):
        if not 0 < seed < (1 << 32):
            raise ValueError(f"seed {seed}: expected a non-zero 32-bit value")
        self.state = seed

    def next(self) -> int:
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def draws(self, count: int) -> np.ndarray:
        """The top RANDOM_BITS of the next `count` draws, in order."""
        return np.array([self.next() >> (32 - RANDOM_BITS) for _ in range(count)], dtype=np.int64)


def normalise(values: np.ndarray, exponent: int) -> tuple[np.ndarray, int]:
    """An accumulator with real value v * 2^-exponent as an int8 error tensor and its exponent."""
    v = np.asarray(values, dtype=np.int64)
    peak = int(np.abs(v).max()) if v.size else 0
    shift = max(0, peak.bit_length() - ERROR_BITS)
    if shift > 0:
        v = (v + (1 << (shift - 1))) >> shift
    return np.clip(v, -127, 127).astype(np.int8), exponent - shift


def arithmetic_shift_right(t: np.ndarray, n: int) -> np.ndarray:
    """t >> n for int64 values, defined for any n >= 0 (-1 or 0 from 63 on)."""
    return np.asarray(t, dtype=np.int64) >> min(n, 63)


def saturating_shift_left(t: np.ndarray, n: int) -> np.ndarray:
    """t * 2^n saturated to the int32 range (n >= 0; only absurd learning rates get here)."""
    t = np.clip(np.asarray(t, dtype=np.int64), INT32_MIN, INT32_MAX)
    if n >= 31:
        return np.sign(t) * INT32_MAX - (t < 0)
    return np.clip(t << n, INT32_MIN, INT32_MAX)


def fixed_factor(lr: float, factor: np.float32) -> tuple[int, int]:
    """float32(lr) * factor in float32, as (M, e): the product is M * 2^(e - 31), M in [2^30, 2^31)."""
    product = np.float32(np.float32(lr) * np.float32(factor))
    mantissa, exponent = np.frexp(product)
    return int(np.float32(mantissa) * np.float32(2.0 ** 31)), int(exponent)


def weight_delta(gradient: np.ndarray, m: int, e: int, k: int, random16: np.ndarray) -> np.ndarray:
    """gradient * M * 2^(e - 31 - k), stochastically rounded with one 16-bit draw per element."""
    t = np.asarray(gradient, dtype=np.int64) * m
    r = 31 + k - e
    if r >= RANDOM_BITS:
        delta = (arithmetic_shift_right(t, r - RANDOM_BITS) + random16) >> RANDOM_BITS
    elif r > 0:
        delta = (t + (random16 >> (RANDOM_BITS - r))) >> r
    else:
        return saturating_shift_left(t, -r)
    return np.clip(delta, INT32_MIN, INT32_MAX)


def bias_delta(gradient: np.ndarray, m: int, e: int, k: int) -> np.ndarray:
    """gradient * M * 2^(e - 31 - k), rounded to nearest (ties toward +inf)."""
    t = np.asarray(gradient, dtype=np.int64) * m
    r = 31 + k - e
    if r >= 63:
        delta = t >> 63
    elif r > 0:
        delta = (t + (1 << (r - 1))) >> r
    else:
        return saturating_shift_left(t, -r)
    return np.clip(delta, INT32_MIN, INT32_MAX)


def update_weights(w: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.clip(w.astype(np.int64) - delta, -WEIGHT_LIMIT, WEIGHT_LIMIT).astype(np.int8)


def update_bias(b: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.clip(b.astype(np.int64) - delta, INT32_MIN, INT32_MAX).astype(np.int32)


def log2_q16(x: int) -> int:
    """log2(x) in Q16 for an integer x > 0: the leading bit, then 16 squarings of the mantissa."""
    n = x.bit_length() - 1
    y = x << (30 - n) if n <= 30 else x >> (n - 30)  # Q1.30 in [1, 2)
    fraction = 0
    for i in range(1, 17):
        y = (y * y) >> 30
        if y >= (1 << 31):
            y >>= 1
            fraction |= 1 << (16 - i)
    return (n << 16) + fraction


def loss_q16(p31_label: int) -> int:
    """-ln(p) in 16.16 fixed point for a Q0.31 probability (<= 0 counts as 1)."""
    nats = ((31 << 16) - log2_q16(max(int(p31_label), 1))) * LN2_Q16
    return (nats + (1 << 15)) >> 16


def logit_error(p31: np.ndarray, label: int) -> tuple[np.ndarray, int]:
    """dL/dlogit = p - onehot, Q0.15, normalised to an error tensor."""
    v = rounding_divide_by_pot(np.asarray(p31, dtype=np.int64), 16)
    v = np.asarray(v, dtype=np.int64).copy()
    v[label] -= 1 << LOGIT_ERROR_EXPONENT
    return normalise(v, LOGIT_ERROR_EXPONENT)


def softmax_q31(p, logits: np.ndarray) -> np.ndarray:
    """Q0.31 probabilities of one row of int8 logits: TFLite's integer softmax (beta 1, params from
    quantize.prepare.softmax_params) stopped before its 8-bit output."""
    from quantize.golden import SOFTMAX_SUM_INTEGER_BITS, exp_on_negative_values, reciprocal
    from quantize.requant import saturating_rounding_doubling_high_mul

    row = np.asarray(logits, dtype=np.int64).reshape(1, -1)
    diff = row - row.max()
    in_range = diff >= p.diff_min
    exps = exp_on_negative_values(saturating_rounding_doubling_high_mul(diff * (1 << p.input_left_shift),
                                                                        p.input_multiplier))
    total = np.where(in_range, rounding_divide_by_pot(exps, SOFTMAX_SUM_INTEGER_BITS), 0).sum(axis=1)
    scale, bits_over_unit = reciprocal(total)
    p31 = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(scale[:, None], exps), bits_over_unit[:, None])
    return np.where(in_range, p31, 0).reshape(-1).astype(np.int64)
