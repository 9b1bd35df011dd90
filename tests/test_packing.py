"""The compiler's packed filter layout (quantize/packing.py), checked value by value against its
definition in firmware/lib/kernels/conv2d_s8.h; tests/test_forward_fidelity.py checks that the
device computes with it bit-exactly (ref's and the zoo's pointwise convolutions are packed)."""

from __future__ import annotations

import numpy as np

from quantize import packing

LANE_ORDER = (0, 2, 1, 3)  # SXTB16 gives a word's bytes 0 and 2, SXTB16 ROR 8 bytes 1 and 3


def test_packed_pairs_hold_constants_and_each_doubled_weight_where_the_device_loads_them():
    rng = np.random.default_rng(0)
    out_c, depth = 5, 12  # an odd last channel, three groups
    weights = rng.integers(-128, 128, (out_c, 1, 1, depth), dtype=np.int8)
    shifts, multipliers = np.array([-3, -4, -5, -6, -7]), np.arange(1, 6) << 26
    bias = np.array([10, -20, 30, -40, 50], dtype=np.int32)
    packed = packing.pack_pairs(weights, shifts, multipliers, 7, -128, 127, bias)
    groups = depth // 4
    assert packed.dtype == np.dtype("<u4") and packed.nbytes == packing.packed_pairs_bytes(out_c, depth)
    pairs = packed.reshape((out_c + 1) // 2, packing.PAIR_CONSTANT_WORDS + 4 * groups)
    for pair in range(pairs.shape[0]):
        c0, c1 = 2 * pair, min(2 * pair + 1, out_c - 1)  # the odd last channel stands in for its partner
        constants = pairs[pair, :packing.PAIR_CONSTANT_WORDS].view("<i4")
        # OutputStage::channel's (multiplier, rounding = 2^(e-1) + offset 2^e, e) and 2 * bias
        e0, e1 = -shifts[c0], -shifts[c1]
        assert list(constants) == [multipliers[c0], (1 << (e0 - 1)) + 7 * (1 << e0), multipliers[c1],
                                   (1 << (e1 - 1)) + 7 * (1 << e1), e0, e1, 2 * bias[c0], 2 * bias[c1],
                                   2 * bias[c0], 2 * bias[c1]]
        lanes = pairs[pair, packing.PAIR_CONSTANT_WORDS:].view("<i2").reshape(groups, 2, 4)
        for g in range(groups):
            for lane, k in enumerate(LANE_ORDER):
                assert lanes[g, 0, lane] == 2 * int(weights[c0, 0, 0, 4 * g + k])
                assert lanes[g, 1, lane] == 2 * int(weights[c1, 0, 0, 4 * g + k])
    # A layer the device runs on the reference output stage gets zeros for constants.
    clamped = packing.pack_pairs(weights, shifts, multipliers, 7, -128, 100, bias)
    assert not clamped.reshape(pairs.shape)[:, :packing.PAIR_CONSTANT_WORDS].any()


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
    packed = packing.pack_pairs(weights, shifts, multipliers, -128, -128, 127, bias, exponents).reshape(2, -1)
    lanes = packed[:, packing.PAIR_CONSTANT_WORDS:].view("<i2").reshape(2, 2, 4)
    assert [int(lanes[c // 2, c % 2, 0]) for c in range(4)] == [8, 8, 4, 16]
    constants = packed[:, :packing.PAIR_CONSTANT_WORDS].view("<i4")
    assert list(constants[:, 4]) == [8, 8] and list(constants[0, 6:8]) == [1 << 3, -1 << 3]  # E; bias << (1 + d)
    assert packing.relu_scale_exponents(shifts, multipliers, 5, -128, 127, 16, bias) is None  # signed stage
    assert packing.relu_scale_exponents(shifts, multipliers, -128, -128, 100, 16, bias) is None  # clamped
    assert packing.relu_scale_exponents(np.array([-1, -9]), multipliers[:2], -128, -128, 127, 16, None) is None  # d 9
    assert packing.relu_scale_exponents(shifts, multipliers, -128, -128, 127, 16, np.array([1 << 28, 0, 0, 0])) is None


def test_packing_stays_within_its_flash_budget_most_pixels_first():
    from quantize.lower import PACKING_BUDGET, lower_tflite
    from quantize.models import load_reference_model
    from quantize.tflite_model import parse_tflite

    tflite = load_reference_model("mbv2-w0.35-128").tflite_bytes()
    graph, lowered = parse_tflite(tflite), lower_tflite(tflite, "mbv2")
    pointwise = [op for op in graph.operators if op.op == "CONV_2D" and graph.tensor(op.inputs[1]).shape[1:3] == (1, 1)]
    packed = [op for op in pointwise if op.index in lowered.packed_ops]
    unpacked = [op for op in pointwise if op.index not in lowered.packed_ops]
    assert packed and unpacked  # mbv2's 1x1 filters do not all fit the budget
    extra = sum(packing.packed_pairs_bytes(w.shape[0], w.shape[-1]) - w.data.nbytes
                for w in (graph.tensor(op.inputs[1]) for op in packed))
    assert extra <= PACKING_BUDGET

    def pixels(op):
        return int(np.prod(graph.tensor(op.outputs[0]).shape[:-1]))
    assert min(pixels(op) for op in packed) >= max(pixels(op) for op in unpacked)
