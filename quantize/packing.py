"""Pointwise CONV_2D filters packed the way the device reads them.

The firmware's tiled convolution (firmware/lib/kernels/conv2d_s8.{h,cpp}) multiplies int16 pairs
with SMLAD: for every pair of output channels and every group of four input channels, the weights
widened as (v0, v2), (v1, v3) (the lanes SXTB16 and SXTB16 ROR 8 give) of the first channel, then
of the second. Without packing the device widens a channel pair's weights again for every tile of
pixels and computes the pair's output constants again; a pointwise filter packed here by the
compiler carries both, read from flash as they are, at the price of twice its int8 size. The
weights carry the output stage's factor of two, or for a ReLU layer the per-channel powers of two
that let the device shift every channel by one immediate (relu_scale_exponents). The layout and
the conditions mirror conv2d_s8.h (packed_pairs_bytes, conv2d_takes_packed, conv2d_takes_scaled,
packed_constants_ok); the firmware refuses at boot a packed filter it would not take.
"""

from __future__ import annotations

import numpy as np

MAX_PACKED_DEPTH = 640        # kernels::kMaxPackedDepth
MAX_FAST_BIAS = 1 << 29       # kernels::kMaxFastBias: the tiled loop's doubled accumulators fit
MAX_FAST_DEPTH = 16384        # kernels::kMaxFastDepth
MAX_FAST_SHIFT = 20           # kernels::kMaxFastShift
MAX_SCALED_RELU_D = 7         # kernels::kMaxScaledReluD: 2^(1+d) * int8 fits an int16 lane
PAIR_CONSTANT_WORDS = 10      # kernels::kPairConstantWords
_LANES = (0, 2, 1, 3)         # a group's bytes in SXTB16 / SXTB16 ROR 8 lane order


def takes_packed(filter_shape: tuple[int, ...], bias: np.ndarray | None, strides: tuple[int, int],
                 pads: tuple[int, int]) -> bool:
    """Whether the device runs a CONV_2D filter (OHWI) with these biases, strides (h, w) and
    padding (top, left) from packed pairs."""
    _, kh, kw, depth = filter_shape
    bias_fits = bias is None or int(np.abs(bias.astype(np.int64)).max(initial=0)) <= MAX_FAST_BIAS
    return (kh == 1 and kw == 1 and strides == (1, 1) and pads == (0, 0) and depth % 4 == 0
            and depth <= MAX_PACKED_DEPTH and depth < MAX_FAST_DEPTH and bias_fits)


def _fast_output_stage(shifts: np.ndarray, multipliers: np.ndarray, act_min: int, act_max: int) -> bool:
    """The firmware's choose_output_path picks a fast form (not the reference one)."""
    return (act_min == -128 and act_max == 127 and not (shifts > -1).any()
            and not (shifts < -MAX_FAST_SHIFT).any() and not (np.asarray(multipliers) < 0).any())


def relu_scale_exponents(shifts: np.ndarray, multipliers: np.ndarray, output_offset: int, act_min: int,
                         act_max: int, depth: int, bias: np.ndarray | None) -> np.ndarray | None:
    """Per output channel, the power of two (1 + d) the device's kScaledRelu output stage wants the
    packed weights scaled by, or None when the layer does not take it: the firmware's kFastRelu
    choice (full int8 range, output offset -128, shifts in [-20, -1], multipliers >= 0) and
    scaled_relu_fits (firmware/lib/kernels/output_stage.h, where the arithmetic is proved)."""
    shifts = np.asarray(shifts, dtype=np.int64)
    if output_offset != -128 or not _fast_output_stage(shifts, multipliers, act_min, act_max):
        return None
    e = -shifts
    d = e.max() + 1 - e
    magnitude = np.zeros_like(shifts) if bias is None else np.abs(bias.astype(np.int64))
    bound = depth * 255 * 128 + magnitude
    if (d > MAX_SCALED_RELU_D).any() or ((bound << (1 + d)) >= (1 << 31)).any():
        return None
    return 1 + d


def packed_pairs_bytes(out_c: int, depth: int) -> int:
    return (out_c + 1) // 2 * ((depth + 3) // 4 * 16 + PAIR_CONSTANT_WORDS * 4)


def _channel_constants(shifts: np.ndarray, multipliers: np.ndarray, output_offset: int, act_min: int,
                       act_max: int, bias: np.ndarray | None,
                       exponents: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """Per channel (multiplier, rounding, shift, first accumulator) as OutputStage::channel and
    ::start give them on the layer's fast output path, zeros when it has none."""
    shifts = np.asarray(shifts, dtype=np.int64)
    if not _fast_output_stage(shifts, multipliers, act_min, act_max):
        return [(0, 0, 0, 0)] * len(shifts)
    b = np.zeros_like(shifts) if bias is None else bias.astype(np.int64)
    e = -shifts
    if exponents is None:
        rounding, applied, start = (1 << (e - 1)) + output_offset * (1 << e), e, 2 * b
    else:  # kScaledRelu (output_stage.h): one shift E, d = E - e
        layer = int(e.max()) + 1
        d = layer - e
        rounding = (2 * output_offset + 1) * (1 << (layer - 1)) + (1 << (d - 1))
        applied, start = np.full_like(e, layer), b << (1 + d)
    return [(int(m), int(r), int(a), int(st)) for m, r, a, st in zip(multipliers, rounding, applied, start)]


def pack_pairs(weights: np.ndarray, shifts: np.ndarray, multipliers: np.ndarray, output_offset: int,
               act_min: int, act_max: int, bias: np.ndarray | None,
               exponents: np.ndarray | None = None) -> np.ndarray:
    """A [C_out, 1, 1, C_in] int8 filter with its layer's output stage as the little-endian words
    of its packed pairs: pairs of output channels, the odd last one paired with itself; per pair,
    its constants (multiplier and rounding of each channel, their shifts, the first accumulators
    of the first channel, the second, the first, the second), then groups of four input channels,
    zero past C_in; per group, the first channel's lanes in SXTB16 order, then the second's; every
    weight doubled (the output stage's factor of two), or channel c's times 2^exponents[c]
    (relu_scale_exponents)."""
    out_c, depth = weights.shape[0], weights.shape[-1]
    scale = np.full(out_c, 2, dtype=np.int32) if exponents is None else (1 << np.asarray(exponents, dtype=np.int32))
    rows = (weights.reshape(out_c, depth).astype(np.int32) * scale[:, None]).astype(np.int16)
    constants = _channel_constants(np.asarray(shifts), np.asarray(multipliers), output_offset, act_min, act_max,
                                   bias, exponents)
    channels = list(range(out_c)) + ([out_c - 1] if out_c % 2 else [])
    groups = (depth + 3) // 4
    rows = np.pad(rows[channels], ((0, 0), (0, groups * 4 - depth)))
    lanes = rows.reshape(-1, 2, groups, 4)[..., _LANES]          # [pair, channel, group, lane]
    weight_words = np.ascontiguousarray(lanes.transpose(0, 2, 1, 3)).reshape(len(channels) // 2, -1).view("<u4")
    words = []
    for pair in range(len(channels) // 2):
        (m0, r0, s0, t0), (m1, r1, s1, t1) = constants[channels[2 * pair]], constants[channels[2 * pair + 1]]
        words.append(np.array([m0, r0, m1, r1, s0, s1, t0, t1, t0, t1], dtype="<i8").astype("<i4").view("<u4"))
        words.append(weight_words[pair])
    packed = np.concatenate(words)
    assert packed.nbytes == packed_pairs_bytes(out_c, depth)
    return packed
