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


def conv_input_error(e: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, stride: tuple[int, int],
                     pad: tuple[int, int], in_shape: tuple[int, ...]) -> np.ndarray:
    """The transposed convolution of the channel-scaled output error: e [N, OH, OW, C_out] int8,
    w [C_out, KH, KW, C_in] int8 -> int64 [N, H, W, C_in] (exponent: e's + back_exponent)."""
    h = (e.astype(np.int64) * back_multiplier + (1 << 26)) >> 27
    n, oh, ow, _ = e.shape
    _, kh, kw, c_in = w.shape
    sh, sw = stride
    top, left = pad
    height, width = in_shape[1], in_shape[2]
    rows = max((oh - 1) * sh + kh, top + height)
    cols = max((ow - 1) * sw + kw, left + width)
    acc = np.zeros((n, rows, cols, c_in), dtype=np.int64)
    w64 = w.astype(np.int64)
    for i in range(kh):
        for j in range(kw):
            acc[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :] += np.einsum("nhwo,oc->nhwc", h, w64[:, i, j, :])
    return acc[:, top:top + height, left:left + width, :]


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
