"""Pointwise CONV_2D filters packed the way the device multiplies them.

The firmware's tiled convolution (firmware/lib/kernels/conv2d_s8.{h,cpp}) multiplies int16 pairs
with SMLAD: for every pair of output channels and every group of four input channels, the weights
widened as (v0, v2), (v1, v3) (the lanes SXTB16 and SXTB16 ROR 8 give) of the first channel, then
of the second. Without packing the device widens a channel pair's weights again for every tile of
pixels; a pointwise filter packed here by the compiler is read from flash as it is, at the price of
twice its int8 size. The layout and the conditions mirror conv2d_s8.h (packed_pairs_bytes,
conv2d_takes_packed); the firmware refuses at boot a packed filter it would not take.
"""

from __future__ import annotations

import numpy as np

MAX_PACKED_DEPTH = 640        # kernels::kMaxPackedDepth
MAX_FAST_BIAS = 1 << 29       # kernels::kMaxFastBias: the tiled loop's doubled accumulators fit
MAX_FAST_DEPTH = 16384        # kernels::kMaxFastDepth
MAX_FAST_SHIFT = 20           # kernels::kMaxFastShift
MAX_SCALED_RELU_D = 7         # kernels::kMaxScaledReluD: 2^(1+d) * int8 fits an int16 lane
_LANES = (0, 2, 1, 3)         # a group's bytes in SXTB16 / SXTB16 ROR 8 lane order


def takes_packed(filter_shape: tuple[int, ...], bias: np.ndarray | None, strides: tuple[int, int],
                 pads: tuple[int, int]) -> bool:
    """Whether the device runs a CONV_2D filter (OHWI) with these biases, strides (h, w) and
    padding (top, left) from packed pairs."""
    _, kh, kw, depth = filter_shape
    bias_fits = bias is None or int(np.abs(bias.astype(np.int64)).max(initial=0)) <= MAX_FAST_BIAS
    return (kh == 1 and kw == 1 and strides == (1, 1) and pads == (0, 0) and depth % 4 == 0
            and depth <= MAX_PACKED_DEPTH and depth < MAX_FAST_DEPTH and bias_fits)


def relu_scale_exponents(shifts: np.ndarray, multipliers: np.ndarray, output_offset: int, act_min: int,
                         act_max: int, depth: int, bias: np.ndarray | None) -> np.ndarray | None:
    """Per output channel, the power of two (1 + d) the device's kScaledRelu output stage wants the
    packed weights scaled by, or None when the layer does not take it: the firmware's kFastRelu
    choice (full int8 range, output offset -128, shifts in [-20, -1], multipliers >= 0) and
    scaled_relu_fits (firmware/lib/kernels/output_stage.h, where the arithmetic is proved)."""
    shifts = np.asarray(shifts, dtype=np.int64)
    if act_min != -128 or act_max != 127 or output_offset != -128:
        return None
    if (shifts > -1).any() or (shifts < -MAX_FAST_SHIFT).any() or (np.asarray(multipliers) < 0).any():
        return None
    e = -shifts
    d = e.max() + 1 - e
    magnitude = np.zeros_like(shifts) if bias is None else np.abs(bias.astype(np.int64))
    bound = depth * 255 * 128 + magnitude
    if (d > MAX_SCALED_RELU_D).any() or ((bound << (1 + d)) >= (1 << 31)).any():
        return None
    return 1 + d


def packed_pairs_bytes(out_c: int, depth: int) -> int:
    return (out_c + 1) // 2 * ((depth + 3) // 4) * 16


def pack_pairs(weights: np.ndarray, exponents: np.ndarray | None = None) -> np.ndarray:
    """A [C_out, 1, 1, C_in] int8 filter as the int16 array of its packed pairs (little-endian
    when serialised): pairs of output channels, the odd last one paired with itself; per pair,
    groups of four input channels, zero past C_in; per group, the first channel's lanes in SXTB16
    order, then the second's; every weight doubled (the output stage's factor of two), or channel
    c's times 2^exponents[c] (relu_scale_exponents)."""
    out_c, depth = weights.shape[0], weights.shape[-1]
    scale = np.full(out_c, 2, dtype=np.int32) if exponents is None else (1 << np.asarray(exponents, dtype=np.int32))
    rows = (weights.reshape(out_c, depth).astype(np.int32) * scale[:, None]).astype(np.int16)
    if out_c % 2:
        rows = np.concatenate([rows, rows[-1:]])
    groups = (depth + 3) // 4
    rows = np.pad(rows, ((0, 0), (0, groups * 4 - depth)))
    lanes = rows.reshape(-1, 2, groups, 4)[..., _LANES]          # [pair, channel, group, lane]
    packed = np.ascontiguousarray(lanes.transpose(0, 2, 1, 3))  # [pair, group, channel, lane]
    assert packed.nbytes == packed_pairs_bytes(out_c, depth)
    return packed.reshape(-1)
