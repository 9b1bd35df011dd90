"""The compiler's packed filter layout (quantize/packing.py), checked value by value against its
definition in firmware/lib/kernels/conv2d_s8.h; tests/test_forward_fidelity.py checks that the
device computes with it bit-exactly (ref's and the zoo's pointwise convolutions are packed)."""

from __future__ import annotations

import numpy as np

from quantize import packing

LANE_ORDER = (0, 2, 1, 3)  # SXTB16 gives a word's bytes 0 and 2, SXTB16 ROR 8 bytes 1 and 3


def test_packed_pairs_hold_each_doubled_weight_where_the_device_loads_it():
    rng = np.random.default_rng(0)
    out_c, depth = 5, 12  # an odd last channel, three groups
    weights = rng.integers(-128, 128, (out_c, 1, 1, depth), dtype=np.int8)
    packed = packing.pack_pairs(weights)
    groups = depth // 4
    assert packed.dtype == np.int16 and packed.nbytes == packing.packed_pairs_bytes(out_c, depth)
    view = packed.reshape((out_c + 1) // 2, groups, 2, 4)  # pair, group, channel of the pair, lane
    for oc in range(out_c + 1):
        channel = min(oc, out_c - 1)  # the odd last channel stands in for its missing partner
        for g in range(groups):
            for lane, k in enumerate(LANE_ORDER):
                assert view[oc // 2, g, oc % 2, lane] == 2 * int(weights[channel, 0, 0, 4 * g + k])


def test_only_filters_the_device_takes_packed_are_packed():
    small_bias = np.array([1000, -1000], dtype=np.int32)
    assert packing.takes_packed((2, 1, 1, 16), small_bias, (1, 1), (0, 0))
    assert packing.takes_packed((2, 1, 1, 16), None, (1, 1), (0, 0))
    assert not packing.takes_packed((2, 3, 3, 16), small_bias, (1, 1), (0, 0))     # not pointwise
    assert not packing.takes_packed((2, 1, 1, 16), small_bias, (2, 2), (0, 0))     # strided
    assert not packing.takes_packed((2, 1, 1, 6), small_bias, (1, 1), (0, 0))      # channels not in fours
    assert not packing.takes_packed((2, 1, 1, 644), small_bias, (1, 1), (0, 0))    # deeper than the loop
    big_bias = np.array([1 << 29, -(1 << 29) - 1], dtype=np.int32)
    assert not packing.takes_packed((2, 1, 1, 16), big_bias, (1, 1), (0, 0))       # accumulators too wide


def test_relu_scale_exponents_follow_the_device_rule():
    shifts, multipliers, bias = np.array([-6, -6, -7, -5]), np.full(4, 1 << 30), np.array([1, -1, 0, 2])
    exponents = packing.relu_scale_exponents(shifts, multipliers, -128, -128, 127, 16, bias)
    assert list(exponents) == [3, 3, 2, 4]  # 1 + d, d = E - e with E = max(e) + 1 = 8
    weights = np.ones((4, 1, 1, 4), dtype=np.int8)
    packed = packing.pack_pairs(weights, exponents).reshape(2, 1, 2, 4)
    assert [int(packed[c // 2, 0, c % 2, 0]) for c in range(4)] == [8, 8, 4, 16]
    assert packing.relu_scale_exponents(shifts, multipliers, 5, -128, 127, 16, bias) is None  # signed stage
    assert packing.relu_scale_exponents(shifts, multipliers, -128, -128, 100, 16, bias) is None  # clamped
    assert packing.relu_scale_exponents(np.array([-1, -9]), multipliers[:2], -128, -128, 127, 16, None) is None  # d 9
    assert packing.relu_scale_exponents(shifts, multipliers, -128, -128, 127, 16, np.array([1 << 28, 0, 0, 0])) is None
