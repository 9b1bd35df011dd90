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
                  out_shape: tuple[int, ...], in_shape: tuple[int, ...],
                  dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The transpose of a windowed op: sum over taps (i, j) of tap(i, j) [N, OH, OW, C], each output
    position's term added at the input element that tap reads, dilation rows and columns apart
    (terms in the padding dropped): int64 [N, H, W, C]."""
    n, oh, ow, _ = out_shape
    kh, kw = taps
    sh, sw = stride
    dh, dw = dilation
    top, left = pad
    height, width, c = in_shape[1], in_shape[2], in_shape[3]
    rows = max((oh - 1) * sh + (kh - 1) * dh + 1, top + height)
    cols = max((ow - 1) * sw + (kw - 1) * dw + 1, left + width)
    acc = np.zeros((n, rows, cols, c), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            acc[:, i * dh:i * dh + sh * oh:sh, j * dw:j * dw + sw * ow:sw, :] += tap(i, j)
    return acc[:, top:top + height, left:left + width, :]


def channel_scaled(e: np.ndarray, back_multiplier: np.ndarray) -> np.ndarray:
    """The output error scaled by each channel's back multiplier (README "CONV_2D" 1): e * bm >> 27,
    rounded, 4 bits finer than e (numerics.h channel_scaled)."""
    return (e.astype(np.int64) * back_multiplier + (1 << 26)) >> 27


def conv_input_error(e: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, stride: tuple[int, int],
                     pad: tuple[int, int], in_shape: tuple[int, ...], dilation: tuple[int, int] = (1, 1)
                     ) -> np.ndarray:
    """The transposed (dilated) convolution of the channel-scaled output error: e [N, OH, OW, C_out]
    int8, w [C_out, KH, KW, C_in] int8 -> int64 [N, H, W, C_in] (exponent: e's + back_exponent)."""
    h = channel_scaled(e, back_multiplier)
    w64 = w.astype(np.int64)
    return _scatter_taps(lambda i, j: np.einsum("nhwo,oc->nhwc", h, w64[:, i, j, :]), w.shape[1:3], stride, pad,
                         e.shape, in_shape, dilation)


def conv_weight_gradient(e: np.ndarray, x: np.ndarray, input_zero_point: int, w_shape: tuple[int, ...],
                         stride: tuple[int, int], pad: tuple[int, int], dilation: tuple[int, int] = (1, 1)
                         ) -> np.ndarray:
    """sum over output positions of e[p, o] * (x[p_in, c] - z_x): int64 [C_out, KH, KW, C_in]; taps in
    the padding read 0."""
    _, kh, kw, _ = w_shape
    shifted = x.astype(np.int64) - input_zero_point
    win = windows(shifted, kh, kw, stride[0], stride[1], pad[0], pad[1], e.shape[1], e.shape[2], fill=0,
                  dilation_h=dilation[0], dilation_w=dilation[1])
    return np.einsum("nhwcij,nhwo->oijc", win, e.astype(np.int64))


def bias_gradient(e: np.ndarray) -> np.ndarray:
    """sum over output positions of e[p, o]: int64 [C_out]."""
    return e.astype(np.int64).reshape(-1, e.shape[-1]).sum(axis=0)


def mean_input_error(e: np.ndarray, in_shape: tuple[int, ...], axes: tuple[int, ...], reciprocal: int) -> np.ndarray:
    """MEAN over `axes`: e (the output's elements) -> int64 in_shape, each input element the error
    of the output it was averaged into times reciprocal (exponent + 16)."""
    kept = tuple(1 if d in axes else size for d, size in enumerate(in_shape))
    return np.broadcast_to(e.astype(np.int64).reshape(kept) * reciprocal, in_shape).copy()


def broadcast_sum(v: np.ndarray, operand_shape: tuple[int, ...]) -> np.ndarray:
    """v [N, H, W, C] (an element-wise op's output shape, 4-D) summed over the dimensions where the
    operand's 4-D shape is 1 and the output's is not: int64 of the operand's shape."""
    shape4 = (1,) * (4 - len(operand_shape)) + tuple(operand_shape)
    axes = tuple(d for d in range(4) if shape4[d] == 1 and v.shape[d] != 1)
    return v.astype(np.int64).sum(axis=axes, keepdims=True).reshape(operand_shape)


def mul_input_error(e: np.ndarray, other: np.ndarray, other_zero_point: int, multiplier: int,
                    operand_shape: tuple[int, ...]) -> np.ndarray:
    """MUL's error at one input: e [N, H, W, C] scaled by the other operand's scale multiplier (e * M
    >> 27, rounded, as channel_scaled) times the other operand (4-D, broadcast against e) less its
    zero point, summed over the input's broadcast dimensions: int64 of operand_shape (exponent: e's
    + the factor's exponent)."""
    h = channel_scaled(e, np.int64(multiplier))
    return broadcast_sum(h * (other.astype(np.int64) - other_zero_point), operand_shape)


def depthwise_input_error(e: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, stride: tuple[int, int],
                          pad: tuple[int, int], in_shape: tuple[int, ...], dilation: tuple[int, int] = (1, 1)
                          ) -> np.ndarray:
    """Each channel's transposed convolution of its scaled output errors: e [N, OH, OW, C * M] int8,
    w [1, KH, KW, C * M] int8 (output channel c * M + m reads input channel c) -> int64 [N, H, W, C],
    the sum over each channel's M output channels (exponent: e's + back_exponent)."""
    h = channel_scaled(e, back_multiplier)
    w64 = w[0].astype(np.int64)
    n, oh, ow, _ = e.shape
    c = in_shape[3]
    return _scatter_taps(lambda i, j: (h * w64[i, j]).reshape(n, oh, ow, c, -1).sum(axis=4), w.shape[1:3], stride,
                         pad, e.shape, in_shape, dilation)


def depthwise_weight_gradient(e: np.ndarray, x: np.ndarray, input_zero_point: int, w_shape: tuple[int, ...],
                              stride: tuple[int, int], pad: tuple[int, int], dilation: tuple[int, int] = (1, 1)
                              ) -> np.ndarray:
    """sum over output positions of e[p, o] * (x[p_in, o // M] - z_x): int64 [1, KH, KW, C * M]; taps in
    the padding read 0."""
    _, kh, kw, channels = w_shape
    shifted = x.astype(np.int64) - input_zero_point
    win = windows(shifted, kh, kw, stride[0], stride[1], pad[0], pad[1], e.shape[1], e.shape[2], fill=0,
                  dilation_h=dilation[0], dilation_w=dilation[1])
    win = np.repeat(win, channels // x.shape[3], axis=3)  # input channel c for outputs c * M .. c * M + M - 1
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


def max_pool_input_error(e: np.ndarray, x: np.ndarray, filter_hw: tuple[int, int], stride: tuple[int, int],
                         pad: tuple[int, int]) -> np.ndarray:
    """e [N, OH, OW, C] int8, x [N, H, W, C] the pool's int8 input -> int64 [N, H, W, C]: each
    window's error goes to the element holding its maximum, the first in row-major order within
    the clipped window where several do; overlapping windows add (same exponent as e)."""
    v = np.zeros(x.shape, dtype=np.int64)
    for oy in range(e.shape[1]):
        y0 = max(oy * stride[0] - pad[0], 0)
        y1 = min(oy * stride[0] - pad[0] + filter_hw[0], x.shape[1])
        for ox in range(e.shape[2]):
            x0 = max(ox * stride[1] - pad[1], 0)
            x1 = min(ox * stride[1] - pad[1] + filter_hw[1], x.shape[2])
            window = x[:, y0:y1, x0:x1, :].reshape(x.shape[0], -1, x.shape[3])
            first = np.argmax(window, axis=1)  # numpy's argmax: the first maximum
            rows, cols = y0 + first // (x1 - x0), x0 + first % (x1 - x0)
            for n in range(x.shape[0]):
                for c in range(x.shape[3]):
                    v[n, rows[n, c], cols[n, c], c] += int(e[n, oy, ox, c])
    return v


def derivative_input_error(e: np.ndarray, x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """An element-wise op's input error: e times the derivative table's entry of the kept int8
    input at the same index, int64 (exponent: e's + the table's)."""
    return e.astype(np.int64) * table[x.astype(np.int64) + 128]


def pad_input_error(e: np.ndarray, paddings: tuple[tuple[int, int], ...]) -> np.ndarray:
    """The error of the unpadded region (a crop; same exponent)."""
    return e[tuple(slice(before, e.shape[d] - after) for d, (before, after) in enumerate(paddings))].copy()


def concatenation_part(e: np.ndarray, axis: int, sizes: list[int], part: int) -> np.ndarray:
    """CONCATENATION's input error: input `part`'s slice of the output error along `axis` (the inputs'
    sizes along it: `sizes`); same exponent."""
    start = sum(sizes[:part])
    return np.take(e, range(start, start + sizes[part]), axis=axis).astype(np.int8)


def slice_input_error(e: np.ndarray, axis: int, begin: int, in_shape: tuple[int, ...]) -> np.ndarray:
    """STRIDED_SLICE's input error: the output error at indices begin.. along `axis`, 0 elsewhere (the
    input elements the slice drops do not reach the loss); same exponent."""
    v = np.zeros(in_shape, dtype=np.int8)
    index = [slice(None)] * len(in_shape)
    index[axis] = slice(begin, begin + e.shape[axis])
    v[tuple(index)] = e
    return v


# -- gradient filtering (README "Gradient filtering"): r x r patches of a layer that keeps H and W --

PATCH_RECIPROCAL_BITS = 16


def patch_counts(height: int, width: int, r: int) -> np.ndarray:
    """Elements of each r x r patch tiling [height, width] from the top left (the last row and
    column of patches clipped): int64 [ceil(height / r), ceil(width / r)]."""
    def extent(size: int) -> np.ndarray:
        start = np.arange(0, size, r)
        return np.minimum(start + r, size) - start

    return np.outer(extent(height), extent(width))


def patch_reciprocals(counts: np.ndarray) -> np.ndarray:
    """(2^16 + count / 2) // count per patch, as AVERAGE_POOL_2D's."""
    return ((1 << PATCH_RECIPROCAL_BITS) + counts // 2) // counts


def patch_sums(t: np.ndarray, r: int) -> np.ndarray:
    """Sum of each r x r patch of t [N, H, W, C]: int64 [N, PH, PW, C]."""
    n, height, width, c = t.shape
    ph, pw = -(-height // r), -(-width // r)
    padded = np.zeros((n, ph * r, pw * r, c), dtype=np.int64)
    padded[:, :height, :width, :] = t
    return padded.reshape(n, ph, r, pw, r, c).sum(axis=(2, 4))


def patch_means(x: np.ndarray, r: int) -> np.ndarray:
    """What the forward pass keeps of a filtered layer's int8 input: each patch's mean,
    (sum * R + 2^15) >> 16 saturated to int8 [N, PH, PW, C]."""
    reciprocals = patch_reciprocals(patch_counts(x.shape[1], x.shape[2], r))[None, :, :, None]
    means = (patch_sums(x, r) * reciprocals + (1 << (PATCH_RECIPROCAL_BITS - 1))) >> PATCH_RECIPROCAL_BITS
    return np.clip(means, -128, 127).astype(np.int8)




def broadcast_patches(t: np.ndarray, r: int, height: int, width: int) -> np.ndarray:
    """Each patch's value at every element of the patch: [N, PH, PW, C] -> [N, height, width, C]."""
    return np.repeat(np.repeat(t, r, axis=1), r, axis=2)[:, :height, :width, :]


def filtered_input_error(eb: np.ndarray, w: np.ndarray, back_multiplier: np.ndarray, depthwise: bool, r: int,
                         in_shape: tuple[int, ...]) -> np.ndarray:
    """The input error from the filtered error eb [N, PH, PW, C_out] (patch sums): per patch, a 1x1
    channel mix with the spatially summed kernel, times the patch's reciprocal R (the mean), at
    every element of the patch: int64 [N, H, W, C_in] (exponent: eb's + back_exponent + 16)."""
    h = channel_scaled(eb, back_multiplier)
    kernel_sum = w.astype(np.int64).sum(axis=(1, 2))  # [C_out, C_in]; depthwise [1, C]
    v = h * kernel_sum[0] if depthwise else np.einsum("npqo,oc->npqc", h, kernel_sum)
    v = v * patch_reciprocals(patch_counts(in_shape[1], in_shape[2], r))[None, :, :, None]
    return broadcast_patches(v, r, in_shape[1], in_shape[2])


def patch_weight_gradient(patch_error: np.ndarray, means: np.ndarray, input_zero_point: int,
                          w_shape: tuple[int, ...], depthwise: bool) -> np.ndarray:
    """sum over patches of patch_error[P, o] * (means[P, c] - z_x), the same for every tap: int64
    w_shape. patch_error: the filtered error (filter on), or the exact patch sums of the output
    error (filter off)."""
    shifted = means.astype(np.int64) - input_zero_point
    if depthwise:
        per_channel = (patch_error * shifted).sum(axis=(0, 1, 2))  # [C]
        return np.broadcast_to(per_channel, w_shape).copy()
    per_pair = np.einsum("npqo,npqc->oc", patch_error, shifted)  # [C_out, C_in]
    return np.broadcast_to(per_pair[:, None, None, :], w_shape).copy()
