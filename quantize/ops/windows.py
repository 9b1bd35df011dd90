"""Window arithmetic the convolution and pooling ops share: TFLite's leading padding (Prepare) and
the view of every input window of an NHWC tensor (the golden kernels)."""

from __future__ import annotations

import numpy as np


def leading_padding(padding: str, in_size: int, filter_size: int, stride: int, out_size: int,
                    dilation: int = 1) -> int:
    """TFLite's ComputePaddingHeightWidth for one dimension: the padding before the first row
    (SAME puts the odd extra row after), the filter spanning (filter_size - 1) * dilation + 1
    rows; 0 for VALID."""
    if padding != "SAME":
        return 0
    return max(((out_size - 1) * stride + (filter_size - 1) * dilation + 1 - in_size) // 2, 0)


def windows(x: np.ndarray, kh: int, kw: int, stride_h: int, stride_w: int, pad_top: int, pad_left: int,
            out_h: int, out_w: int, fill: int, dilation_h: int = 1, dilation_w: int = 1) -> np.ndarray:
    """Every (kh, kw) input window of every output position, its taps dilation_h rows and
    dilation_w columns apart: [N, out_h, out_w, C, kh, kw]. Positions outside the input read
    `fill` (the reference kernels skip them; each op picks the value that makes skipping and
    reading agree)."""
    n, h, w, c = x.shape
    span_h, span_w = (kh - 1) * dilation_h + 1, (kw - 1) * dilation_w + 1
    bottom = max((out_h - 1) * stride_h + span_h - h - pad_top, 0)
    right = max((out_w - 1) * stride_w + span_w - w - pad_left, 0)
    padded = np.pad(x, ((0, 0), (pad_top, bottom), (pad_left, right), (0, 0)), constant_values=fill)
    view = np.lib.stride_tricks.sliding_window_view(padded, (span_h, span_w), axis=(1, 2))
    return view[:, ::stride_h, ::stride_w, :, ::dilation_h, ::dilation_w][:, :out_h, :out_w]
