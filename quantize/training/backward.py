"""The backward kernels of the golden reference (firmware/lib/train/README.md, "Backward
kernels"); firmware/lib/train/backward_s8.cpp is their C++ twin. Errors are int8 arrays with an
exponent carried by the caller; accumulators are int64 here (int32 on the device, which the
compiler's bounds keep from overflowing)."""

from __future__ import annotations

import numpy as np

from quantize.golden import windows


def as_conv(x: np.ndarray, w: np.ndarray, e: np.ndarray):
    """FULLY_CONNECTED's tensors as a 1x1 convolution's: x [1, 1, 1, depth], w [units, 1, 1, depth],
    e [1, 1, 1, units]."""
    if w.ndim == 4:
        return x, w, e
    return x.reshape(1, 1, 1, -1), w.reshape(w.shape[0], 1, 1, w.shape[1]), e.reshape(1, 1, 1, -1)


def apply_mask(e: np.ndarray, y: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
    """The error where the forward output sat strictly inside its clamp, 0 elsewhere."""
    return np.where((y > act_min) & (y < act_max), e, 0).astype(np.int8)


def _scatter_taps(tap, taps: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                  out_shape: tuple[int, ...], in_shape: tuple[int, ...]) -> np.ndarray:
    """The transpose of a windowed op: sum over taps (i, j) of tap(i, j) [N, OH, OW, C], each output
    position's term added at the input element that tap reads (terms in the padding dropped):
    int64 [N, H, W, C]."""
    n, oh, ow, _ = out_shape
    kh, kw = taps
    sh, sw = stride
    top, left = pad
    height, width, c = in_shape[1], in_shape[2], in_shape[3]
    rows = max((oh - 1) * sh + kh, top + height)
    cols = max((ow - 1) * sw + kw, left + width)
    acc = np.zeros((n, rows, cols, c), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            acc[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += tap(i, j)
    return acc[:, top:top + height, left:left + width, :]


def channel_scaled(e: np.ndarray, back_multiplier: np.ndarray) -> np.ndarray:
    """The output error scaled by each channel's back multiplier (README "CONV_2D" 1): e * bm >> 27,
    rounded, 4 bits finer than e (numerics.h channel_scaled)."""
    return (e.astype(np.int64) * back_multiplier + (1 << 26)) >> 27


def conv_input_error(e: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, stride: tuple[int, int],
                     pad: tuple[int, int], in_shape: tuple[int, ...]) -> np.ndarray:
    """The transposed convolution of the channel-scaled output error: e [N, OH, OW, C_out] int8,
    w [C_out, KH, KW, C_in] int8 -> int64 [N, H, W, C_in] (exponent: e's + back_exponent)."""
    h = channel_scaled(e, back_multiplier)
    w64 = w.astype(np.int64)
    return _scatter_taps(lambda i, j: np.einsum("nhwo,oc->nhwc", h, w64[:, i, j, :]), w.shape[1:3], stride, pad,
                         e.shape, in_shape)


def conv_weight_gradient(e: np.ndarray, x: np.ndarray, input_zero_point: int, w_shape: tuple[int, ...],
                         stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    """sum over output positions of e[p, o] * (x[p_in, c] - z_x): int64 [C_out, KH, KW, C_in]; taps in
    the padding read 0."""
    _, kh, kw, _ = w_shape
    shifted = x.astype(np.int64) - input_zero_point
    win = windows(shifted, kh, kw, stride[0], stride[1], pad[0], pad[1], e.shape[1], e.shape[2], fill=0)
    return np.einsum("nhwcij,nhwo->oijc", win, e.astype(np.int64))


def bias_gradient(e: np.ndarray) -> np.ndarray:
    """sum over output positions of e[p, o]: int64 [C_out]."""
    return e.astype(np.int64).reshape(-1, e.shape[-1]).sum(axis=0)


def mean_input_error(e: np.ndarray, in_shape: tuple[int, ...], reciprocal: int) -> np.ndarray:
    """MEAN over H, W: e [N, C] -> int64 [N, H, W, C], every position e * reciprocal (exponent + 16)."""
    n, height, width, c = in_shape
    per_channel = e.astype(np.int64).reshape(n, 1, 1, c) * reciprocal
    return np.broadcast_to(per_channel, (n, height, width, c)).copy()


def depthwise_input_error(e: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, stride: tuple[int, int],
                          pad: tuple[int, int], in_shape: tuple[int, ...]) -> np.ndarray:
    """Each channel's transposed convolution of its scaled output error: e [N, OH, OW, C] int8,
    w [1, KH, KW, C] int8 -> int64 [N, H, W, C] (exponent: e's + back_exponent)."""
    h = channel_scaled(e, back_multiplier)
    w64 = w[0].astype(np.int64)
    return _scatter_taps(lambda i, j: h * w64[i, j], w.shape[1:3], stride, pad, e.shape, in_shape)


def depthwise_weight_gradient(e: np.ndarray, x: np.ndarray, input_zero_point: int, w_shape: tuple[int, ...],
                              stride: tuple[int, int], pad: tuple[int, int]) -> np.ndarray:
    """sum over output positions of e[p, c] * (x[p_in, c] - z_x): int64 [1, KH, KW, C]; taps in the
    padding read 0."""
    _, kh, kw, _ = w_shape
    shifted = x.astype(np.int64) - input_zero_point
    win = windows(shifted, kh, kw, stride[0], stride[1], pad[0], pad[1], e.shape[1], e.shape[2], fill=0)
    return np.einsum("nhwcij,nhwc->ijc", win, e.astype(np.int64))[None]


ACCUMULATE_MAX_SHIFT = 24  # 127 * 2^24 + 127 < 2^31


def accumulate(a: np.ndarray, ka: int, b: np.ndarray, kb: int) -> tuple[np.ndarray, int]:
    """The sum of two error tensors (README "The backward program"): exact at the finer exponent
    unless they differ by more than ACCUMULATE_MAX_SHIFT bits; int64 accumulator and its exponent."""
    (c, kc), (f, kf) = sorted(((a, ka), (b, kb)), key=lambda pair: pair[1])
    d = kf - kc
    s = min(d, ACCUMULATE_MAX_SHIFT)
    r = d - s
    f64 = f.astype(np.int64)
    if r > 0:
        f64 = (f64 + (1 << (r - 1))) >> min(r, 63)
    return (c.astype(np.int64) << s) + f64, kc + s


def pool_reciprocals(filter_hw: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                     in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """(2^16 + count / 2) // count per output position [OH, OW], count: the window's in-bounds elements."""
    def extent(out: int, size: int, k: int, s: int, p: int) -> np.ndarray:
        start = np.arange(out) * s - p
        return np.minimum(start + k, size) - np.maximum(start, 0)

    count = np.outer(extent(out_hw[0], in_hw[0], filter_hw[0], stride[0], pad[0]),
                     extent(out_hw[1], in_hw[1], filter_hw[1], stride[1], pad[1]))
    return ((1 << 16) + count // 2) // count


def average_pool_input_error(e: np.ndarray, filter_hw: tuple[int, int], stride: tuple[int, int],
                             pad: tuple[int, int], in_shape: tuple[int, ...]) -> np.ndarray:
    """e [N, OH, OW, C] int8 -> int64 [N, H, W, C]: each window's e * R spread over its in-bounds
    elements (exponent: e's + 16)."""
    reciprocals = pool_reciprocals(filter_hw, stride, pad, in_shape[1:3], e.shape[1:3])
    spread = e.astype(np.int64) * reciprocals[None, :, :, None]
    return _scatter_taps(lambda i, j: spread, filter_hw, stride, pad, e.shape, in_shape)


def pad_input_error(e: np.ndarray, paddings: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The error of the unpadded region (a crop; same exponent)."""
    return e[tuple(slice(before, e.shape[d] - after) for d, (before, after) in enumerate(paddings))].copy()
