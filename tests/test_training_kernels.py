"""The golden reference's ACCUMULATE (README "The backward program") on the cases the generated
models do not reach; firmware/test/test_train_kernels checks the firmware against the same table."""

from __future__ import annotations

import numpy as np
import pytest

from quantize.training.backward import accumulate, pool_reciprocals
from quantize.training.numerics import normalise

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
