"""Window arithmetic the convolution and pooling ops share: TFLite's leading padding (Prepare) and
the view of every input window of an NHWC tensor (the golden kernels)."""

from __future__ import annotations

import numpy as np


def leading_padding(padding: str, in_size: int, filter_size: int, stride: int, out_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension: the padding before the first row
    (SAME puts the odd extra row after); 0 for VALID."""
    if padding != "SAME":
        return 0
    return max(((out_size - 1) * stride + filter_size - in_size) // 2, 0)


def windows(x: np.ndarray, kh: int, kw: int, stride_h: int, stride_w: int, pad_top: int, pad_left: int,
            out_h: int, out_w: int, fill: int) -> np.ndarray:
    """Every (kh, kw) input window of every output position: [N, out_h, out_w, C, kh, kw].
    Positions outside the input read `fill` (the reference kernels skip them; each op picks the
    value that makes skipping and reading agree)."""
    n, h, w, c = x.shape
    bottom = max((out_h - 1) * stride_h + kh - h - pad_top, 0)
    right = max((out_w - 1) * stride_w + kw - w - pad_left, 0)
    padded = np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    return view[:, ::stride_h, ::stride_w][:, :out_h, :out_w]
