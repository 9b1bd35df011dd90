"""The golden reference's ACCUMULATE (README "The backward program") on the cases the generated
models do not reach; firmware/test/test_train_kernels checks the firmware against the same table.
The element-wise derivative tables' integer form (README "Backward kernels", LEAKY_RELU ...)."""

from __future__ import annotations

import numpy as np
import pytest

from quantize.training.backward import accumulate, derivative_input_error, pool_reciprocals
from quantize.training.numerics import normalise
from quantize.training.program import DERIVATIVE_BITS, derivative_table

# (a, ka, b, kb, normalised sum, its exponent)
ACCUMULATE_CASES = [
    ([0, 0, 0, 0, 0, 0], 0, [127, -127, 96, -96, 32, -33], 30, [2, -2, 2, -1, 1, -1], 24),
    ([127, -127, 96, -96, 32, -33], 30, [0, 0, 0, 0, 0, 0], 0, [2, -2, 2, -1, 1, -1], 24),
    ([5, -7, 127, -127, 0, 1], 10, [5, 7, 127, 127, -1, 0], 10, [5, 0, 127, 0, 0, 1], 9),
    ([1, 0, -1, 2, 0, 0], 0, [127, 127, -127, 127, 64, -64], 15, [32, 0, -32, 64, 0, 0], 5),
    ([1, 3, -1, 2, 0, 0], -4, [127, 127, -127, 127, 64, -64], 24, [32, 96, -32, 64, 0, 0], 1),
]


@pytest.mark.parametrize("a, ka, b, kb, total, k", ACCUMULATE_CASES)
def test_accumulate_adds_at_the_finer_exponent_within_24_bits(a, ka, b, kb, total, k):
    e, exponent = normalise(*accumulate(np.array(a, np.int8), ka, np.array(b, np.int8), kb))
    assert (e.tolist(), exponent) == (total, k)


def test_pool_reciprocals_count_the_clipped_windows():
    # 3x3 windows, stride 2, one row and column of leading padding over a 4x5 input: 2x3 outputs.
    r = pool_reciprocals((3, 3), (2, 2), (1, 1), (4, 5), (2, 3))
    counts = np.array([[4, 6, 4], [6, 9, 6]])
    assert (r == ((1 << 16) + counts // 2) // counts).all()


@pytest.mark.parametrize("peak", [1.0, 0.25, 1.5, 0.999999, 2.0 ** -30])
def test_derivative_table_fills_23_bits_with_one_exponent(peak):
    derivative = np.linspace(-peak / 3, peak, 256)
    table, exponent = derivative_table(derivative)
    limit = (1 << DERIVATIVE_BITS) - 1
    assert np.abs(table).max() <= limit and np.abs(table).max() > limit // 2  # the top bit used
    assert np.abs(table - derivative * 2.0 ** exponent).max() <= 1.0  # rounded (clamped at the limit)


def test_an_all_zero_derivative_has_exponent_0():
    table, exponent = derivative_table(np.zeros(256))
    assert exponent == 0 and not table.any()


# The extremes of an element-wise derivative (|e| 127, entries near +-2^23: |v| near 2^30);
# firmware/test/test_train_kernels checks derivative_input_error, in place, against the same values.
DERIVATIVE_TABLE = (np.arange(256) - 128) * 65535 + np.arange(256)  # entry i: input q = i - 128


def test_derivative_input_error_at_the_table_extremes():
    x = np.array([-128, 127, 0, 5, -1, 64], np.int8)
    e = np.array([127, -127, 1, 0, -64, 127], np.int8)
    v, k = normalise(derivative_input_error(e, x, DERIVATIVE_TABLE), 3)
    assert (v.tolist(), k) == ([-127, -126, 0, 0, 0, 64], -20)
